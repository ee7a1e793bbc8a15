"""launch/tpu_run.sh against a fake gcloud (tests/launch/fake_gcloud.py) on PATH.

Checks the gcloud calls of every subcommand (options from flags and from SIGNX_*
variables), that --dry-run prints exactly those calls and makes none, the errors on
missing options, and run/status/stop/logs/setup end to end on an emulated 2-worker
slice (worker homes are temp directories). Also shellcheck on every launch script.
"""

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "launch" / "tpu_run.sh"
BASE = ["compute", "tpus"]


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Environment with the fake gcloud first on PATH and no SIGNX_* leaking in."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    gcloud = bin_dir / "gcloud"
    fake_py = Path(__file__).with_name("fake_gcloud.py")
    gcloud.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {fake_py} "$@"\n')
    gcloud.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNX_", "FAKE_"))}
    env["PATH"] = f"{bin_dir}:{env['PATH']}"
    env["FAKE_GCLOUD_LOG"] = str(tmp_path / "calls.jsonl")
    # The script's working directory: 'logs' writes ./runs/ there, not into the repo.
    (tmp_path / "work").mkdir()
    env["FAKE_WORKDIR"] = str(tmp_path / "work")
    return env


def tpu_run(env, *args, check=True, cwd=None):
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd or env["FAKE_WORKDIR"],
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"tpu_run.sh {args} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def calls(env):
    log = Path(env["FAKE_GCLOUD_LOG"])
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def bash_split(line: str) -> list[str]:
    """The argv bash reads from one printed command line ($'...' quoting included)."""
    out = subprocess.run(
        ["bash", "-c", 'eval "set -- $1"; printf "%s\\0" "$@"', "_", line],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("\0")[:-1]


def command_of(call):
    return next(a.split("=", 1)[1] for a in call if a.startswith("--command="))


def test_create_with_flags(fake):
    tpu_run(
        fake,
        "create",
        "--name",
        "t1",
        "--zone",
        "us-central2-b",
        "--project",
        "p1",
        "--accelerator-type",
        "v4-32",
        "--spot",
    )
    where = ["--zone=us-central2-b", "--project=p1"]
    assert calls(fake) == [
        [*BASE, "tpu-vm", "describe", "t1", *where],  # the reuse probe
        [
            *BASE,
            "tpu-vm",
            "create",
            "t1",
            *where,
            "--accelerator-type=v4-32",
            "--version=tpu-ubuntu2204-base",
            "--spot",
        ],
    ]


def test_create_queued_from_env_waits_until_active(fake):
    fake.update(
        SIGNX_TPU_NAME="q1",
        SIGNX_TPU_ZONE="us-west4-a",
        SIGNX_TPU_TYPE="v5litepod-16",
        SIGNX_TPU_QUEUED="1",
        SIGNX_TPU_RUNTIME="my-runtime",
        SIGNX_GCP_PROJECT="p2",
        FAKE_QR_STATE="ACTIVE",
    )
    tpu_run(fake, "create")
    where = ["--zone=us-west4-a", "--project=p2"]
    assert calls(fake) == [
        [*BASE, "queued-resources", "describe", "q1", *where],
        [
            *BASE,
            "queued-resources",
            "create",
            "q1",
            *where,
            "--node-id=q1",
            "--accelerator-type=v5litepod-16",
            "--runtime-version=my-runtime",
        ],
        [*BASE, "queued-resources", "describe", "q1", *where, "--format=value(state.state)"],
    ]


def test_create_reuses_an_existing_tpu(fake):
    fake["FAKE_TPU_EXISTS"] = "1"
    proc = tpu_run(fake, "create", "--name=t1", "--zone=z", "--accelerator-type=v6e-8")
    assert [c[3] for c in calls(fake)] == ["describe"]
    assert "reusing" in proc.stderr


def test_create_fails_when_queued_resource_fails(fake):
    fake.update(FAKE_QR_STATE="FAILED", SIGNX_TPU_POLL_SECONDS="0")
    proc = tpu_run(
        fake, "create", "--name=q", "--zone=z", "--accelerator-type=v4-8", "--queued", check=False
    )
    assert proc.returncode != 0 and "FAILED" in proc.stderr


def test_flags_override_environment(fake):
    fake.update(SIGNX_TPU_NAME="from-env", SIGNX_TPU_ZONE="zone-env")
    tpu_run(fake, "delete", "--zone", "zone-flag")
    assert calls(fake) == [[*BASE, "tpu-vm", "delete", "from-env", "--zone=zone-flag"]]


def test_switch_with_a_value_overrides_its_variable(fake):
    fake.update(SIGNX_TPU_SPOT="1", SIGNX_TPU_QUEUED="true")
    tpu_run(
        fake,
        "create",
        "--name=t",
        "--zone=z",
        "--accelerator-type=v4-8",
        "--spot=false",
        "--queued=0",
    )
    assert calls(fake)[1] == [
        *BASE,
        "tpu-vm",
        "create",
        "t",
        "--zone=z",
        "--accelerator-type=v4-8",
        "--version=tpu-ubuntu2204-base",
    ]


def test_foreground_run_streams_and_tees(fake, tmp_path):
    root = tmp_path / "slice"
    (root / "worker-0" / "signx-jax").mkdir(parents=True)
    fake.update(FAKE_TPU_ROOT=str(root), FAKE_TPU_WORKERS="1")
    proc = tpu_run(fake, "run", "--name=t", "--zone=z", "--foreground", "--", "echo", "it's me")
    assert "it's me" in proc.stdout
    log = root / "worker-0" / "signx-jax" / "runs" / "t" / "worker-0.log"
    assert log.read_text() == "it's me\n"


def test_delete_queued_forces(fake):
    tpu_run(fake, "delete", "--name=q", "--zone=z", "--queued")
    assert calls(fake) == [[*BASE, "queued-resources", "delete", "q", "--zone=z", "--force"]]


def test_run_status_stop_address_all_workers(fake):
    fake.update(SIGNX_TPU_NAME="t", SIGNX_TPU_ZONE="z", SIGNX_RUN_NAME="exp1")
    tpu_run(fake, "run", "--", "python", "-m", "signx_jax.main", "--config", "c d.py")
    tpu_run(fake, "status")
    tpu_run(fake, "stop")
    run, describe, status, stop = calls(fake)
    for call in (run, status, stop):
        assert call[:5] == [*BASE, "tpu-vm", "ssh", "t"] and "--worker=all" in call
    assert describe[3] == "describe"
    script = command_of(run)
    # The training command survives quoting: the worker's bash sees the same argv.
    assert "python -m signx_jax.main --config" in script and "c d.py" in script
    assert "SIGNX_DISTRIBUTED=tpu" in script and "runs/exp1" in script
    assert "kill -TERM" in command_of(stop)


@pytest.mark.parametrize(
    "args",
    [
        ("create", "--accelerator-type", "v5litepod-16", "--queued", "--spot"),
        ("create", "--accelerator-type", "v4-32"),
        ("setup",),
        ("setup", "--repo", "https://example.com/signx.git", "--ref", "v1"),
        ("run", "--run-name", "r", "--", "python", "-c", "print('hi there')"),
        ("status", "--queued"),
        ("stop",),
        ("delete",),
        ("logs", "--workers", "3"),
    ],
)
def test_dry_run_prints_the_calls_and_makes_none(fake, args):
    fake.update(SIGNX_TPU_NAME="t", SIGNX_TPU_ZONE="z", SIGNX_GCP_PROJECT="p")
    printed = tpu_run(fake, "--dry-run", *args).stdout  # before a "--"
    assert calls(fake) == []
    lines = [bash_split(line) for line in printed.strip().splitlines()]
    assert lines and all(line[0] == "gcloud" for line in lines)
    # The same invocation for real issues exactly the printed calls (queued-resource
    # and describe probes print in dry runs too).
    fake.update(FAKE_QR_STATE="ACTIVE")
    tpu_run(fake, *args)
    real = calls(fake)
    printed_argv = [line[1:] for line in lines]
    if args[0] == "setup" and "--repo" not in args:
        real[0][4] = printed_argv[0][4] = "<tarball>"  # a fresh temp file each time
    assert printed_argv == real


def test_dry_run_from_environment(fake):
    fake.update(SIGNX_TPU_NAME="t", SIGNX_TPU_ZONE="z", SIGNX_DRY_RUN="1")
    assert tpu_run(fake, "delete").stdout.strip() == "gcloud compute tpus tpu-vm delete t --zone=z"
    assert calls(fake) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (("create", "--zone=z", "--accelerator-type=v4-8"), "missing --name"),
        (("create", "--name=t", "--accelerator-type=v4-8"), "missing --zone"),
        (("create", "--name=t", "--zone=z"), "--accelerator-type"),
        (("create", "--name=t", "--zone=z", "--accelerator-type=v9-8"), "--version"),
        (("run", "--name=t", "--zone=z"), "training command"),
        (("--name=t", "--zone=z"), "missing subcommand"),
        (("explode", "--name=t", "--zone=z"), "unknown subcommand"),
        (("stop", "--name=t", "--zone=z", "--bogus"), "unknown option"),
        (("setup", "--name=t", "--zone=z", "--dir=."), "--dir"),
        (("logs", "--name=t", "--zone=z", "--workers=0"), "--workers"),
        (("setup", "--name=t", "--zone=z", "--ref=v1"), "--repo"),
    ],
)
def test_missing_or_bad_options_are_errors(fake, args, message):
    proc = tpu_run(fake, *args, check=False)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert calls(fake) == []


