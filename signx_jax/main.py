"""The main job: SignX end to end on the embedded synthetic corpus (or your shards).

  python -m signx_jax.main --config configs/demo.py --workdir runs/demo

The config (every stage, the corpus, the routes) is checked before any step.
Steps (each skipped when its output already exists whole in ``workdir``, so a
re-run after a crash resumes where it stopped; outputs are written atomically,
see ``signx_jax/atomic.py``):
  1. generate the synthetic corpus -> pose shards + vocab.json;
  2. stage 1, Pose2Gloss fusion ViT on extracted poses;
  3. stage 2, Video2Pose on RGB frames against the frozen stage 1;
  4. latent cache for both routes (pose: poses -> stage 1 encoder;
     video: RGB -> Video2Pose -> stage 1 encoder);
  5. stage 3, CSLR trained once on both routes' train latents (with the
     deterministic augmentation views; ``cfg.route_weights`` repeats a route's
     latents in the mix), best-5 checkpoint average by dev WER over both
     routes released;
  6. evaluation of the released CSLR on dev and test of each route; the
     metrics table (WER, BLEU-1..4, ROUGE-L) is printed and written as
     ``report.md`` / ``metrics.json``.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import jax
from absl import flags
from flax import nnx

from signx_jax import atomic, cli
from signx_jax.data import shards
from signx_jax.data.augment import AugmentedSource
from signx_jax.data.vocab import Vocabulary
from signx_jax.latent_cache import ConcatSource, write_latents
from signx_jax.models.video2pose import video_to_latent
from signx_jax.train import faults, tasks
from signx_jax.train.fit import fit, released_params

_CONFIG = _WORKDIR = None
log = logging.getLogger("signx.main")
SPLITS = ("train", "dev", "test")
ROUTES = ("pose", "video")


def _define_flags() -> None:
    """Defined only when run as a program: importing this module (tests) must not
    claim absl's global flag names."""
    global _CONFIG, _WORKDIR
    _CONFIG = cli.define_config("configs/demo.py", "Pipeline config.")
    _WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "Where everything is written.")


def config_problems(cfg) -> list[str]:
    """Every problem of the pipeline config: each stage's (``faults.validate_config``),
    the corpus generator's and the routes'. Checked before any work is done."""
    problems = []
    for stage in ("stage1", "stage2", "stage3"):
        problems += [f"{stage}: {p}" for p in faults.config_problems(cfg[stage])]
    corpus = cfg.corpus
    for key in ("num_train", "num_dev", "num_test"):
        if int(corpus[key]) <= 0:
            problems.append(f"corpus.{key} must be > 0, got {corpus[key]}")
    for key in corpus.keys():
        low = str(key)
        if low.startswith("min_") and f"max_{low[4:]}" in corpus:
            lo, hi = corpus[key], corpus[f"max_{low[4:]}"]
            if lo > hi:
                problems.append(f"corpus.{key}={lo} is above corpus.max_{low[4:]}={hi}")
    unknown = [r for r in cfg.routes if r not in ROUTES]
    if unknown or not cfg.routes:
        problems.append(f"routes={tuple(cfg.routes)}: expected one or more of {ROUTES}")
    for route, weight in cfg.get("route_weights", {}).items():
        if route not in ROUTES or int(weight) < 1 or int(weight) != weight:
            problems.append(f"route_weights.{route}={weight}: a route of {ROUTES}, weight >= 1")
    if int(cfg.keep_best) < 1:
        problems.append(f"keep_best must be >= 1, got {cfg.keep_best}")
    return problems


def generate_corpus(corpus_cfg, data_dir: str) -> None:
    """Pose shards of every split + vocab.json, renamed into ``data_dir`` only when
    all of it is written: a crash leaves no corpus, never a part of one."""
    if _corpus_complete(data_dir):
        log.info("corpus already in %s", data_dir)
        return
    if os.path.exists(data_dir):
        log.warning("%s is incomplete (a run stopped while writing it): generating it again",
                    data_dir)  # fmt: skip
    from data_pipelines.synthetic import generate_split

    with atomic.directory(data_dir) as tmp_dir:
        train_glosses = []
        for split in SPLITS:
            records = []
            for clip in generate_split(corpus_cfg, split):
                records.append(clip)
                if split == "train":
                    train_glosses.append(clip["gloss"])
            shards.write_split(
                records, tmp_dir, split, extra_manifest={"generator": corpus_cfg.to_dict()}
            )
        Vocabulary.build(train_glosses).save(os.path.join(tmp_dir, "vocab.json"))


def _corpus_complete(data_dir: str) -> bool:
    """Every split opens as a whole and vocab.json loads."""
    if not all(shards.split_complete(data_dir, s) for s in SPLITS):
        return False
    try:
        Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    except (OSError, ValueError):
        return False
    return True


def _sources(data_dir: str) -> dict:
    return {s: shards.open_split(data_dir, s) for s in SPLITS}


