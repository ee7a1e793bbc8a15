"""The main job: one dataset's whole SignX recipe as resumable steps.

  python -m signx_jax.main --config configs/demo.py --workdir runs/demo          # synthetic
  python -m signx_jax.main --config configs/phoenix2014t.py:base --workdir runs/phx \
      --config.data.root=/data/PHOENIX-2014-T-release-v3 --config.data.poses_root=/data/poses
  python -m signx_jax.main --config configs/phoenix2014t.py:base --workdir runs/phx \
      --steps stage3                          # one step (a pod launch runs one stage)

The config (every stage, the data, the routes) is checked before any step.
The steps, in order (``STEPS``; each skipped when its output already exists
whole in ``workdir``, so a re-run after a crash resumes where it stopped;
outputs are written atomically, see ``signx_jax/atomic.py``):

  data      ``data.source``: the synthetic corpus (``synthetic``), the publisher's
            files converted (``convert``), or the synthetic corpus written in the
            dataset's publisher layout and converted (``rehearsal``; configs/pipeline.py)
            -> ``data/``: pose shards + vocab.json;
  stage1    Pose2Gloss fusion ViT on the poses (paper section 3.2) -> ``stage1/``;
  stage2    Video2Pose on RGB frames against the frozen stage 1 -> ``stage2/``;
  latents   the latent cache of each route in ``routes`` -> ``latents/<route>/``
            (pose: poses -> stage-1 encoder; video: RGB -> Video2Pose -> encoder,
            what the paper deploys);
  stage3    CSLR trained once on the routes' train latents (with the deterministic
            augmentation views; ``route_weights`` repeats a route's latents in the
            mix), checkpoints ranked by dev WER over the routes; the released model
            is the mean of the best ``keep_best`` -> ``stage3/``;
  evaluate  the released CSLR on dev and test of each route: WER, BLEU-1..4,
            ROUGE-L printed and written to ``report/`` (report.md, metrics.json);
            an isolated stage 3 (``data.task = "isolated"``, WLASL) reports
            top-1 / top-5 per instance and per class instead.

A step left out of ``--steps`` whose output a later step needs is read from
``workdir`` (an error names the step to run when it is missing). ``--steps evaluate``
alone re-scores a finished run: ``--splits`` picks the splits, ``--checkpoint N``
scores checkpoint N instead of the released average. ``--stage3_config`` trains
another stage 3 on the same latents: Sign2Text (``configs/<dataset>_translation.py``)
or WLASL as CSLR (``configs/wlasl_cslr.py``), written to ``stage3_<data.task>/``
and ``report_<data.task>/`` of the same work dir. On a pod or a multi-GPU node
every process runs the same command (``launch/``); ``signx_jax/distributed.py``
joins them before any step.
"""

from __future__ import annotations

import logging
import os
import sys
import time

import jax
from absl import flags
from flax import nnx

from signx_jax import atomic, cli, distributed
from signx_jax import checkpoint as ckpt_lib
from signx_jax.data import shards
from signx_jax.data.augment import AugmentedSource
from signx_jax.data.vocab import Vocabulary
from signx_jax.latent_cache import ConcatSource, write_latents
from signx_jax.models.video2pose import video_to_latent, zero_stream
from signx_jax.schema import STREAM_NAMES
from signx_jax.train import faults, tasks
from signx_jax.train.fit import fit

_CONFIG = _WORKDIR = _STEPS = _SPLITS = _CHECKPOINT = _STAGE3 = None
log = logging.getLogger("signx.main")
SPLITS = ("train", "dev", "test")
ROUTES = ("pose", "video")
STEPS = ("data", "stage1", "stage2", "latents", "stage3", "evaluate")
SOURCES = ("synthetic", "convert", "rehearsal")