def test_help(fake):
    out = tpu_run(fake, "--help").stdout
    assert "SIGNX_TPU_NAME" in out and "--dry-run" in out


def wait_for(predicate, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_run_status_stop_logs_on_emulated_slice(fake, tmp_path):
    """The remote scripts themselves, run by bash in two fake worker homes."""
    root = tmp_path / "slice"
    fake.update(
        SIGNX_TPU_NAME="t",
        SIGNX_TPU_ZONE="z",
        SIGNX_RUN_NAME="exp",
        SIGNX_TPU_DIR="code",
        FAKE_TPU_ROOT=str(root),
        FAKE_TPU_WORKERS="2",
    )
    for i in range(2):
        (root / f"worker-{i}" / "code").mkdir(parents=True)
    run_dirs = [root / f"worker-{i}" / "code" / "runs" / "exp" for i in range(2)]
    train = ["sh", "-c", 'echo "hello from $TPU_WORKER_ID via $SIGNX_DISTRIBUTED"; sleep 30']
    try:
        tpu_run(fake, "run", "--", *train)
        assert wait_for(
            lambda: all((d / f"worker-{i}.pid").exists() for i, d in enumerate(run_dirs))
        )
        assert "worker 1: exp running" in tpu_run(fake, "status").stdout
        again = tpu_run(fake, "run", "--", *train, check=False)
        assert again.returncode != 0 and "still running" in again.stderr
    finally:
        stopped = tpu_run(fake, "stop").stdout
    assert "worker 0: stopped exp" in stopped and "worker 1: stopped exp" in stopped
    assert "worker 0: exp killed" in tpu_run(fake, "status").stdout

    tpu_run(fake, "logs", cwd=tmp_path)  # worker count from the fake describe
    for i in range(2):
        log = (tmp_path / "runs" / "exp" / f"worker-{i}.log").read_text()
        assert f"hello from {i} via tpu" in log

    tpu_run(fake, "run", "--", "sh", "-c", "exit 3")
    assert wait_for(lambda: (run_dirs[1] / "worker-1.exit").exists())
    assert "worker 1: exp exited 3" in tpu_run(fake, "status").stdout


def test_setup_ships_checkout_and_installs(fake, tmp_path):
    root = tmp_path / "slice"
    fake.update(
        SIGNX_TPU_NAME="t", SIGNX_TPU_ZONE="z", FAKE_TPU_ROOT=str(root), FAKE_TPU_WORKERS="2"
    )
    # A fake uv records its calls and makes a venv whose python is this one.
    uv = Path(fake["PATH"].split(":")[0]) / "uv"
    uv.write_text(
        "#!/bin/sh\n"
        'echo "$*" >> "$HOME/uv.calls"\n'
        'if [ "$1" = venv ]; then mkdir -p .venv/bin && '
        f"ln -sf {shlex.quote(sys.executable)} .venv/bin/python; fi\n"
    )
    uv.chmod(0o755)
    stale = root / "worker-1" / "signx-jax" / "stale_module.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("# removed upstream\n")
    tpu_run(fake, "setup")
    for i in range(2):
        code = root / f"worker-{i}" / "signx-jax"
        assert (code / "launch" / "tpu_run.sh").exists()
        assert (code / "signx_jax" / "distributed.py").exists()
        assert not (code / ".git").exists()
        uv_calls = (root / f"worker-{i}" / "uv.calls").read_text()
        assert "--python 3.11 .venv" in uv_calls
        assert "-r requirements.txt jax[tpu]==" in uv_calls
    assert not stale.exists()
    assert not (root / "worker-0" / "signx-jax-src.tar.gz").exists()  # cleaned up


def test_packed_checkout_leaves_out_ignored_files(fake, tmp_path):
    """The tarball holds what git would commit: no .venv, caches or runs."""
    fake["FAKE_TPU_ROOT"] = str(tmp_path / "slice")
    fake["FAKE_TPU_WORKERS"] = "1"
    # Only the scp step: stop the remote script before it installs anything.
    fake["SIGNX_TPU_DIR"] = "code"
    (tmp_path / "slice" / "worker-0").mkdir(parents=True)
    (tmp_path / "slice" / "worker-0" / "code").write_text("not a directory: setup stops here")
    tpu_run(fake, "setup", "--name=t", "--zone=z", check=False)
    tarball = tmp_path / "slice" / "worker-0" / "signx-jax-src.tar.gz"
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    assert "launch/tpu_run.sh" in names
    assert not [n for n in names if n.startswith((".venv/", ".git/")) or "__pycache__" in n]


LAUNCH_SCRIPTS = sorted(
    [*(REPO / "launch").glob("*.sh"), *(REPO / "launch").glob("*.sbatch")], key=str
)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_launch_scripts_are_shellcheck_clean():
    proc = subprocess.run(
        ["shellcheck", "-x", *map(str, LAUNCH_SCRIPTS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert any(p.name == "tpu_run.sh" for p in LAUNCH_SCRIPTS)
