"""Train, cache latents for, or evaluate one SignX stage on any dataset's shards.

Stage 1 (Pose2Gloss) on pose shards::

  python -m signx_jax.train.main --config configs/phoenix2014t_pose2gloss.py:base \
      --config.data.data_dir=data/phoenix2014t --workdir runs/phx/stage1

Stage 2 (Video2Pose) against the frozen stage 1::

  python -m signx_jax.train.main --config configs/phoenix2014t_video2pose.py:base \
      --config.data.data_dir=data/phoenix2014t --config.stage1_workdir=runs/phx/stage1 \
      --workdir runs/phx/stage2

Latent cache (frozen stages 1-2 -> z_latent shards + vocab.json, written into
``--latent_dir`` itself; ``--route pose`` skips stage 2, so give each route its
own directory). A split the converter wrote no records for is skipped::

  python -m signx_jax.train.main --mode cache --route video \
      --config configs/phoenix2014t_video2pose.py:base --config.data.data_dir=data/phoenix2014t \
      --config.stage1_workdir=runs/phx/stage1 --workdir runs/phx/stage2 \
      --latent_dir data/phoenix2014t_latents/video

Stage 3 (CSLR in the latent space) on that cache, then the released best-5 average::

  python -m signx_jax.train.main --config configs/phoenix2014t_cslr.py:base \
      --config.data.latent_dir=data/phoenix2014t_latents/video --workdir runs/phx/stage3
  python -m signx_jax.train.main --mode evaluate --config configs/phoenix2014t_cslr.py:base \
      --config.data.latent_dir=data/phoenix2014t_latents/video --workdir runs/phx/stage3

Stage 3 with ``data.task = "isolated"`` (configs/wlasl_isolated.py) trains the
one-class-per-clip classifier of ``signx_jax.train.isolated`` instead; evaluate
then reports top-1 / top-5 per-instance and per-class accuracy.
"""

from __future__ import annotations

import logging
import os

from absl import app, flags
from flax import nnx

from configs.common import train_config
from signx_jax import checkpoint as ckpt_lib
from signx_jax import cli, distributed
from signx_jax.data import shards
from signx_jax.data.augment import AugmentedSource
from signx_jax.data.vocab import Vocabulary
from signx_jax.main import restored, route_encoders, stage3_task
from signx_jax.train import faults, tasks
from signx_jax.train.fit import fit
from signx_jax.train.isolated import IsolatedTask, evaluate_splits
from signx_jax.train.loop import Trainer

_CONFIG = _WORKDIR = _MODE = _ROUTE = _LATENT_DIR = _SPLITS = _STEP = None


def _define_flags() -> None:
    """The CLI's flags, defined only when run as a program: importing this
    module (tests, notebooks) must not claim absl's global flag names."""
    global _CONFIG, _WORKDIR, _MODE, _ROUTE, _LATENT_DIR, _SPLITS, _STEP
    _CONFIG = cli.define_config(None, "Stage config file[:size].")
    _WORKDIR = flags.DEFINE_string("workdir", None, "Run directory (checkpoints, logs).")
    _MODE = flags.DEFINE_enum("mode", "train", ["train", "cache", "evaluate"], "What to do.")
    _ROUTE = flags.DEFINE_enum("route", "video", ["pose", "video"], "Latent cache route.")
    _LATENT_DIR = flags.DEFINE_string("latent_dir", None, "Output of --mode cache.")
    _SPLITS = flags.DEFINE_list("splits", ["dev", "test"], "--mode evaluate: splits to score.")
    _STEP = flags.DEFINE_integer(
        "step",
        None,
        "--mode evaluate: score this checkpoint step instead of the released best-k average.",
    )


log = logging.getLogger("signx.train")


def restore_latest(cfg, task, workdir: str) -> Trainer:
    """A Trainer for ``task`` holding the newest checkpoint under ``workdir``."""
    return restored(cfg, task, workdir, hint="train that stage first")


def stage1_trainer(cfg, vocab) -> Trainer:
    s1 = train_config("pose2gloss", cfg.stage1_model.size, dataset=cfg.dataset)
    s1.model = cfg.stage1_model
    s1.mesh = cfg.mesh
    return restore_latest(s1, tasks.Pose2GlossTask(s1, len(vocab)), cfg.stage1_workdir)


def splits_present(data_dir: str, split_names) -> list[str]:
    """The splits of ``split_names`` that ``data_dir`` holds (a converter writes
    nothing for a split without records); logs each one skipped."""
    present = []
    for name in dict.fromkeys(split_names):
        if os.path.isfile(shards.manifest_path(data_dir, name)):
            present.append(name)
        else:
            log.info("no %s split in %s (no %s): skipped", name, data_dir,
                     os.path.basename(shards.manifest_path(data_dir, name)))  # fmt: skip
    return present


