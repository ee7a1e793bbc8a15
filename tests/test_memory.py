"""signx_jax.memory against hand-computed numbers."""

import pytest

from signx_jax import memory

GIB = 1024**3


def test_adam_fp32_on_one_device():
    # 1e6 params: 4 B params + 4 B grads + 8 B Adam moments = 16 MB.
    est = memory.per_device_memory(1_000_000, {"data": 1})
    assert (est.params, est.grads, est.optimizer) == (4e6, 4e6, 8e6)
    assert est.master_params == est.grad_accumulator == est.activations == 0
    assert est.total == 16e6


def test_state_is_sharded_over_fsdp_and_tensor_not_data():
    mesh = {"data": 8, "fsdp": 4, "tensor": 2}
    est = memory.per_device_memory(8_000_000, mesh, grad_accumulation=True)
    local = 8_000_000 / (4 * 2)  # data replicates
    assert est.params == local * 4 and est.optimizer == local * 8
    assert est.grad_accumulator == local * 4
    assert est.total == local * (4 + 4 + 4 + 8)


def test_replicated_fraction_and_bf16_master_weights():
    est = memory.per_device_memory(
        1_000_000,
        {"fsdp": 4},
        param_bytes=2,
        master_weights=True,
        replicated_fraction=0.2,
        activation_bytes=123.0,
    )
    local = 1_000_000 * (0.8 / 4 + 0.2)  # 400,000
    assert local == 400_000
    assert est.params == est.grads == 800_000
    assert est.master_params == 1_600_000 and est.optimizer == 3_200_000
    assert est.total == 800_000 * 2 + 1_600_000 + 3_200_000 + 123


def test_transformer_activations_follow_korthikanti():
    # s=128, b=2, h=64, a=4, t=1: per layer s*b*h*(10 + 24 + 5*4*128/64) = 16384 * 74.
    kw = dict(batch_per_device=2, seq_len=128, d_model=64, num_heads=4, num_layers=3)
    assert memory.transformer_activation_bytes(**kw) == 16384 * 74 * 3
    # t=2: 10 + 12 + 20 = 42 per token-dim; float32 doubles it.
    assert memory.transformer_activation_bytes(**kw, tensor=2, dtype_bytes=4) == (
        16384 * 42 * 3 * 2
    )
    assert memory.transformer_activation_bytes(**kw, remat="full") == 2 * 16384 * 3


def test_fits_and_summary():
    small = memory.per_device_memory(1_000_000, {"data": 1})
    assert memory.fits(small, "v5e")
    big = memory.per_device_memory(1_000_000_000, {"data": 1})  # 16 GB of state
    assert not memory.fits(big, "v5e") and memory.fits(big, "v5p")
    text = big.summary(device="v5e")
    assert "optimizer" in text and "% of HBM" in text and f"{16e9 / GIB:8.3f}" in text


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: memory.per_device_memory(1, {"model": 2}), "not among"),
        (lambda: memory.per_device_memory(1, {"data": 0}), ">= 1"),
        (lambda: memory.per_device_memory(1, {}, optimizer="lion"), "unknown optimizer"),
        (lambda: memory.per_device_memory(1, {}, replicated_fraction=2), "replicated_fraction"),
        (lambda: memory.fits(memory.per_device_memory(1, {}), "v9"), "unknown device"),
        (
            lambda: memory.transformer_activation_bytes(
                batch_per_device=1, seq_len=1, d_model=1, num_heads=1, num_layers=1, remat="x"
            ),
            "remat",
        ),
    ],
)
def test_bad_inputs_are_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()