def _define_flags() -> None:
    """Defined only when run as a program: importing this module (tests) must not
    claim absl's global flag names."""
    global _CONFIG, _WORKDIR, _STEPS, _SPLITS, _CHECKPOINT, _STAGE3
    _CONFIG = cli.define_config("configs/demo.py", "Pipeline config.")
    _STAGE3 = cli.define_config(None, "A stage-3 config to train instead.", name="stage3_config")
    _WORKDIR = flags.DEFINE_string("workdir", "runs/demo", "Where everything is written.")
    _STEPS = flags.DEFINE_list("steps", list(STEPS), f"Steps to run, a subset of {STEPS}.")
    _SPLITS = flags.DEFINE_list("splits", ["dev", "test"], "Splits the evaluate step scores.")
    _CHECKPOINT = flags.DEFINE_integer(
        "checkpoint", None, "evaluate: this stage-3 checkpoint step, not the released average."
    )


def data_source(cfg) -> str:
    """``data.source`` of a pipeline config; the demo config (no ``data``) is synthetic."""
    return cfg.data.source if "data" in cfg else "synthetic"


def config_problems(cfg, steps=STEPS) -> list[str]:
    """Every problem of the pipeline config: each stage's (``faults.validate_config``),
    the data's and the routes'. Checked before any work is done."""
    problems = [f"--steps: unknown step {s!r}; the steps are {STEPS}" for s in steps
                if s not in STEPS]  # fmt: skip
    for stage in ("stage1", "stage2", "stage3"):
        problems += [f"{stage}: {p}" for p in faults.config_problems(cfg[stage])]
    source = data_source(cfg)
    if source not in SOURCES:
        problems.append(f"data.source={source!r}: expected one of {SOURCES}")
    if source == "convert" and "data" in steps and not cfg.data.root:
        problems.append("data.source='convert' needs --config.data.root=<the publisher's folder>")
    if source in ("synthetic", "rehearsal"):
        problems += _corpus_problems(cfg.corpus)
    unknown = [r for r in cfg.routes if r not in ROUTES]
    if unknown or not cfg.routes:
        problems.append(f"routes={tuple(cfg.routes)}: expected one or more of {ROUTES}")
    for route, weight in cfg.get("route_weights", {}).items():
        if route not in ROUTES or int(weight) < 1 or int(weight) != weight:
            problems.append(f"route_weights.{route}={weight}: a route of {ROUTES}, weight >= 1")
    if cfg.stage3.model.latent_dim != cfg.stage1.model.latent_dim:
        problems.append("stage3.model.latent_dim must be stage 1's (it reads its latents)")
    if int(cfg.keep_best) < 1:
        problems.append(f"keep_best must be >= 1, got {cfg.keep_best}")
    return problems


def _corpus_problems(corpus) -> list[str]:
    problems = []
    for key in ("num_train", "num_dev", "num_test"):
        if int(corpus[key]) <= 0 and not corpus.glosses:
            problems.append(f"corpus.{key} must be > 0, got {corpus[key]}")
    for key in corpus.keys():
        low = str(key)
        if low.startswith("min_") and f"max_{low[4:]}" in corpus:
            lo, hi = corpus[key], corpus[f"max_{low[4:]}"]
            if lo > hi:
                problems.append(f"corpus.{key}={lo} is above corpus.max_{low[4:]}={hi}")
    return problems


# -- step: data ---------------------------------------------------------------------


def prepare_data(cfg, workdir: str) -> str:
    """The ``data`` step: pose shards + vocab.json in ``<workdir>/data``, renamed into
    place only when all of it is written (a crash leaves no data, never a part)."""
    data_dir = os.path.join(workdir, "data")
    if data_complete(data_dir):
        log.info("data already in %s", data_dir)
        return data_dir
    if os.path.exists(data_dir):
        log.warning("%s is incomplete (a run stopped while writing it): preparing it again",
                    data_dir)  # fmt: skip
    source = data_source(cfg)
    if source == "synthetic":
        generate_corpus(cfg.corpus, data_dir)
        return data_dir
    root = cfg.data.root
    if source == "rehearsal":
        root = os.path.join(workdir, "download")
        write_rehearsal(cfg, root)
    poses_root = cfg.data.poses_root or os.path.join(root, "poses")
    from data_pipelines.datasets.convert import convert

    with atomic.directory(data_dir) as tmp_dir:
        report = convert(
            cfg.dataset, root, tmp_dir,
            poses_root=poses_root if os.path.isdir(poses_root) else None,
            rgb_size=int(cfg.data.rgb_size), max_frames=int(cfg.data.max_frames) or None,
            num_classes=int(cfg.data.num_classes) or None,
        )  # fmt: skip
    log.info("converted %s: %s (skipped clips: %s)", root, report.written,
             os.path.join(data_dir, "skipped.json"))  # fmt: skip
    return data_dir


