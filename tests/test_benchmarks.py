"""Benchmark bookkeeping that is arithmetic, not timing (no speed is asserted)."""

import sys

from signx_jax.benchmarks import train_step


def _row(step_s):
    b = train_step.BENCHES["cslr_vac"]
    return train_step.summarize(b, [step_s, step_s + 1.0, step_s], [2 * step_s] * 3, 1e9, 1e10)


def test_vac_table_is_speed_relative_to_pytorch_from_medians():
    rows = {"PyTorch": _row(0.9), "ours": _row(0.6), "plain JAX": _row(1.8)}
    assert rows["ours"]["step_s"] == 0.6 and rows["ours"]["cores_busy"] == 2.0
    table = train_step.format_vac(rows, "py")
    assert "| ours | 0.600 | 2.00 | 3413 | 1.50x |" in table
    assert "| plain JAX | 1.800 | 2.00 | 1138 | 0.50x |" in table
    no_torch = train_step.format_vac({"ours": _row(0.6)}, None)
    assert "| ours | 0.600 | 2.00 | 3413 | - |" in no_torch and "no PyTorch reference" in no_torch


def test_torch_step_times_reads_the_reference_json(tmp_path):
    fake = tmp_path / "python"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "assert '--frames' in sys.argv and sys.argv[1].endswith('vac_torch.py')\n"
        "print('warming up')\n"
        "print(json.dumps({'torch': 'x', 'wall_s': [0.5, 0.7], 'cpu_s': [1.0, 1.2]}))\n"
    )
    fake.chmod(0o755)
    walls, cpus = train_step.torch_step_times(str(fake), train_step.BENCHES["cslr_vac"], 2)
    assert walls == [0.5, 0.7] and cpus == [1.0, 1.2]
