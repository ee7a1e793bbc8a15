"""Benchmark bookkeeping that is arithmetic, not timing (no speed is asserted)."""

from signx_jax.benchmarks import train_step


def test_vac_ceiling_note(monkeypatch):
    monkeypatch.setattr(train_step.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(train_step, "fp32_flops_per_cycle", lambda: 32)
    # 2 x 32 x 4.1 = 262.4 GFLOP/s; 2x the 0.67 s reference at 114.4 GFLOP needs 341.
    note = train_step.vac_ceiling_note(114.4)
    assert "needs 341 GFLOP/s" in note and "262 GFLOP/s" in note and "impossible" in note
    assert "possible" in train_step.vac_ceiling_note(60.0).split(":")[-1]
    assert "impossible" not in train_step.vac_ceiling_note(60.0)


def test_flops_per_cycle_is_a_known_width():
    assert train_step.fp32_flops_per_cycle() in (8, 16, 32, 64)