def write_rehearsal(cfg, root: str) -> None:
    """The synthetic corpus in ``cfg.dataset``'s publisher layout, under ``root``."""
    if os.path.isdir(root):
        return
    from data_pipelines.synthetic import generate_split
    from data_pipelines.synthetic.publish import write_layout

    with atomic.directory(root) as tmp:
        clips = {split: generate_split(cfg.corpus, split) for split in SPLITS}
        write_layout(cfg.dataset, clips, tmp)


def generate_corpus(corpus_cfg, data_dir: str) -> None:
    """Pose shards of every split + vocab.json, renamed into ``data_dir`` only when
    all of it is written: a crash leaves no corpus, never a part of one."""
    if data_complete(data_dir):
        log.info("corpus already in %s", data_dir)
        return
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


def data_complete(data_dir: str) -> bool:
    """vocab.json loads, the train split opens as a whole and so does every other
    split with a manifest (a converter writes none for a split without clips)."""
    present = [s for s in SPLITS if os.path.exists(shards.manifest_path(data_dir, s))]
    if "train" not in present or not all(shards.split_complete(data_dir, s) for s in present):
        return False
    try:
        Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    except (OSError, ValueError):
        return False
    return True


def open_splits(data_dir: str, skip_corrupt: bool = False) -> dict:
    """{split: source} of the splits ``data_dir`` holds (``data.skip_corrupt``: a corrupt
    record reads as None and is counted, see ``signx_jax/data/shards.py``)."""
    return {s: shards.open_split(data_dir, s, skip_corrupt=skip_corrupt) for s in SPLITS
            if os.path.exists(shards.manifest_path(data_dir, s))}  # fmt: skip


# -- steps: the three stages and the latent cache -------------------------------------


def _finished(result):
    """Stop the whole job after a preemption: the next launch resumes it."""
    if result.status != "done":
        log.warning("%s stopped at step %d (%s); rerun the same command to resume",
                    result.trainer.task.name, result.step, result.status)  # fmt: skip
        raise SystemExit(0)
    return result.trainer


def restored(cfg, task, workdir: str, *, hint: str):
    """A trainer holding the newest checkpoint of a stage this run does not train."""
    from signx_jax.train.loop import Trainer

    trainer = Trainer(cfg, task)
    try:
        ckpt_lib.restore_latest(trainer, workdir)
    except FileNotFoundError as e:
        raise cli.UsageError(f"{e}: {hint}") from None
    return trainer


def run_stage1(cfg, data, vocab, workdir, *, train: bool = True):
    task = tasks.Pose2GlossTask(cfg, len(vocab))
    if not train:
        return restored(cfg, task, workdir, hint="run --steps stage1 first")
    result = fit(cfg, task, train_source=data["train"], dev_source=data["dev"], vocab=vocab,
                 workdir=workdir)  # fmt: skip
    return _finished(result)


def run_stage2(cfg, data, vocab, workdir, stage1_params, *, train: bool = True):
    if not train:
        task = tasks.Video2PoseTask(cfg, len(vocab))
        return restored(cfg, task, workdir, hint="run --steps stage2 first")
    stats = tasks.pose_statistics(data["train"])
    task = tasks.Video2PoseTask(cfg, len(vocab), stage1_params=stage1_params, pose_stats=stats)
    result = fit(cfg, task, train_source=data["train"], dev_source=data["dev"], vocab=vocab,
                 workdir=workdir)  # fmt: skip
    return _finished(result)


