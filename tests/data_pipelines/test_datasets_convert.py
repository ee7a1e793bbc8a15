"""End to end: publisher files -> shards + vocab.json + skipped.json, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data_pipelines.datasets.__main__ import main
from data_pipelines.datasets.common import ConversionError
from data_pipelines.datasets.convert import convert
from tests.data_pipelines import fixtures as F

shards = pytest.importorskip("signx_jax.data.shards")
vocab_mod = pytest.importorskip("signx_jax.data.vocab")


def test_phoenix2014t_to_shards(tmp_path):
    poses = tmp_path / "poses"
    exp = F.write_phoenix2014t(tmp_path / "src", with_poses=poses)
    out = tmp_path / "out"
    report = convert(
        "phoenix2014t", tmp_path / "src", out, poses_root=poses, rgb_size=4, max_frames=6
    )
    assert report.written == {"train": 2, "dev": 1, "test": 1}
    skipped = json.loads((out / "skipped.json").read_text())
    reasons = {s["record"]: s["reason"] for s in skipped["skipped"]}
    assert reasons["05May_2011_Thursday_tagesschau-3545"].startswith("too long: 7 frames")
    assert reasons["empty_frames-1"].startswith("zero-length clip")
    assert reasons["no_frames-1"].startswith("missing frames folder")
    assert any(r.endswith(".csv:5") for r in reasons)
    # Dev/test glosses outside the train vocabulary (tagesschau-3545, the only NORD
    # REGEN clip, is too long, so WOLKE and NEBEL are unseen): each clip is converted
    # and listed with its file:line and the glosses; a summary per split stays.
    assert skipped["num_record_warnings"] == 2
    flagged = {w["record"]: w for w in skipped["record_warnings"]}
    for split, clip_id, glosses in [
        ("dev", "11August_2010_Wednesday_tagesschau-2", "WOLKE"),
        ("test", "25October_2010_Monday_tagesschau-17", "NEBEL"),
    ]:
        assert flagged[clip_id]["split"] == split
        assert flagged[clip_id]["reason"] == (
            f"gloss(es) not in the train vocabulary, read as <unk>: {glosses} "
            f"({exp['csv'][split]}:2)"
        )
        assert clip_id not in reasons
        assert shards.open_split(str(out), split)[0]["clip_id"] == clip_id
    assert skipped["warnings"] == [
        "dev: 1 gloss token(s) not in the train vocabulary (1 types, e.g. ['WOLKE'])",
        "test: 1 gloss token(s) not in the train vocabulary (1 types, e.g. ['NEBEL'])",
    ]
    assert "converted 2 record(s) with a warning" in report.summary()

    vocab = vocab_mod.Vocabulary.load(str(out / "vocab.json"))
    assert "REGEN" in vocab and "NEBEL" not in vocab  # NEBEL only occurs in test
    source = shards.open_split(str(out), "train")
    assert len(source) == 2
    rec = source[0]
    assert rec["clip_id"] == exp["clips"]["train"][0][0] and rec["gloss"] == "REGEN SCHNEE REGION"
    expected = np.load(poses / "train" / rec["clip_id"] / "mediapipe.npy")
    np.testing.assert_allclose(rec["poses"]["mediapipe"], expected, atol=2e-3)  # float16
    assert rec["rgb"].shape == (6, 4, 4, 3)


@pytest.mark.parametrize(
    "dataset,writer,train",
    [
        ("phoenix2014", F.write_phoenix2014, 2),
        ("csl_daily", F.write_csl_daily, 3),
        ("wlasl", F.write_wlasl, 3),
        ("asllrp", F.write_asllrp, 2),
    ],
)
def test_cli_convert(tmp_path, capsys, dataset, writer, train):
    writer(tmp_path / "src")
    out = tmp_path / "out"
    code = main(
        ["convert", "--dataset", dataset, "--root", str(tmp_path / "src"), "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"train={train}" in printed and "skipped.json" in printed
    assert (out / "vocab.json").is_file() and (out / "train.manifest.json").is_file()
    assert len(shards.open_split(str(out), "train")) == train
    if dataset == "asllrp":
        assert shards.open_split(str(out), "train")[0]["gloss_spans"].shape[1] == 2


def test_cli_reports_fatal_errors_in_one_line(tmp_path, capsys):
    F.write_csl_daily(tmp_path / "src")
    (tmp_path / "src" / "sentence_label" / "split_1.txt").write_text("name\nx\n")
    code = main(
        [
            "convert",
            "--dataset",
            "csl_daily",
            "--root",
            str(tmp_path / "src"),
            "--out",
            str(tmp_path / "o"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "split_1.txt:1: header 'name' lacks column(s) ['split']" in err


def test_no_train_clip_is_an_error(tmp_path):
    F.write_csl_daily(tmp_path / "src")
    with pytest.raises(ConversionError, match="no train clip survived"):
        convert("csl_daily", tmp_path / "src", tmp_path / "out", max_frames=1)
    assert json.loads((tmp_path / "out" / "skipped.json").read_text())["num_skipped"] == 8
