"""Tests of the synthetic corpus generator: determinism, stream layouts, spans, signers."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from configs.synthetic_corpus import get_config
from data_pipelines.synthetic import corpus, generate_split
from signx_jax import schema


def _cfg(**overrides):
    cfg = get_config("tiny")
    cfg.num_train, cfg.num_dev, cfg.num_test = 3, 2, 2
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


@functools.cache
def _tiny_corpus(seed: int = 0) -> dict[str, list[dict]]:
    return corpus.generate_corpus(_cfg(seed=seed))


def _assert_same(a: dict, b: dict) -> None:
    assert a["gloss"] == b["gloss"] and a["translation"] == b["translation"]
    for name in schema.STREAM_NAMES:
        np.testing.assert_array_equal(a["poses"][name], b["poses"][name])
    np.testing.assert_array_equal(a["presence"], b["presence"])
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    np.testing.assert_array_equal(a["gloss_spans"], b["gloss_spans"])


def test_same_seed_same_clips_and_different_seed_differs():
    first = _tiny_corpus(0)
    again = corpus.generate_corpus(_cfg(seed=0))
    for split in corpus.SPLITS:
        assert len(first[split]) == len(again[split]) > 0
        for a, b in zip(first[split], again[split], strict=True):
            _assert_same(a, b)
    other = _tiny_corpus(1)["train"][0]
    base = first["train"][0]
    assert base["gloss"] != other["gloss"] or not np.array_equal(
        base["poses"]["dwpose"], other["poses"]["dwpose"]
    )
    assert base["poses"]["dwpose"].shape != other["poses"]["dwpose"].shape or not np.allclose(
        base["poses"]["dwpose"], other["poses"]["dwpose"]
    )


def test_clip_depends_on_index_not_on_workers_or_split_size():
    cfg = _cfg(num_train=4, rgb=False, chunksize=1)
    serial = list(generate_split(cfg, "train"))
    cfg_big = _cfg(num_train=6, rgb=False)  # a longer split must not change its prefix
    assert [c["gloss"] for c in list(generate_split(cfg_big, "train"))[:4]] == [
        c["gloss"] for c in serial
    ]
    cfg.num_workers = 2
    parallel = list(generate_split(cfg, "train"))
    for a, b in zip(serial, parallel, strict=True):
        assert a["clip_id"] == b["clip_id"]
        np.testing.assert_array_equal(a["poses"]["smplerx"], b["poses"]["smplerx"])


def test_every_clip_passes_the_schema_with_exact_stream_dims():
    cfg = _cfg()
    for split, clips in _tiny_corpus().items():
        for i, clip in enumerate(clips):
            schema.validate_clip(clip, f"{split}[{i}]")
            num_frames = clip["presence"].shape[0]
            for name, dim in schema.STREAMS:
                assert clip["poses"][name].shape == (num_frames, dim)
                assert clip["poses"][name].dtype == np.float32
            assert clip["rgb"].shape == (num_frames, cfg.image_size, cfg.image_size, 3)
            assert clip["rgb"].dtype == np.uint8
            assert clip["gloss_spans"].dtype == np.int32
            assert clip["dataset"] == cfg.dataset and clip["fps"] == cfg.fps


def _present_frames(clip: dict, stream: str) -> np.ndarray:
    k = schema.STREAM_NAMES.index(stream)
    return clip["poses"][stream][clip["presence"][:, k]]


def test_keypoint_layouts_agree_across_streams():
    clips = [c for cs in _tiny_corpus().values() for c in cs]
    for clip in clips:
        dw = _present_frames(clip, "dwpose").reshape(-1, 128, 3)
        if len(dw):
            # OpenPose-18 wrists (4 = right, 7 = left) are the hand blocks' keypoint 0
            # (18 = left hand, 39 = right hand); nose (0) is face landmark 30 (60 + 30).
            for body_kp, other_kp in ((4, 39), (7, 18), (0, 90)):
                err = np.median(np.abs(dw[:, body_kp, :2] - dw[:, other_kp, :2]))
                assert err < 0.03, (body_kp, other_kp, err)
            assert np.all((dw[..., 2] >= 0) & (dw[..., 2] <= 1))
            # Upper body in the image, legs (knees 9, 12) below it with low scores.
            assert np.median(dw[:, 1, 1]) < 0.5 < np.median(dw[:, 9, 1])
            assert np.median(dw[:, [9, 12], 2]) < 0.3 < np.median(dw[:, [2, 5], 2])
        mp = _present_frames(clip, "mediapipe")
        if len(mp):
            pose = mp[:, :132].reshape(-1, 33, 4)
            right_hand = mp[:, 195:].reshape(-1, 21, 3)
            seen = np.any(right_hand != 0, axis=(1, 2))  # MediaPipe drops occluded hands
            err = np.abs(pose[seen, 16, :2] - right_hand[seen, 0, :2])
            assert np.median(err) < 0.03
            assert np.all((pose[..., 3] >= 0) & (pose[..., 3] <= 1))
            # BlazePose 11 = left shoulder is on the image right of 12 = right shoulder.
            assert np.median(pose[:, 11, 0] - pose[:, 12, 0]) > 0.1


def test_maps_are_valid_depth_and_part_labels():
    cfg = _cfg()
    for clip in _tiny_corpus()["train"]:
        depth = _present_frames(clip, "primedepth")
        seg = _present_frames(clip, "sapiens")
        if len(depth):
            assert depth.min() >= 0 and depth.max() <= 1 and (depth > 0).mean() > 0.1
        if len(seg):
            labels = seg * cfg.num_parts
            np.testing.assert_allclose(labels, np.round(labels), atol=1e-4)
            assert labels.max() <= cfg.num_parts - 1 and len(np.unique(labels)) >= 6


def test_smplerx_arm_rotations_move_and_legs_follow_the_torso():
    clip = _tiny_corpus()["train"][0]
    smpl = _present_frames(clip, "smplerx")
    if not len(smpl):
        pytest.skip("stream missing in this clip")
    right_elbow = smpl[:, 3 + 18 * 3 : 3 + 19 * 3]  # body joint 19 = R_elbow
    assert right_elbow.std(0).max() > 0.1
    jaw = smpl[:, 153:156]
    assert np.abs(jaw).max() < 1.0


def test_dropped_frames_are_zero_and_absent():
    cfg = _cfg(num_train=2, p_drop_frame=0.3, rgb=False)
    for clip in generate_split(cfg, "train"):
        dropped = ~clip["presence"].any(1)
        assert dropped.any()
        for name in schema.STREAM_NAMES:
            assert not np.any(clip["poses"][name][dropped])


def test_gloss_spans_are_ordered_disjoint_and_match_the_sentence():
    cfg = _cfg()
    for clips in _tiny_corpus().values():
        for clip in clips:
            spans = clip["gloss_spans"]
            num_frames = clip["presence"].shape[0]
            assert len(spans) == len(clip["gloss"].split())
            assert np.all(spans[:, 1] > spans[:, 0])
            assert spans[0, 0] >= cfg.min_rest_frames and spans[-1, 1] <= num_frames
            gaps = spans[1:, 0] - spans[:-1, 1]
            assert np.all(gaps >= cfg.min_transition_frames)
            assert np.all(gaps <= cfg.max_transition_frames)


def test_signers_are_disjoint_across_splits():
    signers = {s: {c["signer"] for c in clips} for s, clips in _tiny_corpus().items()}
    assert not signers["train"] & signers["dev"]
    assert not signers["train"] & signers["test"]
    assert not signers["dev"] & signers["test"]
    ids = corpus.signer_ids(_cfg())
    assert signers["train"] <= set(ids["train"])


def test_prototypes_are_unique_but_share_parameters():
    world = corpus.build_world(_cfg())
    recipes = world["recipes"]
    keys = [(r["location"], r["shape"], r["movement"], r["hand_use"]) for r in recipes.values()]
    assert len(set(keys)) == len(keys) == len(world["vocab"])
    # Minimal pairs exist: same place of articulation, different hand shape.
    by_location = {}
    for loc, shape, *_ in keys:
        by_location.setdefault(loc, set()).add(shape)
    assert max(len(shapes) for shapes in by_location.values()) >= 3
    durations = set(world["durations"].values())
    cfg = _cfg()
    assert min(durations) >= cfg.min_sign_frames and max(durations) <= cfg.max_sign_frames


def test_motion_is_smooth_inside_signs():
    clip = _tiny_corpus()["train"][1]
    dw = clip["poses"]["dwpose"].reshape(-1, 128, 3)
    present = clip["presence"][:, 0]
    wrist = dw[:, 4, :2]  # right wrist
    both = present[1:] & present[:-1]
    steps = np.linalg.norm(np.diff(wrist, axis=0), axis=-1)[both]
    # Co-articulated motion: no teleporting between consecutive frames (the
    # image is ~1 m wide: 0.25 per frame at 25 fps would be 6 m/s).
    assert np.median(steps) < 0.05 and steps.max() < 0.25
    assert steps.max() > 0.02  # and the hand does move