def _finished(result):
    """Stop the whole job after a preemption: the next launch resumes it."""
    if result.status != "done":
        log.warning("%s stopped at step %d (%s); rerun the same command to resume",
                    result.trainer.task.name, result.step, result.status)  # fmt: skip
        raise SystemExit(0)
    return result.trainer


def run_stage1(cfg, data, vocab, workdir):
    task = tasks.Pose2GlossTask(cfg, len(vocab))
    result = fit(cfg, task, train_source=data["train"], dev_source=data["dev"], vocab=vocab,
                 workdir=workdir)  # fmt: skip
    return _finished(result)


def run_stage2(cfg, data, vocab, workdir, stage1_params):
    stats = tasks.pose_statistics(data["train"])
    task = tasks.Video2PoseTask(cfg, len(vocab), stage1_params=stage1_params, pose_stats=stats)
    result = fit(cfg, task, train_source=data["train"], dev_source=data["dev"], vocab=vocab,
                 workdir=workdir)  # fmt: skip
    return _finished(result)


def build_latent_cache(cfg, data, vocab, latent_dir, stage1, stage2) -> None:
    p2g = stage1.model()
    v2p = stage2.model().video2pose

    @jax.jit
    def pose_route(batch):
        return p2g.encode(
            batch["poses"], batch["presence"], batch["frame_mask"], deterministic=True
        )

    @jax.jit
    def video_route(batch):
        return video_to_latent(v2p, p2g, batch["rgb"], batch["frame_mask"])

    routes = {"pose": (pose_route, ("poses",)), "video": (video_route, ("rgb",))}
    for route in cfg.routes:
        encode, features = routes[route]
        out_dir = os.path.join(latent_dir, route)
        for split in SPLITS:
            if shards.split_complete(out_dir, split):
                continue  # (write_split writes the manifest last: a manifest is a whole split)
            write_latents(
                encode, data[split], vocab, out_dir, split, mesh=stage1.mesh, features=features,
                batch_size=cfg.stage3.data.eval_batch_size, buckets=cfg.stage3.data.buckets,
                max_label_len=cfg.stage3.data.max_label_len, extra_manifest={"route": route},
            )  # fmt: skip


def run_stage3(cfg, vocab, latent_dir, workdir):
    s3 = cfg.stage3
    lat = {
        r: {s: shards.open_split(os.path.join(latent_dir, r), s) for s in SPLITS}
        for r in cfg.routes
    }
    # A route with weight k has its train latents k times in the mix (each copy gets
    # its own augmentation views); checkpoints are ranked on both routes' dev WER.
    weights = cfg.get("route_weights", {})
    repeated = [lat[r]["train"] for r in cfg.routes for _ in range(int(weights.get(r, 1)))]
    train = AugmentedSource(ConcatSource(repeated), num_views=s3.data.num_views, seed=s3.seed)
    dev = ConcatSource([lat[r]["dev"] for r in cfg.routes])
    task = tasks.CSLRTask(s3, len(vocab), class_counts=vocab.counts)
    result = fit(s3, task, train_source=train, dev_source=dev, vocab=vocab, workdir=workdir)
    trainer = _finished(result)
    state, steps = released_params(workdir, trainer, cfg.keep_best)
    trainer.restore_state(state)
    log.info("released CSLR = mean of checkpoints %s", steps)
    return trainer, lat


def main(argv) -> None:
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax is chatty at INFO
    cfg, workdir = _CONFIG.value, os.path.abspath(_WORKDIR.value)
    problems = config_problems(cfg)
    if problems:  # before the corpus: a typo must not cost a generated corpus first
        raise faults.ConfigError("invalid config:\n  " + "\n  ".join(problems))
    t0 = time.time()
    data_dir = os.path.join(workdir, "data")
    generate_corpus(cfg.corpus, data_dir)
    vocab = Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    data = _sources(data_dir)
    stage1 = run_stage1(cfg.stage1, data, vocab, os.path.join(workdir, "stage1"))
    stage2 = run_stage2(cfg.stage2, data, vocab, os.path.join(workdir, "stage2"),
                        nnx.state(stage1.model(), nnx.Param))  # fmt: skip
    latent_dir = os.path.join(workdir, "latents")
    build_latent_cache(cfg, data, vocab, latent_dir, stage1, stage2)
    stage3, lat = run_stage3(cfg, vocab, latent_dir, os.path.join(workdir, "stage3"))
    from signx_jax.evaluate import score_and_report

    methods = tuple(dict.fromkeys(("ctc_greedy", cfg.stage3.decode.method)))
    table = score_and_report(stage3, lat, vocab, os.path.join(workdir, "report"),
                             dataset="synthetic", methods=methods)  # fmt: skip
    print(table)
    args = " ".join(sys.argv[1:]) or "--config configs/demo.py --workdir runs/demo"
    command = f"python -m signx_jax.main {args}"
    print(f"\nTotal wall time {time.time() - t0:.0f}s. Reproduce: {command}")


if __name__ == "__main__":
    cli.run(main, _define_flags)
