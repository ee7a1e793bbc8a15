#!/usr/bin/env bash
# The two Quick start commands of the README:
#   bash launch/local.sh main [--config.x=y ...]   full pipeline on the synthetic corpus
#   bash launch/local.sh test [pytest args ...]    the whole test suite
# Each creates (or reuses) ./.venv and installs requirements.txt into it first;
# a stamp of the requirements' hash skips the install when nothing changed.
# `test` also puts launch/requirements-tpu.txt (libtpu, the TPU compiler) into
# $VENV/.libtpu with `pip --target`: not importable, so JAX stays CPU-only, but
# signx_jax/aot.py finds it there and the AOT test compiles for a TPU slice,
# and Debian's chromium (apt) for the web demo's browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${SIGNX_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"

setup_venv() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -m venv "$VENV"
  fi
  local stamp="$VENV/.signx-requirements"
  local want
  want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "[signx] installing requirements into $VENV (first run takes a few minutes)"
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r requirements.txt
    "$VENV/bin/python" -m pip install --quiet --no-deps -e .
    echo "$want" > "$stamp"
  fi
}

setup_libtpu() {
  local dir="$VENV/.libtpu"
  local stamp="$dir/.signx-requirements-tpu"
  local want
  want="$(sha256sum launch/requirements-tpu.txt | cut -d' ' -f1)"
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    echo "[signx] installing launch/requirements-tpu.txt into $dir (TPU compiler for the AOT test)"
    rm -rf "$dir"
    if "$VENV/bin/python" -m pip install --quiet --target "$dir" -r launch/requirements-tpu.txt; then
      echo "$want" > "$stamp"
    else
      rm -rf "$dir"
      echo "[signx] libtpu could not be installed; the AOT compile tests will skip"
    fi
  fi
}

setup_browser() {
  # The web demo's browser tests drive Debian's chromium + chromium-driver (apt; no
  # browser download). Installed here when missing and apt is usable; otherwise
  # those tests skip and say why.
  if command -v chromedriver >/dev/null && command -v chromium >/dev/null; then
    return
  fi
  local sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo -n"
  if command -v apt-get >/dev/null; then
    echo "[signx] installing chromium + chromium-driver (apt) for the browser tests"
    { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        $sudo apt-get install -y -qq chromium chromium-driver; } >/dev/null 2>&1 \
      || echo "[signx] chromium could not be installed; the browser tests will skip"
  else
    echo "[signx] no apt-get: install chromium and chromedriver for the browser tests"
  fi
}

cmd="${1:-}"
shift || true
case "$cmd" in
  main)
    setup_venv
    exec "$VENV/bin/python" -m signx_jax.main "$@"
    ;;
  test)
    setup_venv
    # MediaPipe lives in its own venv (it pins protobuf < 5); the extraction
    # tests need it. If it cannot be built they skip and say why.
    if [[ ! -x "${SIGNX_EXTRACT_VENV:-.extract-venv}/bin/python" ]]; then
      "$VENV/bin/python" -m data_pipelines.extract --setup \
        || echo "[signx] MediaPipe environment could not be created; extraction tests will skip"
    fi
    setup_libtpu
    setup_browser
    # Two workers for the two cores; each test file owns its devices and temp dirs.
    # The 15 slowest tests are listed at the end (where the 30-minute CI budget goes);
    # files start in the order tests/conftest.py gives them, the slowest first.
    exec "$VENV/bin/python" -m pytest -q -n "${SIGNX_TEST_WORKERS:-2}" --dist loadfile \
      --no-loadscope-reorder --durations=15 tests "$@"
    ;;
  *)
    echo "usage: bash launch/local.sh {main|test} [args...]" >&2
    exit 2
    ;;
esac