def route_encoders(stage1, stage2=None, zero: str | None = None) -> dict:
    """{route: (jitted encode(batch) -> z [B, T, D], the batch features it reads)}:
    the one definition of the latent routes (stage2 None: the pose route only).

    ``zero`` (paper Table 9): that stream's values are zeroed, in Video2Pose's
    output on the video route, in the input poses (and marked absent) on the pose route.
    """
    p2g = stage1.model()

    def encode_poses(b):
        poses, presence = zero_stream(b["poses"], zero), b["presence"]
        if zero is not None:
            presence = presence.at[..., STREAM_NAMES.index(zero)].set(False)
        return p2g.encode(poses, presence, b["frame_mask"], deterministic=True)

    routes = {"pose": (jax.jit(encode_poses), ("poses",))}
    if stage2 is not None:
        v2p = stage2.model().video2pose
        routes["video"] = (
            jax.jit(lambda b: video_to_latent(v2p, p2g, b["rgb"], b["frame_mask"], zero)),
            ("rgb",),
        )
    return routes


def build_latent_cache(cfg, data, vocab, latent_dir, stage1, stage2, zero=None) -> None:
    encoders = route_encoders(stage1, stage2 if "video" in cfg.routes else None, zero)
    for route in cfg.routes:
        encode, features = encoders[route]
        out_dir = os.path.join(latent_dir, route)
        for split, source in data.items():
            if shards.split_complete(out_dir, split):
                continue  # (write_split writes the manifest last: a manifest is a whole split)
            write_latents(
                encode, source, vocab, out_dir, split, mesh=stage1.mesh, features=features,
                batch_size=cfg.stage3.data.eval_batch_size, buckets=cfg.stage3.data.buckets,
                max_label_len=cfg.stage3.data.max_label_len,
                extra_manifest={"route": route, **({"zero_stream": zero} if zero else {})},
            )  # fmt: skip


def open_latents(cfg, latent_dir: str) -> dict:
    """{route: {split: latent source}}; a missing cache names the step to run."""
    lat = {}
    for route in cfg.routes:
        route_dir = os.path.join(latent_dir, route)
        if not shards.split_complete(route_dir, "train"):
            raise cli.UsageError(f"no latent cache in {route_dir}: run --steps latents first")
        lat[route] = open_splits(route_dir, skip_corrupt=cfg.stage3.data.skip_corrupt)
    return lat


def stage3_task(cfg, vocab, target_vocab=None):
    """The stage-3 task ``data.task`` names: CSLR ("recognition"), isolated or Sign2Text
    ("translation", on the subwords of ``target_vocab``)."""
    kind = cfg.data.get("task", "recognition")
    if kind == "isolated":
        from signx_jax.train.isolated import IsolatedTask

        return IsolatedTask(cfg, len(vocab))
    if kind == "translation":
        from signx_jax.train.translation import TranslationTask

        return TranslationTask(cfg, len(vocab), len(target_vocab), class_counts=vocab.counts)
    if kind != "recognition":
        raise cli.UsageError(
            f"data.task={kind!r}; stage 3 trains 'recognition', 'isolated' or 'translation'"
        )
    pixel = cfg.model.get("frame_encoder")  # paper Table 8: on the RGB frames
    task = tasks.PixelCSLRTask if pixel else tasks.CSLRTask
    return task(cfg, len(vocab), class_counts=vocab.counts)


