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


def test_main_job_rows_time_the_main_jobs_stage_configs():
    """The ``main_*`` rows build configs/demo.py's stage configs, at its batch sizes."""
    from configs import demo

    c = demo.get_config()
    for key, stage in (("main_pose2gloss", "stage1"), ("main_video2pose", "stage2"),
                       ("main_cslr", "stage3")):  # fmt: skip
        b = train_step.BENCHES[key]
        cfg = train_step.bench_config(b)
        assert cfg.model.to_dict() == c[stage].model.to_dict(), key
        assert cfg.loss.to_dict() == c[stage].loss.to_dict(), key
        assert b.batch == cfg.data.batch_size == c[stage].data.batch_size, key
        assert cfg.data.max_label_len == c[stage].data.max_label_len and cfg.data.buckets == (
            b.frames,
        )
    assert train_step.BENCHES["main_video2pose"].frames == c.stage2.data.train_window
