"""Command-line entry points: a mistake the user made ends as one line, exit 2.

Every absl program of the package starts through ``run``; a config flag is
defined with ``define_config``. What the user can fix (a ``--config.``
override naming no field, an unparsable flag value, a ``ConfigError`` from
``train.faults.validate_config``, a ``UsageError``) prints as
``error: <what to fix>`` on stderr and exits with status 2 instead of a chain
of tracebacks. Bugs keep their tracebacks.

ml_collections reads the ``--config.<path>`` overrides from ``sys.argv`` as
soon as the flag is *defined* (to parse the default config), so the overrides
are checked here, before the definition, against the config they apply to.
"""

from __future__ import annotations

import difflib
import importlib.util
import logging
import os
import re
import runpy
import sys
from collections.abc import Callable, Sequence
from typing import Any

import ml_collections
from absl import app, flags
from ml_collections import config_flags

EXIT_USAGE = 2  # what argparse and most Unix tools use for a bad command line


class UsageError(Exception):
    """A command-line mistake; the message says what to fix."""


def fail(message: str) -> None:
    """Print ``error: message`` to stderr and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


# -- config overrides ---------------------------------------------------------------


def _config_arg(argv: Sequence[str], name: str) -> str | None:
    """The value of ``--name`` in ``argv`` (either ``--name=v`` or ``--name v``)."""
    value = None
    for i, arg in enumerate(argv):
        m = re.fullmatch(rf"--?{name}(=(.*))?", arg)
        if m:
            value = m.group(2) if m.group(1) else (argv[i + 1] if i + 1 < len(argv) else None)
    return value


def _override_paths(argv: Sequence[str], name: str) -> list[str]:
    """``a.b.c`` of every ``--name.a.b.c[=v]`` / ``--noname.a.b.c`` in ``argv``."""
    pattern = re.compile(rf"--?(?:no)?{name}\.([^=]+)(=.*)?")
    return [m.group(1) for arg in argv if (m := pattern.fullmatch(arg))]


def override_problem(config: Any, path: str, name: str = "config") -> str | None:
    """Why ``--name.path`` cannot apply to ``config`` (None: it names a field)."""
    node, where = config, name
    for field in path.split("."):
        if "[" in field or not isinstance(node, ml_collections.ConfigDict | dict):
            return None  # indexing into a sequence or a leaf: ml_collections decides
        if field not in node:
            keys = [str(k) for k in node.keys()]
            close = difflib.get_close_matches(field, keys, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return f"--{name}.{path}: no field {field!r} in {where}{hint}"
        node, where = node[field], f"{where}.{field}"
    return None


def load_config(spec: str, name: str = "config") -> ml_collections.ConfigDict:
    """``file.py[:arg]`` -> ``get_config(arg)``, as ``config_flags`` loads it."""
    path, colon, arg = spec.partition(":")
    if not os.path.isfile(path):
        raise UsageError(f"--{name}={spec}: no such config file ({os.path.abspath(path)})")
    module_spec = importlib.util.spec_from_file_location(
        os.path.splitext(os.path.basename(path))[0], path
    )
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
        return module.get_config(*([arg] if colon else []))
    except (TypeError, ValueError, KeyError, AttributeError) as e:  # no get_config, bad arg
        raise UsageError(f"--{name}={spec}: {e}") from None


def check_overrides(argv: Sequence[str], default: str | None, name: str = "config") -> None:
    """Raise UsageError for a missing config file or an override naming no field."""
    paths = _override_paths(argv, name)
    spec = _config_arg(argv, name) or default
    if not paths and spec == default:
        return  # nothing from the user to check
    if spec is None:
        raise UsageError(f"--{name}.{paths[0]} given without --{name}=<config file>")
    config = load_config(spec, name)
    for path in paths:
        problem = override_problem(config, path, name)
        if problem:
            raise UsageError(problem)


def packaged_config(spec: str) -> str:
    """``configs/x.py[:arg]`` that is not a file here -> the installed ``configs``
    package's copy (after ``pip install``, outside a checkout); else ``spec`` as is."""
    path, colon, arg = spec.partition(":")
    if os.path.isfile(path) or not path.startswith("configs/"):
        return spec
    import configs

    installed = os.path.join(os.path.dirname(configs.__file__), path.removeprefix("configs/"))
    return installed + colon + arg if os.path.isfile(installed) else spec


