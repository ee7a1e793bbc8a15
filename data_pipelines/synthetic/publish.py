"""The synthetic corpus in a real dataset's publisher layout (the dress rehearsal).

``write_layout(dataset, clips, root)`` writes clips (``schema.Clip`` dicts with
``rgb``) the way each publisher ships its download, so that
``python -m data_pipelines.datasets convert --dataset <dataset> --root <root>
--poses_root <root>/poses`` reads them back exactly as it reads the real files
(the README's ``--root`` layouts):

==============  ==================================================================
phoenix2014t    PHOENIX-2014-T/annotations/manual/PHOENIX-2014-T.<split>.corpus.csv,
                PHOENIX-2014-T/features/fullFrame-210x260px/<split>/<name>/images0001.png
phoenix2014     phoenix-2014-multisigner/annotations/manual/<split>.corpus.csv,
                phoenix-2014-multisigner/features/fullFrame-210x260px/<split>/<id>/1/*.png
csl_daily       sentence_label/{video_map,split_1}.txt, sentence/frames_512x512/<name>/*.jpg
wlasl           WLASL_v0.3.json, frames/<video_id>/*.jpg (one gloss per clip)
asllrp          xml_extract_<split>.xml (the DAI 2 export: one COLLECTION per signer,
                each sign's frames), frames/<COLLECTION NAME>-<ID>/*.jpg, splits.txt
==============  ==================================================================

Poses go to ``<root>/poses/<split>/<key>.npz``: one array per stream plus
``<stream>_presence`` (``data_pipelines/datasets/pose_files.py``). The
converter then rebuilds the same records (poses, presence, frames, glosses;
spans only where the publisher has them), so a recipe trained on the
rehearsal layout exercises every line a real download goes through.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from signx_jax import schema

LAYOUTS = ("phoenix2014t", "phoenix2014", "csl_daily", "wlasl", "asllrp")
WLASL_SPLITS = {"train": "train", "dev": "val", "test": "test"}


def _frames(folder: Path, rgb: np.ndarray, pattern: str, first: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(np.asarray(rgb, np.uint8)):
        Image.fromarray(frame).save(folder / pattern.format(i + first), quality=95)


def _poses(poses_root: Path, split: str, key: str, clip: dict) -> None:
    arrays = {}
    for k, stream in enumerate(schema.STREAM_NAMES):
        arrays[stream] = np.asarray(clip["poses"][stream], np.float32)
        arrays[f"{stream}_presence"] = np.asarray(clip["presence"])[:, k]
    (poses_root / split).mkdir(parents=True, exist_ok=True)
    np.savez(poses_root / split / f"{key}.npz", **arrays)


def _check(clip: dict) -> None:
    if clip.get("rgb") is None:
        raise ValueError(
            f"clip {clip['clip_id']}: the publisher layouts hold frames; "
            "generate the corpus with rgb=True"
        )


def write_layout(dataset: str, clips: dict[str, Iterable[dict]], root: str | Path) -> dict:
    """Write ``clips`` ({split: clips}) under ``root`` in ``dataset``'s layout.

    Returns {split: [(key, gloss)]}: what a correct conversion must read back.
    """
    if dataset not in LAYOUTS:
        raise ValueError(f"write_layout: no publisher layout for {dataset!r}; one of {LAYOUTS}")
    root = Path(root)
    poses_root = root / "poses"
    written: dict[str, list[tuple[str, str]]] = {}
    tables: dict[str, list[str]] = {}
    signers: dict[str, int] = {}
    wlasl_index: dict[str, list[dict]] = {}
    for split, split_clips in clips.items():
        written[split] = []
        for clip in split_clips:
            _check(clip)
            key = _write_clip(dataset, root, split, clip, tables, signers, wlasl_index)
            _poses(poses_root, split, key, clip)
            written[split].append((key, clip["gloss"]))
    _write_tables(dataset, root, tables, wlasl_index)
    return written


def _write_clip(dataset, root, split, clip, tables, signers, wlasl_index) -> str:
    name, signer, gloss, rgb = clip["clip_id"], clip["signer"], clip["gloss"], clip["rgb"]
    if dataset == "phoenix2014t":
        base = root / "PHOENIX-2014-T"
        _frames(base / "features" / "fullFrame-210x260px" / split / name, rgb, "images{:04d}.png")
        row = f"{name}|{name}/1/*.png|-1|-1|{signer}|{gloss}|{clip.get('translation', '')}"
        tables.setdefault(split, ["name|video|start|end|speaker|orth|translation"]).append(row)
        return name
    if dataset == "phoenix2014":
        base = root / "phoenix-2014-multisigner"
        folder = base / "features" / "fullFrame-210x260px" / split / name / "1"
        _frames(folder, rgb, name + ".avi_pid0_fn{:06d}-0.png", first=0)
        tables.setdefault(split, ["id|folder|signer|annotation"]).append(
            f"{name}|{name}/1/*.png|{signer}|{gloss}"
        )
        return name
    if dataset == "csl_daily":
        person = signers.setdefault(signer, len(signers))
        index = len(tables.get("video_map", [""])) - 1
        key = f"S{index:06d}_P{person:04d}_T00"
        _frames(root / "sentence" / "frames_512x512" / key, rgb, "{:06d}.jpg", first=0)
        words = clip.get("translation", "") or gloss
        chars = " ".join(words.replace(" ", ""))
        tables.setdefault("video_map", ["index|name|length|gloss|char|word|postag"]).append(
            f"{index}|{key}|{len(rgb)}|{gloss}|{chars}|{words}|n"
        )
        tables.setdefault("split_1", ["name|split"]).append(f"{key}|{split}")
        return key
    if dataset == "asllrp":
        return _asllrp_utterance(root, split, clip, tables)
    # wlasl: one instance per clip, its gloss the class.
    if len(gloss.split()) != 1:
        raise ValueError(f"clip {name}: WLASL is isolated, one gloss per clip; got {gloss!r}")
    _frames(root / "frames" / name, rgb, "{:04d}.jpg")
    person = signers.setdefault(signer, len(signers))
    instances = wlasl_index.setdefault(gloss, [])
    instances.append(
        {"bbox": [0, 0, rgb.shape[2], rgb.shape[1]], "fps": 25, "frame_start": 1,
         "frame_end": -1, "instance_id": len(instances), "signer_id": person,
         "source": "synthetic", "split": WLASL_SPLITS[split], "url": "", "variation_id": 0,
         "video_id": name}
    )  # fmt: skip
    return name


def _asllrp_utterance(root: Path, split: str, clip: dict, tables: dict) -> str:
    """One UTTERANCE of the DAI 2 export (``data_pipelines/datasets/asllrp.py``): its
    frames already cut (``frames/<clip id>/``), START/END_FRAME inclusive, each SIGN's
    DOMINANT_HAND frames inclusive; the clip id is ``<COLLECTION NAME>-<ID>``."""
    collection = f"synthetic_{clip['signer']}"
    uid = len(tables.get("splits", [""])) - 1
    key = f"{collection}-{uid}"
    _frames(root / "frames" / key, clip["rgb"], "{:05d}.jpg")
    glosses = clip["gloss"].split()
    spans = np.asarray(clip["gloss_spans"]).reshape(-1, 2)
    if len(spans) != len(glosses):
        raise ValueError(f"clip {clip['clip_id']}: ASLLRP times every sign; "
                         f"{len(glosses)} glosses, {len(spans)} spans")  # fmt: skip
    signs = [(g, int(s), int(e) - 1) for g, (s, e) in zip(glosses, spans, strict=True)]
    tables.setdefault("asllrp", {}).setdefault(split, {}).setdefault(collection, []).append(
        (uid, len(clip["rgb"]) - 1, clip.get("translation", ""), signs)
    )
    tables.setdefault("splits", ["name|split"]).append(f"{key}|{split}")
    return key


def _asllrp_xml(collections: dict) -> ET.ElementTree:
    """{collection name: [(utterance ID, last frame, translation, signs)]} -> the export."""
    quoted = lambda text: f"'{text}'"  # noqa: E731 (the DAI quotes its text values)
    top = ET.Element("SIGNSTREAM_DAI", AUTHOR="BOSTON UNIVERSITY", DOWNLOAD_DATE="synthetic")
    colls = ET.SubElement(top, "COLLECTIONS")
    for number, (name, utterances) in enumerate(collections.items()):
        coll = ET.SubElement(colls, "COLLECTION", ID=str(number), NAME=name)
        media = ET.SubElement(coll, "MEDIA-FILES")
        ET.SubElement(media, "MEDIA-FILE", {"ID": str(number), "FILE-NAME": f"{name}.mp4"})
        tier = coll
        for tag in ("TEMPORAL-PARTITIONS", "TEMPORAL-PARTITION", "SEGMENT-TIERS", "SEGMENT-TIER"):
            tier = ET.SubElement(tier, tag)
        ET.SubElement(tier, "PARTICIPANT").text = quoted(name.removeprefix("synthetic_"))
        utts = ET.SubElement(tier, "UTTERANCES")
        for uid, last, translation, signs in utterances:
            utt = ET.SubElement(utts, "UTTERANCE", ID=str(uid), START_FRAME="0",
                                END_FRAME=str(last))  # fmt: skip
            ET.SubElement(utt, "TRANSLATION").text = quoted(translation)
            manuals = ET.SubElement(utt, "MANUALS")
            for k, (gloss, start, end) in enumerate(signs):
                sign = ET.SubElement(manuals, "SIGN", ID=f"{uid}{k:03d}")
                ET.SubElement(sign, "LABEL").text = quoted(gloss)
                ET.SubElement(sign, "DOMINANT_HAND", START_FRAME=str(start), END_FRAME=str(end))
    return ET.ElementTree(top)


def _write_tables(dataset, root: Path, tables: dict[str, list[str]], wlasl_index) -> None:
    if dataset == "asllrp":
        for split, collections in tables.get("asllrp", {}).items():
            _asllrp_xml(collections).write(root / f"xml_extract_{split}.xml", encoding="utf-8",
                                           xml_declaration=True)  # fmt: skip
        (root / "splits.txt").write_text("\n".join(tables.get("splits", [])) + "\n")
        return
    if dataset == "phoenix2014t":
        ann = root / "PHOENIX-2014-T" / "annotations" / "manual"
        names = {s: f"PHOENIX-2014-T.{s}.corpus.csv" for s in tables}
    elif dataset == "phoenix2014":
        ann = root / "phoenix-2014-multisigner" / "annotations" / "manual"
        names = {s: f"{s}.corpus.csv" for s in tables}
    elif dataset == "csl_daily":
        ann = root / "sentence_label"
        names = {s: f"{s}.txt" for s in tables}
    else:
        entries = [{"gloss": g, "instances": inst} for g, inst in wlasl_index.items()]
        (root / "WLASL_v0.3.json").write_text(json.dumps(entries))
        return
    ann.mkdir(parents=True, exist_ok=True)
    for key, rows in tables.items():
        (ann / names[key]).write_text("\n".join(rows) + "\n")
