"""The package as pip sees it: declared dependencies, the `signx` command, quiet start-up.

``pyproject.toml`` declares compatible ranges; ``requirements.txt`` pins what CI and
the README's two commands install. These tests keep the two in step and check that
every third-party module the package imports is declared.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from signx_jax import cli

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

# Imported only inside a virtual environment or install of their own, never by `pip
# install signx-jax`: each is optional where it is used and says how to get it.
OWN_ENVIRONMENT = {
    "torch": "the PyTorch reference of the speed benchmark (benchmarks/vac_torch.py)",
    "pyctcdecode": "the decoding benchmark's comparison, in its own venv",
    "mediapipe": "pose extraction, in .extract-venv (it pins protobuf < 5)",
}


def _declared(group: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in group]
    return {canonicalize_name(r.name): r for r in reqs}


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_every_pin_lies_in_its_declared_range():
    declared = {**_declared(PROJECT["dependencies"]),
                **_declared(PROJECT["optional-dependencies"]["test"])}  # fmt: skip
    pins = _pins()
    assert set(declared) == set(pins), "declared in pyproject.toml but not pinned, or back"
    for name, req in declared.items():
        assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} not in {req}"


def _third_party_imports() -> set[str]:
    own = {"signx_jax", "data_pipelines", "configs", "tests"}
    found = set()
    for path in [*ROOT.glob("signx_jax/**/*.py"), *ROOT.glob("data_pipelines/**/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found - own - {"__future__"} if m not in sys.stdlib_module_names}


def test_every_third_party_import_is_a_declared_dependency():
    # The web demo's imports (signx_jax/demo.py, browser.py) are its extra: signx-jax[demo].
    declared = set(_declared(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["demo"]))
    providers = importlib.metadata.packages_distributions()
    missing = []
    for module in sorted(_third_party_imports() - set(OWN_ENVIRONMENT)):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & declared:
            missing.append(f"{module} (from {sorted(dists) or 'no installed distribution'})")
    assert not missing, f"imported by the package, not in pyproject dependencies: {missing}"


def test_signx_lists_its_commands_and_names_a_typo():
    for name, (module, _) in cli.COMMANDS.items():
        assert importlib.util.find_spec(module) is not None, (name, module)
    out = subprocess.run([sys.executable, "-c", "from signx_jax.cli import signx; signx()",
                          "--help"], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0 and all(name in out.stdout for name in cli.COMMANDS)
    out = subprocess.run([sys.executable, "-c", "from signx_jax.cli import signx; signx()",
                          "reconize"], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert out.returncode == cli.EXIT_USAGE
    assert out.stderr.strip() == (
        "error: unknown command 'reconize' (did you mean 'recognize'?); `signx --help` lists them"
    )


@pytest.mark.slow
def test_installed_signx_runs_the_main_job_help():
    """The console script pip made from [project.scripts] (launch/local.sh installs the
    package into the venv), with no TensorFlow or backend noise before the help."""
    script = Path(sys.executable).parent / "signx"
    assert script.exists(), f"{script}: install the package (pip install -e .)"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    out = subprocess.run([str(script), "main", "--help"], capture_output=True, text=True,
                         env=env, cwd=ROOT)  # fmt: skip
    assert out.returncode in (0, 1), out.stderr  # absl's --help exits with 1
    assert "Traceback" not in out.stderr
    assert "--workdir" in out.stdout and "--steps" in out.stdout
    for noise in ("oneDNN", "absl::InitializeLog", "cpu_feature_guard", "backend 'tpu'"):
        assert noise not in out.stderr, (noise, out.stderr[:500])


def test_configs_resolve_to_the_installed_package_outside_a_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: the importable package's files
    import configs

    here = Path(configs.__file__).parent
    assert cli.packaged_config("configs/demo.py:tiny") == f"{here / 'demo.py'}:tiny"
    assert cli.packaged_config("configs/nope.py") == "configs/nope.py"  # load_config says so
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "demo.py").write_text("")
    assert cli.packaged_config("configs/demo.py") == "configs/demo.py"  # a local file wins