def run_stage3(cfg, vocab, latent_dir, workdir, *, train=True, checkpoint=None, init_from=None):
    s3 = cfg.stage3
    target_vocab = None
    if s3.model.get("frame_encoder"):  # pixel space (paper Table 8): the RGB clips as such
        data_dir = os.path.join(os.path.dirname(latent_dir), "data")
        lat = {"video": open_splits(data_dir, skip_corrupt=s3.data.skip_corrupt)}
        train_source, dev = lat["video"]["train"], lat["video"]["dev"]
    else:
        lat = open_latents(cfg, latent_dir)
        # A route with weight k has its train latents k times in the mix (each copy gets
        # its own augmentation views); checkpoints are ranked on both routes' dev WER.
        weights = cfg.get("route_weights", {})
        repeated = [lat[r]["train"] for r in cfg.routes for _ in range(int(weights.get(r, 1)))]
        train_source = ConcatSource(repeated)
        if s3.data.get("task") == "translation":  # subword targets, BPE-dropout on train
            from signx_jax.train import translation

            target_vocab = translation.target_vocab_for(s3, train_source, workdir)
            train_source = translation.training_source(s3, train_source, target_vocab)
        else:
            train_source = AugmentedSource(
                train_source, num_views=s3.data.num_views, seed=s3.seed,
                noise_var=s3.data.view_noise_var,
            )  # fmt: skip
        dev = ConcatSource([lat[r]["dev"] for r in cfg.routes])
    task = stage3_task(s3, vocab, target_vocab)
    if train:
        result = fit(s3, task, train_source=train_source, dev_source=dev, vocab=vocab,
                     target_vocab=target_vocab, workdir=workdir, init_from=init_from)  # fmt: skip
        trainer = _finished(result)
    else:
        from signx_jax.train.loop import Trainer

        trainer = Trainer(s3, task)
    if checkpoint is None:
        steps = ckpt_lib.restore_released(trainer, workdir, cfg.keep_best)
    else:
        steps = [ckpt_lib.restore_latest(trainer, workdir, step=checkpoint)]
    log.info("stage-3 CSLR = mean of checkpoints %s", steps)
    return trainer, lat, steps


# -- the job ------------------------------------------------------------------------------


