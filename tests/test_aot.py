"""signx_jax/aot.py: the real train step compiled for a TPU topology on this CPU machine.

Needs libtpu (``pip install -r launch/requirements-tpu.txt``); skipped without it.
"""

import pytest

from configs import ladder
from configs.common import train_config
from signx_jax import aot, memory

needs_libtpu = pytest.mark.skipif(
    not aot.libtpu_available(),
    reason="no libtpu (pip install -r launch/requirements-tpu.txt)",
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


def _cslr_base():
    cfg = train_config("cslr", "base")
    cfg.model.dtype = "bfloat16"
    # The base model with a CI-sized batch: 8 clips of 128 frames (2 per chip).
    cfg.data.batch_size = 8
    cfg.data.buckets = (128,)
    return cfg


@needs_libtpu
def test_cslr_base_compiles_for_v5e_2x2():
    report = aot.compile_train_step(_cslr_base(), "v5e:2x2", {"data": 4}, verbose=False)
    assert report.mesh == {"data": 4, "fsdp": 1, "tensor": 1}
    assert 70e6 < report.num_params < 90e6  # configs/models.py: CSLR base ~77M
    # Replicated float32 params + 2 Adam moments + MultiSteps accumulator >= 4 x 4 B/param.
    assert report.argument_bytes >= 16 * report.num_params
    assert report.fits and report.total_bytes < report.hbm_bytes == 16 * memory.GIB
    assert report.flops_per_step > 1e11 and report.est_step_seconds > 0
    assert report.est_source in ("xla", "roofline") and 0 < report.mfu <= 1
    assert 0 < report.flops_per_chip <= report.flops_per_step


@needs_libtpu
def test_does_not_fit_fails_before_compiling(monkeypatch):
    monkeypatch.setitem(memory.HBM_BYTES, "v5e", 1 << 30)  # a 1 GiB "chip"
    with pytest.raises(aot.DoesNotFit, match=r"does not fit on v5e:2x2 .* GiB per chip"):
        aot.compile_train_step(_cslr_base(), "v5e:2x2", {"data": 4}, verbose=False)
    # fsdp over the 4 chips brings the state under 1 GiB: the estimate lets it through
    # (to the compile, which this test does not pay for).
    trainer = aot.abstract_trainer(_cslr_base(), aot.make_task(_cslr_base()), _mesh(1, 4))
    est = aot.state_estimate(trainer.num_params, {"data": 1, "fsdp": 4}, _cslr_base())
    assert est.total < 1 << 30


def _mesh(data, fsdp):
    from signx_jax import sharding

    return sharding.make_mesh(data, fsdp, 1, devices=aot.tpu_devices("v5e:2x2"))
