"""Each real dataset's TFDS builder wraps the same converter: build it from the
fixture files and compare every example with what ``convert`` writes to the pose
shards (counts per split, glosses / class labels, signer, translation, fps, poses,
presence, gloss spans)."""

from __future__ import annotations

import numpy as np
import pytest

from data_pipelines.datasets.common import Report, list_frames
from data_pipelines.datasets.convert import DATASETS, convert, list_dataset
from signx_jax.schema import STREAM_NAMES
from tests.data_pipelines import fixtures as F

tfds = pytest.importorskip("tensorflow_datasets")
shards = pytest.importorskip("signx_jax.data.shards")
builders = pytest.importorskip("data_pipelines.datasets.tfds_builders")

STREAM_SETS = (("dwpose", "mediapipe"), ("sapiens",), ("smplerx", "primedepth", "dwpose"))

# dataset -> (builder, fixture writer, file format). Both of TFDS's formats are
# covered: ArrayRecord is the one Grain reads by random access.
CASES = {
    "phoenix2014t": (builders.Phoenix2014T, F.write_phoenix2014t, "tfrecord"),
    "phoenix2014": (builders.Phoenix2014, F.write_phoenix2014, "array_record"),
    "csl_daily": (builders.CslDaily, F.write_csl_daily, "tfrecord"),
    "wlasl": (builders.Wlasl, F.write_wlasl, "tfrecord"),
    "asllrp": (builders.Asllrp, F.write_asllrp, "array_record"),
}


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _expected(dataset: str, exp: dict) -> dict[str, dict[str, str]]:
    """split -> {clip_id: gloss}, as the fixture writer says it wrote them."""
    if dataset == "asllrp":
        return {s: {c: exp["clips"][c][0] for c in ids} for s, ids in exp["splits"].items()}
    return {s: dict(clips) for s, clips in exp["clips"].items() if clips}


def _write_poses(dataset: str, root) -> dict[str, tuple[str, ...]]:
    """``<root>/poses`` for every clip with frames, a different stream set per clip."""
    written = {}
    for split, sources in list_dataset(dataset, root, Report(dataset)).items():
        for k, src in enumerate(sources):
            n = len(list_frames(src.frames_dir)) if src.frames_dir is not None else 0
            if n:
                streams = STREAM_SETS[k % len(STREAM_SETS)]
                F.write_poses(root / "poses", split, src.media_key, n, streams=streams)
                written[src.clip_id] = streams
    return written


def _read(builder, split: str, file_format: str) -> dict[str, dict]:
    if file_format == "array_record":
        source = builder.as_data_source(split=split)
        examples = [source[i] for i in range(len(source))]
    else:
        examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
    return {_text(ex["clip_id"]): ex for ex in examples}


def _prepare(builder, manual_dir) -> None:
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=str(manual_dir))
    )


@pytest.mark.parametrize("dataset", list(CASES))
def test_builder_examples_match_the_pose_shards(tmp_path, dataset):
    builder_cls, writer, file_format = CASES[dataset]
    manual = tmp_path / "manual"
    exp = writer(manual)
    streams = _write_poses(dataset, manual)
    builder = builder_cls(data_dir=str(tmp_path / "tfds"), file_format=file_format)
    _prepare(builder, manual)
    convert(dataset, manual, tmp_path / "shards", poses_root=manual / "poses")

    expected = _expected(dataset, exp)
    counts = {s: info.num_examples for s, info in builder.info.splits.items()}
    assert counts == {s: len(clips) for s, clips in expected.items()}
    for split, glosses in expected.items():
        examples = _read(builder, split, file_format)
        assert {cid: _text(ex["gloss"]) for cid, ex in examples.items()} == glosses
        source = shards.open_split(str(tmp_path / "shards"), split)
        records = {r["clip_id"]: r for r in (source[i] for i in range(len(source)))}
        assert examples.keys() == records.keys()
        for cid, ex in examples.items():
            rec = records[cid]
            for key in ("signer", "translation"):
                assert _text(ex[key]) == rec[key], (cid, key)
            assert ex["fps"] == pytest.approx(rec["fps"])
            np.testing.assert_array_equal(ex["presence"], rec["presence"])
            present = {STREAM_NAMES[i] for i in np.flatnonzero(ex["presence"].all(axis=0))}
            assert present == set(streams[cid])
            for name in STREAM_NAMES:
                assert ex["poses"][name].shape == rec["poses"][name].shape
                np.testing.assert_allclose(ex["poses"][name], rec["poses"][name], atol=2e-3)
            spans = rec.get("gloss_spans")
            if dataset == "asllrp":
                assert ex["gloss_spans"].tolist() == spans.tolist() == exp["clips"][cid][1]
            else:
                assert spans is None and ex["gloss_spans"].shape == (0, 2)


def test_wlasl_configs_are_the_first_n_glosses(tmp_path):
    assert builders.Wlasl(data_dir=str(tmp_path / "a")).builder_config.name == "wlasl2000"
    names = [c.name for c in builders.Wlasl.BUILDER_CONFIGS]
    assert names == ["wlasl2000", "wlasl1000", "wlasl300", "wlasl100"]
    F.write_wlasl(tmp_path / "manual")
    config = builders.WlaslConfig(name="wlasl1", num_classes=1)
    builder = builders.Wlasl(config=config, data_dir=str(tmp_path / "tfds"))
    _prepare(builder, tmp_path / "manual")
    counts = {s: info.num_examples for s, info in builder.info.splits.items()}
    assert counts == {"train": 2, "dev": 1}  # "book" only
    glosses = {_text(ex["gloss"]) for ex in tfds.as_numpy(builder.as_dataset(split="train"))}
    assert glosses == {"book"}


def test_builders_are_registered_under_the_cli_names():
    for name in DATASETS:
        assert tfds.builder_cls(name).DATASET == name
    assert not any("pose_clip" in n for n in tfds.list_builders(with_community_datasets=False))