def define_config(default: str | None, help_text: str, name: str = "config"):
    """``config_flags.DEFINE_config_file`` after checking the user's overrides."""
    for i, arg in enumerate(sys.argv):  # --config=configs/x.py from any directory
        if arg.startswith(f"--{name}="):
            sys.argv[i] = f"--{name}=" + packaged_config(arg.partition("=")[2])
        elif i and sys.argv[i - 1] == f"--{name}":
            sys.argv[i] = packaged_config(arg)
    default = default and packaged_config(default)
    check_overrides(sys.argv, default, name)
    return config_flags.DEFINE_config_file(name, default, help_text)


# -- running ------------------------------------------------------------------------


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except (flags.Error, KeyError, AttributeError) as e:  # a value the flag cannot take
        fail(str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__)
    return argv  # unreachable (fail exits); keeps type checkers content


def run(main: Callable[[list[str]], Any], define_flags: Callable[[], Any] | None = None) -> None:
    """``absl.app.run(main)``, with the user's mistakes as one line and exit 2."""
    from signx_jax.train.faults import ConfigError

    # "Unable to initialize backend 'tpu'" on every machine without one: an INFO line.
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)

    try:
        if define_flags is not None:
            define_flags()
    except UsageError as e:
        fail(str(e))

    def guarded(argv):
        try:
            return main(argv)
        except (ConfigError, UsageError, app.UsageError) as e:
            fail(str(e))

    app.run(guarded, flags_parser=_parse_flags)


# -- the `signx` console script --------------------------------------------------------

# subcommand -> (module run as ``python -m``, what it does)
COMMANDS = {
    "main": ("signx_jax.main", "a dataset's whole recipe, or some of its steps"),
    "recognize": ("signx_jax.recognize", "glosses of a video, frames or pose file"),
    "export": ("signx_jax.export", "a finished run as a model bundle"),
    "demo": ("signx_jax.demo", "the browser demo: a clip, a sample or the camera, live"),
    "seeds": ("signx_jax.seeds", "the main job over several seeds: mean, sd, min, max"),
    "ladder": ("signx_jax.corpus_ladder", "the main job over text sides of growing difficulty"),
    "diagnose": ("signx_jax.diagnose", "where a finished run loses new sentences"),
    "paper": ("signx_jax.paper", "the paper's Figure 4, Table 9 and Figure 6, over seeds"),
    "report": ("signx_jax.report", "a finished run's metrics as Markdown"),
    "plots": ("signx_jax.plots", "figures of a finished run"),
    "scaling": ("signx_jax.scaling", "model-size x data-size sweeps and power-law fits"),
    "aot": ("signx_jax.aot", "compile a train step for a TPU topology ahead of time"),
    "models": ("signx_jax.models", "parameter and FLOP summaries of the configs"),
    "benchmark": ("signx_jax.benchmarks", "speed of the pipeline, train steps, decoding"),
    "convert": ("data_pipelines.datasets", "a dataset's publisher files -> pose shards"),
    "extract": ("data_pipelines.extract", "MediaPipe poses from videos"),
    "synthetic": ("data_pipelines.synthetic", "the synthetic signing corpus"),
}


def signx(argv: Sequence[str] | None = None) -> None:
    """``signx <command> [args]`` = ``python -m <module> [args]`` (``COMMANDS``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        width = max(map(len, COMMANDS))
        lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
        print("usage: signx <command> [args]   (`signx <command> --help` for its flags)\n"
              "\ncommands:\n" + "\n".join(lines))  # fmt: skip
        sys.exit(0 if argv else EXIT_USAGE)
    name, *rest = argv
    if name not in COMMANDS:
        close = difflib.get_close_matches(name, list(COMMANDS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        fail(f"unknown command {name!r}{hint}; `signx --help` lists them")
    sys.argv = [f"signx {name}", *rest]
    runpy.run_module(COMMANDS[name][0], run_name="__main__", alter_sys=True)
