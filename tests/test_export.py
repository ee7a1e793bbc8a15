"""The model bundle: written by the main job, loaded without the run, refused when it
does not match (``signx_jax/bundle.py``, ``signx_jax/export.py``)."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from signx_jax import bundle, export, recognize
from tests.runs import tiny_run


@pytest.fixture(scope="module")
def run_dir():
    return tiny_run()


@pytest.fixture(scope="module")
def loaded(run_dir):
    """(from the run directory, from the bundle the main job wrote)."""
    return (recognize.Recognizer(run_dir, routes=("video", "pose")),
            recognize.Recognizer.from_pretrained(os.path.join(run_dir, "bundle")))  # fmt: skip


def test_the_main_job_writes_a_bundle_with_its_card(run_dir):
    path = os.path.join(run_dir, "bundle")
    names = sorted(os.listdir(path))
    assert names == ["README.md", "samples", "samples.json", "signx.json", "stage1.safetensors",
                     "stage2.safetensors", "stage3.safetensors", "vocab.json"]  # fmt: skip
    for name in names:  # readable by others: a bundle is for sharing
        assert os.stat(os.path.join(path, name)).st_mode & 0o044 == 0o044, name
    meta = bundle.read_bundle(path)
    assert meta["routes"] == ["pose", "video"] and set(meta["configs"]) == {
        "stage1", "stage2", "stage3"}  # fmt: skip
    card = open(os.path.join(path, "README.md")).read()
    report = open(os.path.join(run_dir, "report", "report.md")).read().strip()
    assert report in card and "## Intended use and limits" in card
    assert "python -m signx_jax.recognize --model" in card


def test_the_bundle_holds_playable_sample_clips(run_dir):
    """The web demo's samples: the run's first test clips, frame for frame (VP8 is lossy:
    close, not equal), with their reference glosses."""
    from signx_jax.data import shards

    path = os.path.join(run_dir, "bundle")
    samples = json.load(open(os.path.join(path, "samples.json")))
    test = shards.open_split(os.path.join(run_dir, "data"), "test")
    assert len(samples) == min(4, len(test))
    for k, row in enumerate(samples):
        rgb, fps = recognize.read_frames(os.path.join(path, row["file"]), fps=25.0)
        assert row["file"].endswith(".webm") and row["gloss"] == test[k]["gloss"]
        assert rgb.shape == test[k]["rgb"].shape and fps == row["fps"] == test[k]["fps"]
        assert np.abs(rgb.astype(int) - test[k]["rgb"]).mean() < 12
        assert len(row["gloss_spans"]) == len(row["gloss"].split())


def test_bundle_and_run_give_identical_outputs(loaded, run_dir):
    """Round trip: every tensor of every stage, and recognition of real clips per route."""
    from signx_jax.data import shards

    from_run, from_bundle = loaded
    for stage, trainer in from_run.trainers.items():
        a, b = bundle.state_tensors(trainer), bundle.state_tensors(from_bundle.trainers[stage])
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{stage} {key}")
    assert from_bundle.decoders == from_run.decoders
    assert from_bundle.cslr_steps == from_run.cslr_steps
    clip = shards.open_split(os.path.join(run_dir, "data"), "test")[0]
    rgb, fps = np.asarray(clip["rgb"]), clip["fps"]
    one, two = from_run.from_rgb(rgb, fps), from_bundle.from_rgb(rgb, fps)
    np.testing.assert_array_equal(one.latent, two.latent)
    np.testing.assert_array_equal(one.log_probs, two.log_probs)
    assert one.text == two.text
    poses = from_run.poses_from_rgb(rgb)  # any poses will do: the pose route from here
    presence = np.ones((len(poses), 5), bool)
    one = from_run.from_poses(poses, presence, fps)
    two = from_bundle.from_poses(poses, presence, fps)
    np.testing.assert_array_equal(one.log_probs, two.log_probs)


def test_recognize_command_takes_a_bundle(run_dir, tmp_path, capsys):
    from tests.data_pipelines import fixtures

    fixtures.write_holistic_pose(tmp_path / "clip.pose", 24)
    out = tmp_path / "clip.json"
    model = os.path.join(run_dir, "bundle")
    argv = ["--input", str(tmp_path / "clip.pose"), "--route", "pose", "--json", str(out)]
    assert recognize.main(["--model", model, *argv]) == 0
    from_bundle = json.loads(out.read_text())
    assert recognize.main(["--workdir", run_dir, *argv]) == 0
    from_run = json.loads(out.read_text())
    assert from_bundle["workdir"] == model
    for key in ("glosses", "segments", "num_frames", "ctc_frames"):
        assert from_bundle[key] == from_run[key]
    capsys.readouterr()


def _copy(run_dir, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(os.path.join(run_dir, "bundle"), dst)
    return str(dst)


def test_a_bundle_that_does_not_match_is_refused_by_name(run_dir, tmp_path):
    path = _copy(run_dir, tmp_path)
    tensors_path = os.path.join(path, "stage3.safetensors")
    tensors = load_file(tensors_path)
    key = next(k for k in tensors if k.startswith("['params']"))
    tensors[key] = np.zeros((*tensors[key].shape, 2), tensors[key].dtype)
    dropped = sorted(tensors)[-1]
    del tensors[dropped]
    tensors["['params']['not_a_layer']"] = np.zeros(3, np.float32)
    save_file(tensors, tensors_path)
    with pytest.raises(bundle.BundleError) as e:
        recognize.Recognizer.from_pretrained(path, routes=("pose",))
    message = str(e.value)
    assert message.startswith(f"{tensors_path}: does not match this code's cslr model")
    assert key in message and dropped in message and "not_a_layer" in message
    assert "1 missing" in message and "1 mismatching" in message and "1 unexpected" in message


def test_a_bundle_of_another_format_or_route_is_refused(run_dir, tmp_path, capsys):
    path = _copy(run_dir, tmp_path)
    with pytest.raises(recognize.RecognitionError, match="has no \\['nope'\\] route|among"):
        recognize.Recognizer.from_pretrained(path, routes=("nope",))
    meta_path = os.path.join(path, "signx.json")
    meta = json.load(open(meta_path))
    meta["format_version"] = bundle.FORMAT_VERSION + 1
    json.dump(meta, open(meta_path, "w"))
    with pytest.raises(bundle.BundleError, match="bundle format 2, this signx-jax"):
        recognize.Recognizer.from_pretrained(path)
    assert export.main(["--workdir", str(tmp_path / "no-run")]) == 2
    assert "vocab.json: missing" in capsys.readouterr().err
