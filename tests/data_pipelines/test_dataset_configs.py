"""Each real dataset's stage configs read and train on what its converter writes
(issue 6: "every stage trains on it with a config change only").

Per dataset: the publisher-format fixture (``fixtures.py``) with pose files for
every clip -> ``convert`` (RGB at the tiny Video2Pose ``image_size``). Then
``configs/<dataset>_{pose2gloss,video2pose,cslr}.py:tiny``, with only the run-size
keys overridden (batch, buckets, label length, steps, mesh):

* fast: each config's input pipeline (as ``fit`` builds it) reads the shards, and
  the batches have the shapes its model takes; stage 3 reads a latent cache;
* slow: 2 train steps per stage and dataset, chained as the main job
  chains them (stage 1 -> stage 2 against it -> latent cache -> stage 3). The
  stage configs of the five datasets differ only in ``dataset`` (checked), and the
  output vocabulary is padded to one size, so one Trainer per stage serves all five.

WLASL also has ``configs/wlasl_isolated.py`` (stage 3 as one class per clip): it
reads a latent cache of the converted WLASL fixture (fast).
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from data_pipelines.datasets.common import Report, list_frames
from data_pipelines.datasets.convert import DATASETS, convert, list_dataset
from signx_jax.data import pipeline, shards
from signx_jax.data.augment import AugmentedSource
from signx_jax.data.vocab import Vocabulary
from signx_jax.latent_cache import write_latents
from signx_jax.schema import PAD_ID, POSE_DIM
from signx_jax.sharding import to_global
from signx_jax.train import faults, tasks
from signx_jax.train.loop import Trainer, mesh_from_config
from tests.data_pipelines import fixtures as F

WRITERS = {
    "phoenix2014t": F.write_phoenix2014t,
    "phoenix2014": F.write_phoenix2014,
    "csl_daily": F.write_csl_daily,
    "wlasl": F.write_wlasl,
    "asllrp": F.write_asllrp,
}
STAGES = ("pose2gloss", "video2pose", "cslr")
TASKS = {"pose2gloss": tasks.Pose2GlossTask, "video2pose": tasks.Video2PoseTask}
VOCAB = 24  # model output vocabulary, >= every fixture's vocab.json
BATCH = 2
BUCKET = 32  # every fixture clip has <= 31 frames
MAX_LABEL_LEN = 8  # every fixture gloss sequence has <= 4 glosses
STEPS = 2


def config_file(dataset: str, stage: str, arg: str | None = "tiny"):
    """``--config configs/<dataset>_<stage>.py:<arg>``."""
    return importlib.import_module(f"configs.{dataset}_{stage}").get_config(arg)


def stage_config(dataset: str, stage: str, data_dir) -> object:
    """The tiny config, run-size keys made small, reading ``data_dir``."""
    cfg = config_file(dataset, stage)
    assert (cfg.dataset, cfg.stage) == (dataset, stage)
    cfg.data.update(batch_size=BATCH, eval_batch_size=BATCH, buckets=(BUCKET,))
    cfg.data.max_label_len = MAX_LABEL_LEN
    cfg.data["latent_dir" if stage == "cslr" else "data_dir"] = str(data_dir)
    cfg.train.update(total_steps=STEPS, log_every=1, eval_every=0, async_checkpoints=False)
    cfg.mesh.update(data=1, fsdp=1, tensor=1)
    return cfg


def convert_fixture(dataset: str, tmp_path):
    """Fixture files + pose files for every clip -> shards in tmp_path/out."""
    src = tmp_path / "src"
    WRITERS[dataset](src)
    image_size = config_file(dataset, "video2pose").model.image_size
    for split, sources in list_dataset(dataset, src, Report(dataset)).items():
        for clip in sources:
            n = len(list_frames(clip.frames_dir))  # the whole recording's, for windows
            F.write_poses(src / "poses", split, clip.media_key, n)
    out = tmp_path / "out"
    report = convert(dataset, src, out, poses_root=src / "poses", rgb_size=image_size)
    assert report.written["train"] >= BATCH and report.written["dev"] >= 1, report.summary()
    return out


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    base = tmp_path_factory.mktemp("converted")
    return {dataset: convert_fixture(dataset, base / dataset) for dataset in DATASETS}


def splits_of(data_dir) -> list[str]:
    return [s for s in ("train", "dev", "test") if (data_dir / f"{s}.manifest.json").is_file()]


def open_split(cfg, split: str):
    """The split a stage reads (stage 3: the latent views, as main builds them)."""
    source = shards.open_split(cfg.data.latent_dir or cfg.data.data_dir, split)
    if cfg.stage == "cslr" and split == cfg.data.train_split:
        return AugmentedSource(source, num_views=cfg.data.num_views, seed=cfg.seed)
    return source


def train_batches(cfg, features, vocab):
    """The train iterator ``fit`` builds from ``cfg.data``."""
    return pipeline.make_train_iterator(
        open_split(cfg, cfg.data.train_split), vocab, batch_size=cfg.data.batch_size,
        buckets=cfg.data.buckets, seed=cfg.seed, features=features,
        max_label_len=cfg.data.max_label_len, window=cfg.data.train_window or None,
    )  # fmt: skip


def write_cache(encode, cfg, vocab, latent_dir, mesh) -> None:
    """Every split of ``cfg``'s shards -> latent records (the main job's latents step)."""
    for split in splits_of(Path(cfg.data.data_dir)):
        write_latents(
            encode, shards.open_split(cfg.data.data_dir, split), vocab, str(latent_dir), split,
            mesh=mesh, features=("poses",), batch_size=cfg.data.eval_batch_size,
            buckets=cfg.data.buckets, max_label_len=cfg.data.max_label_len,
        )  # fmt: skip


def same_but_dataset(configs) -> bool:
    """The configs are one config with another ``dataset`` (and data paths)."""
    dicts = []
    for cfg in configs:
        d = cfg.to_dict()
        d.pop("dataset")
        d["data"].pop("data_dir"), d["data"].pop("latent_dir")
        dicts.append(d)
    return all(d == dicts[0] for d in dicts)


def test_every_dataset_has_a_config_per_stage():
    assert set(WRITERS) == set(DATASETS)
    for dataset in DATASETS:
        for stage in STAGES:
            cfg = config_file(dataset, stage, None)
            assert (cfg.dataset, cfg.stage, cfg.model.size) == (dataset, stage, "base")
        latent = {config_file(dataset, s, "base").model.latent_dim for s in ("pose2gloss", "cslr")}
        assert len(latent) == 1  # stage 3 reads stage 1's latents
    for stage in STAGES:  # a config change only: the dataset name (WLASL: one gloss a clip)
        configs = [config_file(dataset, stage, "base") for dataset in DATASETS]
        wlasl = configs[DATASETS.index("wlasl")]
        assert wlasl.data.max_label_len == 1
        wlasl.data.max_label_len = configs[0].data.max_label_len
        assert same_but_dataset(configs)


@pytest.mark.parametrize("dataset", DATASETS)
def test_stage_configs_read_the_converted_shards(dataset, converted):
    data_dir = converted[dataset]
    vocab = Vocabulary.load(str(data_dir / "vocab.json"))
    # The configs' own label length fits every clip (WLASL's is 1: one gloss per clip).
    max_label_len = min(config_file(dataset, s).data.max_label_len for s in STAGES)
    for split in splits_of(data_dir):
        records = shards.open_split(str(data_dir), split)
        for i in range(len(records)):
            assert len(records[i]["gloss"].split()) <= max_label_len
    for stage, task in TASKS.items():
        cfg = stage_config(dataset, stage, data_dir)
        batch = next(train_batches(cfg, task.features, vocab))
        t = batch["frame_mask"].shape[1]  # BUCKET, or the extra one of the longest clips
        assert t in (BUCKET, 64) and t >= batch["lengths"].max()
        assert batch["poses"].shape == (BATCH, t, POSE_DIM)
        assert batch["presence"].any() and batch["label_lengths"].min() >= 1
        assert batch["labels"].max() < len(vocab)
        if stage == "video2pose":
            size = cfg.model.image_size
            assert batch["rgb"].shape == (BATCH, t, size, size, 3)

    # Stage 3 on a latent cache of the stage-1 latent width (a stand-in encoder).
    latent_dir = data_dir.parent / "stub_latents"
    cfg = stage_config(dataset, "cslr", latent_dir)
    dim = cfg.model.latent_dim
    cache_cfg = stage_config(dataset, "video2pose", data_dir)
    encode = lambda b: jnp.ones(b["frame_mask"].shape + (dim,))  # noqa: E731
    write_cache(encode, cache_cfg, vocab, latent_dir, mesh_from_config(cache_cfg.mesh))
    batch = next(train_batches(cfg, tasks.CSLRTask.features, vocab))
    t = batch["frame_mask"].shape[1]
    assert t in (BUCKET, 64) and batch["latent"].shape == (BATCH, t, dim) and batch["latent"].any()
    if dataset == "asllrp":  # the sign-level spans reach stage 3 (GlossAlign's input)
        assert (batch["gloss_spans"][batch["labels"] != PAD_ID] >= 0).all()


def test_wlasl_isolated_config_reads_the_converted_shards(converted):
    """configs/wlasl_isolated.py (stage 3, one class per clip) on a latent cache of
    the converted WLASL fixture: one label a clip, a finite loss, every dev clip scored."""
    from configs.wlasl_isolated import get_config
    from signx_jax.train.isolated import IsolatedTask

    data_dir = converted["wlasl"]
    vocab = Vocabulary.load(str(data_dir / "vocab.json"))
    latent_dir = data_dir.parent / "isolated_latents"
    cfg = get_config("tiny")
    cfg.data.update(batch_size=BATCH, eval_batch_size=BATCH, buckets=(BUCKET,))
    cfg.data.latent_dir = str(latent_dir)
    dim = cfg.model.latent_dim
    cache_cfg = stage_config("wlasl", "video2pose", data_dir)
    encode = lambda b: jnp.ones(b["frame_mask"].shape + (dim,))  # noqa: E731
    write_cache(encode, cache_cfg, vocab, latent_dir, mesh_from_config(cache_cfg.mesh))

    task = IsolatedTask(cfg, len(vocab))
    batch = next(train_batches(cfg, task.features, vocab))
    assert batch["labels"].shape == (BATCH, 1) and (batch["label_lengths"] == 1).all()
    assert (batch["labels"] >= len(Vocabulary([]))).all()  # a gloss, never a special id
    model = task.build_model(nnx.Rngs(0))
    loss, _ = task.loss_fn(model, {}, jax.tree.map(jnp.asarray, batch), 0)
    assert math.isfinite(float(loss))
    dev = shards.open_split(str(latent_dir), cfg.data.dev_split)
    it = pipeline.make_eval_iterator(
        dev, vocab, batch_size=BATCH, buckets=(BUCKET,), features=task.features,
        max_label_len=cfg.data.max_label_len,
    )  # fmt: skip
    outputs = [jax.device_get(task.eval_fn(model, {}, jax.tree.map(jnp.asarray, b))) for b in it]
    assert task.summarize_eval(outputs, vocab, source=dev)["num_clips"] == len(dev)


def _train(trainer, cfg, vocab) -> None:
    it = train_batches(cfg, trainer.task.features, vocab)
    for _ in range(STEPS):
        batch, _ = faults.sanitize_batch(next(it), cfg.data.nonfinite_inputs)
        metrics = trainer.train_step(to_global(batch, trainer.mesh))
        assert math.isfinite(float(metrics["loss"])), (cfg.dataset, cfg.stage)


@pytest.mark.slow  # 1-1.5 min with a warm compilation cache; cold, compiling takes ~7 min here
def test_stage_configs_train_on_the_converted_shards(converted):
    vocabs = {d: Vocabulary.load(str(out / "vocab.json")) for d, out in converted.items()}
    assert max(len(v) for v in vocabs.values()) <= VOCAB
    cfgs = {s: {d: stage_config(d, s, converted[d]) for d in DATASETS} for s in STAGES}
    for dataset in DATASETS:  # stage 3 reads its dataset's latent cache
        cfgs["cslr"][dataset].data.latent_dir = str(converted[dataset].parent / "latents")
    for stage in STAGES:  # so one Trainer per stage serves every dataset
        assert same_but_dataset(cfgs[stage].values())

    first = DATASETS[0]
    stage1 = Trainer(
        cfgs["pose2gloss"][first], tasks.Pose2GlossTask(cfgs["pose2gloss"][first], VOCAB)
    )
    for dataset in DATASETS:
        _train(stage1, cfgs["pose2gloss"][dataset], vocabs[dataset])

    p2g = stage1.model()
    v2p_cfg = cfgs["video2pose"][first]
    stage2 = Trainer(v2p_cfg, tasks.Video2PoseTask(v2p_cfg, VOCAB, nnx.state(p2g, nnx.Param)))
    for dataset in DATASETS:
        _train(stage2, cfgs["video2pose"][dataset], vocabs[dataset])

    encode = jax.jit(
        lambda b: p2g.encode(b["poses"], b["presence"], b["frame_mask"], deterministic=True)
    )
    for dataset in DATASETS:
        latent_dir = converted[dataset].parent / "latents"
        cfg = cfgs["video2pose"][dataset]
        write_cache(encode, cfg, vocabs[dataset], latent_dir, stage1.mesh)
        first_rec = shards.open_split(str(latent_dir), "train")[0]
        assert np.isfinite(first_rec["latent"]).all()

    cslr_cfg = cfgs["cslr"][first]
    stage3 = Trainer(cslr_cfg, tasks.CSLRTask(cslr_cfg, VOCAB))
    for dataset in DATASETS:
        _train(stage3, cfgs["cslr"][dataset], vocabs[dataset])
