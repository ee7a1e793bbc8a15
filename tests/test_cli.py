"""signx_jax.cli: a command-line mistake ends as one ``error:`` line and exit 2.

The subprocess tests run the real entry points: ml_collections reads the
``--config.`` overrides while the flag is being defined, so only a real
command line shows what the user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys

import ml_collections
import pytest

from signx_jax import cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        {"stage3": {"train": {"total_steps": 5}, "data": {"buckets": (64,)}}, "seed": 0}
    )


@pytest.mark.parametrize(
    "path,problem",
    [
        ("stage3.train.total_steps", None),
        ("stage3.data.buckets", None),  # a leaf: its value is ml_collections' business
        (
            "stage3.trian.total_steps",
            "--config.stage3.trian.total_steps: no field 'trian' in config.stage3 "
            "(did you mean 'train'?)",
        ),
        ("sede", "--config.sede: no field 'sede' in config (did you mean 'seed'?)"),
        ("stage3.train.xyz", "--config.stage3.train.xyz: no field 'xyz' in config.stage3.train"),
    ],
)
def test_override_problem(path, problem):
    assert cli.override_problem(_config(), path) == problem


def test_check_overrides_reads_config_and_override_forms(tmp_path):
    argv = ["prog", "--config", "configs/demo.py:tiny", "--config.stage3.train.total_steps", "3"]
    cli.check_overrides(argv, "configs/demo.py")  # both space-separated forms are fine
    with pytest.raises(cli.UsageError, match=r"no field 'trian' in config\.stage1"):
        cli.check_overrides(["prog", "--noconfig.stage1.trian.x"], "configs/demo.py")
    with pytest.raises(cli.UsageError, match="no such config file"):
        cli.check_overrides(["prog", f"--config={tmp_path / 'nope.py'}"], None)


def _run(module: str, *args: str, cwd: str = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_override_typo_is_one_line(tmp_path):
    proc = _run(
        "signx_jax.main", f"--workdir={tmp_path / 'run'}", "--config.stage3.trian.total_steps=5"
    )
    assert proc.returncode == 2, proc.stderr
    assert _error_lines(proc.stderr) == [
        "error: --config.stage3.trian.total_steps: no field 'trian' in config.stage3 "
        "(did you mean 'train'?)"
    ]
    assert not (tmp_path / "run").exists()


def test_unparsable_value_is_one_line(tmp_path):
    proc = _run("signx_jax.main", f"--workdir={tmp_path}", "--config.stage3.data.batch_size=abc")
    assert proc.returncode == 2, proc.stderr
    (line,) = _error_lines(proc.stderr)
    assert "--config.stage3.data.batch_size=abc" in line, line
