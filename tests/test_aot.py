"""signx_jax/aot.py: the real train step compiled for a TPU topology on this CPU machine.

The compile needs libtpu, which is not in the core install (importable, it makes
every JAX process probe for a TPU): ``bash launch/local.sh test`` puts
``launch/requirements-tpu.txt`` into ``<venv>/.libtpu`` and the compile runs in a
subprocess (``python -m signx_jax.aot``), so the test workers never load it.
Skipped only where libtpu is nowhere to be found.
"""

import json
import os
import subprocess
import sys

import jax
import pytest

from configs import ladder
from configs.common import train_config
from signx_jax import aot, memory
from signx_jax import sharding as shd

# The frozen Pose2Gloss base (230M parameters) whose encoder Video2Pose's latent loss runs.
STAGE1_BASE_PARAMS = 220e6

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

needs_libtpu = pytest.mark.skipif(
    aot.libtpu_path() is None,
    reason="no libtpu: `bash launch/local.sh test` installs launch/requirements-tpu.txt "
    "into <venv>/.libtpu",
)


def test_parse_mesh_and_chip():
    assert aot.parse_mesh("data=2,fsdp=2") == {"data": 2, "fsdp": 2, "tensor": 1}
    assert aot.parse_mesh(None) is None
    with pytest.raises(ValueError, match="not one of"):
        aot.parse_mesh("model=2")
    assert aot.chip_of("v5e:2x2") == "v5e" and aot.chip_of("v5p:2x2x4") == "v5p"
    with pytest.raises(ValueError, match="unknown TPU generation"):
        aot.chip_of("v3:2x2")


def test_ladder_plans_are_consistent():
    for rung, (topology, mesh, batch) in ladder.PLAN.items():
        cfg = ladder.get_config(f"cslr,{rung}")
        assert cfg.model.size == rung and cfg.topology == topology
        assert batch % (mesh[0] * mesh[1]) == 0, rung  # the batch splits over data x fsdp
        assert aot.chip_of(topology) in memory.HBM_BYTES


def test_libtpu_is_found_without_being_importable(monkeypatch, tmp_path):
    monkeypatch.setattr(aot.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(aot.sys, "prefix", str(tmp_path))
    monkeypatch.delenv("TPU_LIBRARY_PATH", raising=False)
    assert aot.libtpu_path() is None
    side = tmp_path / aot.SIDE_DIR / "libtpu" / "libtpu.so"  # `local.sh test` puts it here
    side.parent.mkdir(parents=True)
    side.write_bytes(b"")
    assert aot.libtpu_path() == str(side)
    explicit = tmp_path / "elsewhere.so"
    explicit.write_bytes(b"")
    monkeypatch.setenv("TPU_LIBRARY_PATH", str(explicit))
    assert aot.libtpu_path() == str(explicit)
    monkeypatch.setenv("TPU_LIBRARY_PATH", str(tmp_path / "missing.so"))
    assert aot.libtpu_path() == str(side)


def test_stage_config_uses_the_ladder_tpu_settings():
    v2p = aot.stage_config("video2pose", "base", batch_size=4, frames=8)
    assert v2p.data.train_window == 8 and v2p.data.batch_size == 4
    assert v2p.model.dtype == v2p.stage1_model.dtype == "bfloat16"
    cslr = aot.stage_config("cslr", "base", frames=64)
    assert cslr.data.buckets == (64,) and cslr.model.dtype == "bfloat16"
    assert aot.stage_config("cslr", "ladder3").topology == ladder.PLAN["ladder3"][0]


def _cslr_base():
    cfg = train_config("cslr", "base")
    cfg.model.dtype = "bfloat16"
    cfg.data.batch_size = 8
    cfg.data.buckets = (128,)
    return cfg


def test_does_not_fit_fails_before_compiling(monkeypatch):
    # The pre-compile check needs no TPU: CPU devices stand in for the 4 chips.
    cpus = jax.devices("cpu")[:4]
    monkeypatch.setitem(memory.HBM_BYTES, "v5e", 1 << 30)  # a 1 GiB "chip"
    with pytest.raises(aot.DoesNotFit, match=r"does not fit on v5e:2x2 .* GiB per chip"):
        aot.compile_train_step(_cslr_base(), "v5e:2x2", {"data": 4}, verbose=False, devices=cpus)
    # fsdp over the 4 chips brings the state under 1 GiB: the estimate lets it through
    # (to the compile, which this test does not pay for).
    mesh = shd.make_mesh(1, 4, 1, devices=cpus)
    trainer = aot.abstract_trainer(_cslr_base(), aot.make_task(_cslr_base()), mesh)
    est = aot.state_estimate(trainer.num_params, {"data": 1, "fsdp": 4}, _cslr_base())
    assert est.total < 1 << 30


@needs_libtpu
def test_video2pose_base_compiles_for_v5e_2x2(tmp_path):
    """Video2Pose base (ViT-S/16 on 224 px frames, temporal attention, and the
    frozen Pose2Gloss base encoder of the latent loss) compiled by the TPU
    compiler for a v5e-4 slice, data parallel, one 8-frame clip per chip.
    What keeps it within CI time is XLA's exec_time_optimization_effort -1: the
    compile takes 50-90 CPU-s instead of about 260 (memory fitting keeps its
    default effort); ``python -m signx_jax.aot`` compiles at 0 unless told."""
    out = tmp_path / "report.json"
    cmd = [
        sys.executable, "-m", "signx_jax.aot", "--stage", "video2pose", "--size", "base",
        "--topology", "v5e:2x2", "--mesh", "data=4", "--batch_size", "4", "--frames", "8",
        "--exec_time_effort", "-1", "--json", str(out),
    ]  # fmt: skip
    # JAX stays on CPU; only the TPU compiler is loaded (from aot.libtpu_path()).
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    (r,) = json.loads(out.read_text())["reports"]
    assert r["name"] == "video2pose/base" and r["topology"] == "v5e:2x2"
    assert r["mesh"] == {"data": 4, "fsdp": 1, "tensor": 1} and r["chips"] == 4
    assert (r["global_batch"], r["frames"], r["exec_time_effort"]) == (4, 8, -1)
    assert 20e6 < r["num_params"] < 40e6  # configs/models.py: ViT-S/16 + 4 temporal layers
    # Per chip: replicated float32 params + 2 Adam moments (12 B/param), the frozen
    # stage-1 model's float32 params, the uint8 frames.
    assert r["estimate_bytes"] == pytest.approx(16 * r["num_params"])  # + grads (memory.py)
    assert r["argument_bytes"] >= 12 * r["num_params"] + 4 * STAGE1_BASE_PARAMS
    assert r["fits"] and r["total_bytes"] < r["hbm_bytes"] == 16 * memory.GIB
    # Data parallel over 4 chips: each runs about a quarter of the step's FLOPs;
    # the spatial ViT alone is >= 2 x 3 x 22M params x 197 tokens x 32 frames.
    assert r["flops_per_step"] > 2 * 3 * 22e6 * 197 * 32
    assert 0.5 < 4 * r["flops_per_chip"] / r["flops_per_step"] < 2
    assert r["est_step_seconds"] > 0 and r["est_source"] in ("xla", "roofline")
    assert 0 < r["mfu"] <= 1
    assert r["compile_seconds"] > 0
