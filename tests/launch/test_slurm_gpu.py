"""launch/slurm_gpu.sbatch, launch/slurm_env.sh and launch/gpu_node.sh, with fake SLURM.

A fake `scontrol` expands the node list and a fake `srun` starts the step's tasks
one after another with SLURM_PROCID / SLURM_LOCALID set, so the batch script runs
for real; each task prints the SIGNX_* variables signx_jax.distributed would read.
"""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SBATCH = REPO / "launch" / "slurm_gpu.sbatch"
GPU_NODE = REPO / "launch" / "gpu_node.sh"
SHOW = (
    'echo "$SIGNX_COORDINATOR $SIGNX_NUM_PROCESSES $SIGNX_PROCESS_ID ${SIGNX_LOCAL_DEVICE_IDS:--}"'
)

FAKE_SCONTROL = """#!/bin/sh
[ "$1 $2" = "show hostnames" ] || exit 1
case "$3" in "gpu-a[01-02]") printf 'gpu-a01\\ngpu-a02\\n' ;; *) echo "$3" ;; esac
"""
# srun [--options] cmd...: tasks run in order; per node = SLURM_NTASKS / SLURM_NNODES.
FAKE_SRUN = """#!/bin/bash
while [[ $1 == --* ]]; do shift; done
per_node=$((SLURM_NTASKS / SLURM_NNODES))
for ((i = 0; i < SLURM_NTASKS; i++)); do
  SLURM_PROCID=$i SLURM_LOCALID=$((i % per_node)) SLURM_STEP_NUM_NODES=$SLURM_NNODES "$@" || exit
done
"""


@pytest.fixture
def slurm_env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("scontrol", FAKE_SCONTROL), ("srun", FAKE_SRUN)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNX_", "SLURM_"))}
    env.update(
        PATH=f"{bin_dir}:{env['PATH']}",
        SLURM_JOB_ID="1234",
        SLURM_JOB_NODELIST="gpu-a[01-02]",
        SLURM_NNODES="2",
        SLURM_NTASKS="2",
        SLURM_SUBMIT_DIR=str(REPO),
    )
    return env


def sbatch(env, *args, cwd="/"):
    # cwd elsewhere: the script must find the repo through SLURM_SUBMIT_DIR.
    return subprocess.run(
        ["bash", str(SBATCH), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=30
    )


def test_one_task_per_node(slurm_env):
    proc = sbatch(slurm_env, "sh", "-c", SHOW)
    assert proc.returncode == 0, proc.stderr
    port = 1234 % 4096 + 61440
    assert proc.stdout.splitlines() == [f"gpu-a01:{port} 2 0 -", f"gpu-a01:{port} 2 1 -"]


def test_one_task_per_gpu_picks_a_local_device(slurm_env):
    slurm_env.update(SLURM_NTASKS="4", CUDA_VISIBLE_DEVICES="0,1", SIGNX_COORDINATOR_PORT="9999")
    proc = sbatch(slurm_env, "sh", "-c", SHOW)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "gpu-a01:9999 4 0 0",
        "gpu-a01:9999 4 1 1",
        "gpu-a01:9999 4 2 0",
        "gpu-a01:9999 4 3 1",
    ]
    # SLURM already bound one GPU per task: nothing to pick.
    slurm_env["CUDA_VISIBLE_DEVICES"] = "3"
    assert sbatch(slurm_env, "sh", "-c", SHOW).stdout.splitlines()[1] == "gpu-a01:9999 4 1 -"


def test_a_failing_task_fails_the_job(slurm_env):
    proc = sbatch(slurm_env, "sh", "-c", "exit 5")
    assert proc.returncode == 5


def test_print_env_is_a_dry_run(slurm_env):
    slurm_env.update(SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_JOB_NODELIST="node7")
    proc = sbatch(slurm_env, "--print-env")
    assert proc.returncode == 0, proc.stderr
    assert "SIGNX_COORDINATOR=node7:62674" in proc.stdout
    assert "SIGNX_NUM_PROCESSES=2" in proc.stdout and "SIGNX_PROCESS_ID=0" in proc.stdout


def test_slurm_env_functions_name_missing_variables(slurm_env):
    del slurm_env["SLURM_JOB_NODELIST"]
    proc = subprocess.run(
        ["bash", "-c", "source launch/slurm_env.sh && signx_slurm_coordinator"],
        env=slurm_env,
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "SLURM_JOB_NODELIST" in proc.stderr


def test_sbatch_needs_a_command_and_the_repo(slurm_env):
    assert "no training command" in sbatch(slurm_env).stderr
    slurm_env["SLURM_SUBMIT_DIR"] = "/"
    proc = sbatch(slurm_env, "true")
    assert proc.returncode == 2 and "SIGNX_REPO_DIR" in proc.stderr


def gpu_node(*args, env=None):
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIGNX_")}
    return subprocess.run(
        ["bash", str(GPU_NODE), *args],
        env={**base, **(env or {})},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_gpu_node_numbers_processes_globally(tmp_path):
    proc = gpu_node(
        "--coordinator",
        "10.0.0.2:1234",
        "--num-nodes",
        "3",
        "--node-rank",
        "2",
        "--procs-per-node",
        "2",
        "--log-dir",
        str(tmp_path),
        "--",
        "sh",
        "-c",
        SHOW,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.splitlines()) == [
        "[p4] 10.0.0.2:1234 6 4 0",
        "[p5] 10.0.0.2:1234 6 5 1",
    ]
    assert (tmp_path / "proc-5.log").read_text() == "10.0.0.2:1234 6 5 1\n"


def test_gpu_node_from_environment_and_dry_run():
    env = {"SIGNX_COORDINATOR": "h:1", "SIGNX_NUM_NODES": "2", "SIGNX_NODE_RANK": "1"}
    proc = gpu_node("--dry-run", "--", "python", "-m", "x", env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        "SIGNX_COORDINATOR=h:1",
        "SIGNX_NUM_PROCESSES=2",
        "SIGNX_PROCESS_ID=1",
        "python",
        "-m",
        "x",
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--num-nodes", "2", "--node-rank", "0", "--", "true"], "HOST:PORT"),
        (["--coordinator", "h:1", "--node-rank", "0", "--", "true"], "--num-nodes"),
        (["--coordinator", "h:1", "--num-nodes", "2", "--node-rank", "2", "--", "true"], "< --num"),
        (["--coordinator", "h:1", "--num-nodes", "2", "--node-rank", "0"], "no training command"),
    ],
)
def test_gpu_node_errors(args, message):
    proc = gpu_node(*args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
