"""A stand-in for `gcloud` in launch tests: records every call, emulates a TPU slice.

Each call's argv is appended as one JSON line to $FAKE_GCLOUD_LOG. With
$FAKE_TPU_ROOT set, the slice's workers are directories $FAKE_TPU_ROOT/worker-<i>
(their home): `tpu-vm ssh --command=...` runs the script in each with TPU_WORKER_ID=i,
and `tpu-vm scp` copies files in and out. `describe` answers from the environment:
  FAKE_TPU_EXISTS=1       the probe (a describe without --format) finds the resource
  FAKE_QR_STATE=ACTIVE    queued resource state (--format=value(state.state))
  FAKE_TPU_WORKERS=2      worker count (--format=value(networkEndpoints.len()))
"""

import json
import os
import shutil
import subprocess
import sys


def worker_home(root: str, index: int) -> str:
    home = os.path.join(root, f"worker-{index}")
    os.makedirs(home, exist_ok=True)
    return home


def describe(args: list[str]) -> int:
    fmt = next((a.split("=", 1)[1] for a in args if a.startswith("--format=")), None)
    if fmt is None:
        return 0 if os.environ.get("FAKE_TPU_EXISTS") == "1" else 1
    if "state.state" in fmt:
        print(os.environ.get("FAKE_QR_STATE", "ACTIVE"))
    elif "networkEndpoints.len()" in fmt:
        print(os.environ.get("FAKE_TPU_WORKERS", "2"))
    else:
        print("READY\tHEALTHY")
    return 0


def targets(args: list[str], workers: int) -> list[int]:
    """Worker indices of --worker=all|i|i,j (gcloud's default is worker 0)."""
    worker = next((a.split("=", 1)[1] for a in args if a.startswith("--worker=")), "0")
    return list(range(workers)) if worker == "all" else [int(w) for w in worker.split(",")]


def ssh(args: list[str], root: str, workers: int) -> int:
    script = next(a.split("=", 1)[1] for a in args if a.startswith("--command="))
    rc = 0
    for i in targets(args, workers):
        home = worker_home(root, i)
        env = dict(os.environ, HOME=home, TPU_WORKER_ID=str(i))
        rc = rc or subprocess.run(["bash", "-c", script], cwd=home, env=env).returncode
    return rc


def scp(args: list[str], root: str, workers: int) -> int:
    src, dst = [a for a in args[4:] if not a.startswith("--")][:2]
    for i in targets(args, workers):
        home = worker_home(root, i)
        if ":" in dst:  # upload
            target = os.path.join(home, dst.split(":", 1)[1].lstrip("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy(src, target)
        else:
            shutil.copy(os.path.join(home, src.split(":", 1)[1]), dst)
    return 0


def main() -> int:
    args = sys.argv[1:]
    with open(os.environ["FAKE_GCLOUD_LOG"], "a") as f:
        f.write(json.dumps(args) + "\n")
    if "describe" in args:
        return describe(args)
    root = os.environ.get("FAKE_TPU_ROOT")
    workers = int(os.environ.get("FAKE_TPU_WORKERS", "2"))
    if root and args[:4] == ["compute", "tpus", "tpu-vm", "ssh"]:
        return ssh(args, root, workers)
    if root and args[:4] == ["compute", "tpus", "tpu-vm", "scp"]:
        return scp(args, root, workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