def main(argv) -> None:
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax is chatty at INFO
    distributed.initialize()
    cfg, workdir = _CONFIG.value, _WORKDIR.value
    if cfg is None or workdir is None:
        raise app.UsageError("--config and --workdir are required")
    faults.validate_config(cfg)  # before any data is read or written
    if _MODE.value == "cache" and not _LATENT_DIR.value:
        raise app.UsageError("--mode cache needs --latent_dir (where the latent shards go)")
    if cfg.data.get("task", "recognition") == "translation":
        raise app.UsageError(
            "data.task=translation (Sign2Text) trains with: python -m signx_jax.train.translation "
            "--config configs/<dataset>_translation.py --workdir ..."
        )
    data_dir = cfg.data.data_dir or cfg.data.latent_dir
    vocab = Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    split = lambda d, s: shards.open_split(d, s, skip_corrupt=cfg.data.skip_corrupt)  # noqa: E731

    if cfg.stage == "pose2gloss":
        task = tasks.Pose2GlossTask(cfg, len(vocab))
        train, dev = split(data_dir, cfg.data.train_split), split(data_dir, cfg.data.dev_split)
    elif cfg.stage == "video2pose":
        stage1 = stage1_trainer(cfg, vocab)
        if _MODE.value == "cache":
            return _cache(cfg, vocab, stage1, workdir)
        train, dev = split(data_dir, cfg.data.train_split), split(data_dir, cfg.data.dev_split)
        task = tasks.Video2PoseTask(
            cfg, len(vocab), nnx.state(stage1.model(), nnx.Param), tasks.pose_statistics(train)
        )
    else:
        task = stage3_task(cfg, vocab)
        latent_dir = cfg.data.latent_dir
        train = AugmentedSource(
            split(latent_dir, cfg.data.train_split), num_views=cfg.data.num_views, seed=cfg.seed
        )
        dev = split(latent_dir, cfg.data.dev_split)
        if _MODE.value == "evaluate":
            return _evaluate(cfg, task, vocab, workdir)
    result = fit(cfg, task, train_source=train, dev_source=dev, vocab=vocab, workdir=workdir)
    log.info("finished at step %d (%s); dev %s", result.step, result.status, result.dev_metrics)


def _cache(cfg, vocab, stage1: Trainer, workdir: str) -> None:
    from signx_jax.latent_cache import write_latents

    stage2 = None
    if _ROUTE.value == "video":
        stage2 = restore_latest(cfg, tasks.Video2PoseTask(cfg, len(vocab)), workdir)
    encode, features = route_encoders(stage1, stage2)[_ROUTE.value]
    out_dir = _LATENT_DIR.value
    split_names = (cfg.data.train_split, cfg.data.dev_split, cfg.data.test_split)
    for split_name in splits_present(cfg.data.data_dir, split_names):
        source = shards.open_split(cfg.data.data_dir, split_name)
        write_latents(
            encode, source, vocab, out_dir, split_name, mesh=stage1.mesh, features=features,
            batch_size=cfg.data.eval_batch_size, buckets=cfg.data.buckets,
            max_label_len=cfg.data.max_label_len, extra_manifest={"route": _ROUTE.value},
        )  # fmt: skip
    vocab.save(os.path.join(out_dir, "vocab.json"))


def _evaluate(cfg, task, vocab, workdir: str) -> None:
    """Score the released model (mean of the best-k checkpoints) or one ``--step``:
    metrics.json, report.md (paper table, worst sentences) and plots in workdir/report."""
    from signx_jax.evaluate import decode_split, format_table, score
    from signx_jax.report import write_report

    trainer = Trainer(cfg, task)
    if _STEP.value is None:
        steps = ckpt_lib.restore_released(trainer, workdir, cfg.train.keep_best)
    else:
        ckpt = ckpt_lib.Checkpointer(os.path.join(workdir, "checkpoints"), read_only=True)
        trainer.restore_state(ckpt.restore(_STEP.value, trainer.abstract_state()))
        steps = [_STEP.value]
    if isinstance(task, IsolatedTask):
        out_dir = os.path.join(workdir, "report")
        evaluate_splits(trainer, cfg.data.latent_dir, _SPLITS.value, vocab, out_dir, steps)
        return
    trainer.set_decode_method(cfg.decode.method)
    rows, per_split = {}, {}
    for split_name in _SPLITS.value:
        source = shards.open_split(cfg.data.latent_dir, split_name)
        refs, hyps = decode_split(trainer, source, vocab, desc=split_name)
        rows[split_name] = score(refs, hyps, dataset=cfg.dataset)
        per_split[split_name] = {"refs": refs, "hyps": hyps}
    out_dir = os.path.join(workdir, "report")
    write_report(out_dir, per_split, cfg.dataset)
    print(f"checkpoints {steps}, decoding {cfg.decode.method}\n" + format_table(rows))
    print(f"report: {out_dir}/report.md")


if __name__ == "__main__":
    cli.run(main, _define_flags)