def run(
    cfg,
    workdir: str,
    steps=STEPS,
    *,
    splits=("dev", "test"),
    checkpoint=None,
    stage3_name="",
    latents="latents",
    zero=None,
    init_from=None,
) -> str | None:
    """Run ``steps`` of ``cfg``'s recipe in ``workdir``; returns the metrics table
    when ``evaluate`` ran (on ``splits``, of ``checkpoint`` or the released model).
    ``stage3_name``: "" for the recipe's own stage 3 (``stage3/``, ``report/``), or the
    suffix of another one trained on the same latents (``--stage3_config``).
    The experiments of ``signx_jax/paper.py`` also set ``latents`` (the cache's folder),
    ``zero`` (a stream zeroed on the way to the latents, paper Table 9) and
    ``init_from`` (stage 3 fine-tunes a released model, ``fit``'s argument)."""
    problems = config_problems(cfg, steps)
    if problems:  # before the data: a typo must not cost a generated corpus first
        raise faults.ConfigError("invalid config:\n  " + "\n  ".join(problems))
    trained = [s for s in ("stage1", "stage2", "stage3") if s in steps
               and (s != "stage2" or "video" in cfg.routes)]  # fmt: skip
    log.info("signx: %s of %s (%s data) in %s%s%s", ", ".join(steps), cfg.stage1.dataset,
             data_source(cfg), workdir,
             "".join(f"; {s} {cfg[s].train.total_steps} updates" for s in trained),
             f"; expect {cfg.expected_wall}" if cfg.get("expected_wall")
             and tuple(steps) == STEPS else "")  # fmt: skip
    data_dir = os.path.join(workdir, "data")
    if "data" in steps:
        prepare_data(cfg, workdir)
    elif not data_complete(data_dir):
        raise cli.UsageError(f"no data in {data_dir}: run --steps data first")
    vocab = Vocabulary.load(os.path.join(data_dir, "vocab.json"))
    latent_dir = os.path.join(workdir, latents)
    if {"stage1", "stage2", "latents"} & set(steps):
        data = open_splits(data_dir, skip_corrupt=cfg.stage1.data.skip_corrupt)
        stage1 = run_stage1(cfg.stage1, data, vocab, os.path.join(workdir, "stage1"),
                            train="stage1" in steps)  # fmt: skip
        stage2 = None
        if "video" in cfg.routes and {"stage2", "latents"} & set(steps):
            stage2 = run_stage2(cfg.stage2, data, vocab, os.path.join(workdir, "stage2"),
                                nnx.state(stage1.model(), nnx.Param),
                                train="stage2" in steps)  # fmt: skip
        if "latents" in steps:
            build_latent_cache(cfg, data, vocab, latent_dir, stage1, stage2, zero)
    if not ("stage3" in steps or "evaluate" in steps):
        return None
    kind = cfg.stage3.data.get("task", "recognition")
    suffix = f"_{stage3_name}" if stage3_name else ""
    stage3_dir = os.path.join(workdir, "stage3" + suffix)
    stage3, lat, ckpt_steps = run_stage3(
        cfg, vocab, latent_dir, stage3_dir, train="stage3" in steps, checkpoint=checkpoint,
        init_from=init_from,
    )  # fmt: skip
    if "evaluate" not in steps:
        return None
    from signx_jax.evaluate import accuracy_and_report, decoding_candidates, score_and_report

    report_dir = os.path.join(workdir, "report" + suffix)
    if kind == "isolated":  # one class a clip (WLASL): top-k accuracy per route
        return accuracy_and_report(stage3, lat, vocab, report_dir, dataset=cfg.stage3.dataset,
                                   splits=tuple(splits))  # fmt: skip
    if kind == "translation":  # BLEU-1..4, ROUGE-L
        from signx_jax.train import translation

        target_vocab = translation.target_vocab_for(cfg.stage3, None, stage3_dir)
        return translation.score_splits(stage3, lat, vocab, target_vocab, splits, report_dir)
    decode = cfg.stage3.decode
    methods = tuple(dict.fromkeys(("ctc_greedy", decode.method)))
    candidates = decoding_candidates(decode) if decode.get("choose_on_dev", False) else None
    table, chosen = score_and_report(stage3, lat, vocab, report_dir,
                                     dataset=cfg.stage3.dataset, methods=methods,
                                     splits=tuple(splits), candidates=candidates)  # fmt: skip
    log.info("scored stage-3 checkpoints %s, decoding %s", ckpt_steps, methods)
    if chosen and checkpoint is None:  # the released model's decoder, kept beside it
        atomic.write_json(os.path.join(stage3_dir, "decoding.json"),
                          {"checkpoints": ckpt_steps, "routes": chosen}, indent=2)  # fmt: skip
    if not stage3_name and checkpoint is None:  # the released model as one folder
        from signx_jax.export import export
        from signx_jax.recognize import RecognitionError

        try:
            log.info("model bundle: %s", export(workdir, os.path.join(workdir, "bundle"),
                                                routes=tuple(cfg.routes)))  # fmt: skip
        except RecognitionError as e:  # e.g. stages 1-2 trained elsewhere (a pod's steps)
            log.warning("no model bundle written: %s", e)
    return table


def main(argv) -> None:
    del argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("absl").setLevel(logging.WARNING)  # orbax is chatty at INFO
    distributed.initialize()  # joins the other processes of a pod; alone, a no-op
    cfg, workdir = _CONFIG.value, os.path.abspath(_WORKDIR.value)
    stage3_name = ""
    if _STAGE3.value is not None:  # another stage 3 on the recipe's latents
        cfg.stage3 = _STAGE3.value
        stage3_name = cfg.stage3.data.get("task", "recognition")
    steps = [s for s in STEPS if s in _STEPS.value] + [s for s in _STEPS.value if s not in STEPS]
    t0 = time.time()
    table = run(cfg, workdir, steps, splits=_SPLITS.value, checkpoint=_CHECKPOINT.value,
                stage3_name=stage3_name)  # fmt: skip
    if table is not None:
        print(table)
    args = " ".join(sys.argv[1:]) or "--config configs/demo.py --workdir runs/demo"
    command = f"python -m signx_jax.main {args}"
    print(f"\nTotal wall time {time.time() - t0:.0f}s. Reproduce: {command}")


if __name__ == "__main__":
    cli.run(main, _define_flags)
