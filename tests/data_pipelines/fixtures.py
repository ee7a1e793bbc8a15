"""Fixture writers: each real dataset's files in its published format, tiny.

Each writer returns a small dict of what a correct converter must find
(``clips``: split -> [(clip_id, gloss)], ``broken``: record -> reason kind).
Frames are 8 x 8 images so the tests stay fast; poses are deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from signx_jax.schema import STREAM_DIMS

FRAME_HW = (8, 8)


def write_frames(folder: Path, n: int, pattern: str = "images{:04d}.png", first: int = 1) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        value = (i * 37) % 256
        Image.new("RGB", FRAME_HW[::-1], (value, 255 - value, 128)).save(
            folder / pattern.format(i + first)
        )


def stream_array(stream: str, num_frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 1.0, (num_frames, STREAM_DIMS[stream])).astype(np.float32)


def write_poses(
    poses_root: Path, split: str, key: str, num_frames: int, streams=("dwpose", "mediapipe")
) -> dict[str, np.ndarray]:
    """``<poses_root>/<split>/<key>/<stream>.npy`` for the given streams."""
    folder = poses_root / split / key
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for k, s in enumerate(streams):
        out[s] = stream_array(s, num_frames, seed=k + num_frames)
        np.save(folder / f"{s}.npy", out[s])
    return out


# ---------------------------------------------------------------- PHOENIX-2014-T
P14T_HEADER = "name|video|start|end|speaker|orth|translation"
P14T_GOOD = {
    "train": [
        (
            "01April_2010_Thursday_heute-6694",
            "Signer04",
            "REGEN SCHNEE REGION",
            "regen und schnee",
            6,
        ),
        ("01April_2010_Thursday_tagesschau-4334", "Signer01", "MORGEN SONNE", "morgen sonne", 5),
        ("05May_2011_Thursday_tagesschau-3545", "Signer05", "NORD REGEN", "im norden regen", 7),
    ],
    "dev": [("11August_2010_Wednesday_tagesschau-2", "Signer08", "SONNE WOLKE", "sonne", 5)],
    "test": [("25October_2010_Monday_tagesschau-17", "Signer01", "REGEN NEBEL", "nebel", 6)],
}


def write_phoenix2014t(root: Path, with_poses: Path | None = None) -> dict:
    """PHOENIX-2014-T/ under root; frames without the '1/' the csv mentions."""
    base = root / "PHOENIX-2014-T"
    ann = base / "annotations" / "manual"
    ann.mkdir(parents=True)
    frames = base / "features" / "fullFrame-210x260px"
    for split, clips in P14T_GOOD.items():
        lines = [P14T_HEADER]
        for name, signer, orth, trans, n in clips:
            lines.append(f"{name}|{name}/1/*.png|-1|-1|{signer}|{orth}|{trans}")
            write_frames(frames / split / name, n)
            if with_poses is not None:
                write_poses(with_poses, split, name, n)
        if split == "train":
            lines.append("broken_line_only|three|fields")  # line 5: malformed
            lines.append("no_frames-1|no_frames-1/1/*.png|-1|-1|Signer02|REGEN|regen")
            lines.append("empty_frames-1|empty_frames-1/1/*.png|-1|-1|Signer02|REGEN|regen")
            (frames / split / "empty_frames-1").mkdir(parents=True)
        (ann / f"PHOENIX-2014-T.{split}.corpus.csv").write_text("\n".join(lines) + "\n")
    return {
        "clips": {s: [(c[0], c[2]) for c in cs] for s, cs in P14T_GOOD.items()},
        "csv": {s: ann / f"PHOENIX-2014-T.{s}.corpus.csv" for s in P14T_GOOD},
        "frames": frames,
    }


# ---------------------------------------------------------------- PHOENIX-2014
P14_GOOD = {
    "train": [
        ("01April_2010_Thursday_heute_default-0", "Signer04", "__ON__ LIEB ZUSCHAUER __OFF__", 5),
        ("01April_2010_Thursday_heute_default-1", "Signer04", "loc-NORD REGEN IX", 4),
    ],
    "dev": [("01April_2011_Friday_tagesschau_default-7", "Signer01", "SONNE WOLKE", 4)],
    "test": [("01April_2011_Friday_tagesschau_default-9", "Signer05", "__ON__ REGEN", 4)],
}


def write_phoenix2014(root: Path) -> dict:
    """phoenix-2014-multisigner/ with frames inside the '1/' folder, as released."""
    base = root / "phoenix-2014-multisigner"
    ann = base / "annotations" / "manual"
    ann.mkdir(parents=True)
    frames = base / "features" / "fullFrame-210x260px"
    for split, clips in P14_GOOD.items():
        lines = ["id|folder|signer|annotation"]
        for cid, signer, gloss, n in clips:
            lines.append(f"{cid}|{cid}/1/*.png|{signer}|{gloss}")
            pattern = cid.rsplit("_default", 1)[0] + ".avi_pid0_fn{:06d}-0.png"
            write_frames(frames / split / cid / "1", n, pattern, first=0)
        if split == "train":
            lines.append("missing-3|missing-3/1/*.png|Signer01|REGEN")
        (ann / f"{split}.corpus.csv").write_text("\n".join(lines) + "\n")
    return {"clips": {s: [(c[0], c[2]) for c in cs] for s, cs in P14_GOOD.items()}}


# ---------------------------------------------------------------- CSL-Daily
# (name, split, gloss, word-segmented sentence (the ``word`` column), frames)
CSL_GOOD = [
    ("S000000_P0000_T00", "train", "他 家 有 人", "他 家里 有 人", 5),
    ("S000001_P0001_T00", "train", "今天 天气 好", "今天 天气 很 好", 6),
    ("S000002_P0002_T00", "train", "我 去 学校", "我 去 学校", 4),
    ("S000003_P0003_T00", "dev", "他 去 学校", "他 去 学校 了", 5),
    ("S000004_P0004_T00", "test", "我 有 人", "我 有 人", 4),
]


def write_csl_daily(root: Path) -> dict:
    label = root / "sentence_label"
    label.mkdir(parents=True)
    frames = root / "sentence" / "frames_512x512"
    vm = ["index|name|length|gloss|char|word|postag"]
    sp = ["name|split"]
    for i, (name, split, gloss, words, n) in enumerate(CSL_GOOD):
        chars = " ".join(words.replace(" ", ""))  # one character per token
        vm.append(f"{i}|{name}|{n}|{gloss}|{chars}|{words}|n v n")
        sp.append(f"{name}|{split}")
        write_frames(frames / name, n, "{:06d}.jpg", first=0)
    vm.append("5|S000005_P0005_T00|4|我 去|我 去|我 去")  # malformed: 6 fields
    vm.append("6|S000006_P0006_T00|4|我 去|我 去|我 去|r v")  # no frames folder
    vm.append("7|S000007_P0007_T00|0|我 去|我 去|我 去|r v")  # zero length
    sp += ["S000006_P0006_T00|train", "S000007_P0007_T00|train"]
    (label / "video_map.txt").write_text("\n".join(vm) + "\n")
    (label / "split_1.txt").write_text("\n".join(sp) + "\n")
    clips: dict[str, list] = {"train": [], "dev": [], "test": []}
    for name, split, gloss, _, _ in CSL_GOOD:
        clips[split].append((name, gloss))
    return {"clips": clips, "video_map": label / "video_map.txt", "frames": frames}


# ---------------------------------------------------------------- WLASL
def wlasl_instance(video_id: str, split: str, start: int = 1, end: int = -1, **kw) -> dict:
    inst = {
        "bbox": [10, 10, 200, 240],
        "fps": 25,
        "frame_start": start,
        "frame_end": end,
        "instance_id": 0,
        "signer_id": 118,
        "source": "aslbrick",
        "split": split,
        "url": f"http://example.invalid/{video_id}.mp4",
        "variation_id": 0,
        "video_id": video_id,
    }
    inst.update(kw)
    return inst


def write_wlasl(root: Path) -> dict:
    """WLASL_v0.3.json + frames/<video_id>/ (10 frames each)."""
    root.mkdir(parents=True, exist_ok=True)
    index = [
        {
            "gloss": "book",
            "instances": [
                wlasl_instance("69241", "train"),
                wlasl_instance("07069", "train", 3, 8),
                wlasl_instance("07068", "val", 2, -1),
            ],
        },
        {
            "gloss": "drink",
            "instances": [
                wlasl_instance("65539", "train", 1, 10),
                wlasl_instance("65540", "test"),
                wlasl_instance("65541", "train", 5, 30),  # past the 10 frames
                wlasl_instance("65542", "train", 6, 4),  # end before start
            ],
        },
        {"gloss": "computer", "instances": [{"split": "train"}]},  # missing keys
    ]
    for entry in index:
        for inst in entry["instances"]:
            if "video_id" in inst:
                write_frames(root / "frames" / inst["video_id"], 10, "{:04d}.jpg")
    (root / "WLASL_v0.3.json").write_text(json.dumps(index))
    return {
        "json": root / "WLASL_v0.3.json",
        "index": index,
        "clips": {
            "train": [("69241", "book"), ("07069", "book"), ("65539", "drink")],
            "dev": [("07068", "book")],
            "test": [("65540", "drink")],
        },
        "lengths": {"69241": 10, "07069": 6, "07068": 9, "65539": 10, "65540": 10},
    }


# ---------------------------------------------------------------- ASLLRP
SIGNSTREAM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<SIGNSTREAM-DATABASE DATABASE-VERSION="1.0" SIGNSTREAM-VERSION="2" SOURCE="">
<PARTICIPANTS>
<PARTICIPANT AGE="22" GENDER="male" ID="0" LABEL="Mike" LANGUAGE="ASL" NAME="M S">
<BACKGROUND/></PARTICIPANT>
</PARTICIPANTS>
<CODING-SCHEME>
<FIELD CONSTRAINT="free-text" ID="20001" LABEL="english" NAME="English translation">
<VALUE ID="400000" NAME="HOLD"/></FIELD>
<FIELD CONSTRAINT="free-text" ID="10000" LABEL="main gloss" NAME="main gloss">
<VALUE ID="400000" NAME="HOLD"/><VALUE ID="400001" NAME="ONSET"/></FIELD>
<FIELD CONSTRAINT="free-text" ID="10" LABEL="eye brows" NAME="eye brows">
<VALUE ID="2" LABEL="raised" NAME="raised"/></FIELD>
</CODING-SCHEME>
<MEDIA-FILES>
<MEDIA-FILE ID="478" LEGACY-PATH="New coding:109_483_master_small.mov"/>
</MEDIA-FILES>
<UTTERANCES>
<UTTERANCE E="1000" EXCERPT="IX-1p SEE" ID="35" S="0">
<NOTES/><MEDIA-REF ID="478"/>
<SEGMENT PARTICIPANT-ID="0" PRIMARY="true">
<TRACK FID="10"><A E="400" S="0" VID="2"/></TRACK>
<TRACK FID="10000">
<A E="200" S="100">IX-1p</A>
<A E="600" S="100" VID="400000"/>
<A E="800" S="500">BCL"holding and examining hand"</A>
</TRACK>
<TRACK FID="20001"><A E="1000" S="0">I looked at it.</A></TRACK>
</SEGMENT>
</UTTERANCE>
<UTTERANCE E="2000" EXCERPT="BROKEN" ID="36" S="oops">
<MEDIA-REF ID="478"/><SEGMENT PARTICIPANT-ID="0"/>
</UTTERANCE>
</UTTERANCES>
</SIGNSTREAM-DATABASE>
"""

DAI_XML = """<?xml version='1.0' encoding='utf-8'?>
<SIGNSTREAM_DAI AUTHOR='BOSTON UNIVERSITY' DOWNLOAD_DATE='Mon Jan 06 10:00:00 EST 2025'>
<COLLECTIONS>
<COLLECTION ID='1379840' NAME='Cory_2013-6-27_sc107'>
<MEDIA-FILES>
<MEDIA-FILE ID='1379956' FILE-NAME='2013-06-27_CB_0107-cam1-for-ss3.mp4'/>
</MEDIA-FILES>
<TEMPORAL-PARTITIONS><TEMPORAL-PARTITION ID='1' NAME='Temporal Partition 1'>
<SEGMENT-TIERS><SEGMENT-TIER ID='1' NAME='Segment 1'>
<PARTICIPANT>'Cory'</PARTICIPANT>
<DOMINANT-HAND>'R'</DOMINANT-HAND>
<UTTERANCES>
<UTTERANCE ID="2571" START_FRAME="10" END_FRAME="21">
<TRANSLATION>'Where is the book?'</TRANSLATION>
<UTTERANCE-NUMBER>'U1'</UTTERANCE-NUMBER>
<MANUALS>
<SIGN ID="1"><LABEL>'BOOK'</LABEL><SIGN_TYPE>'Lexical Signs'</SIGN_TYPE>
<DOMINANT_HAND START_FRAME="11" END_FRAME="14"/></SIGN>
<SIGN ID="2"><LABEL>'WHERE'</LABEL><SIGN_TYPE>'Lexical Signs'</SIGN_TYPE>
<DOMINANT_HAND START_FRAME="16" END_FRAME="20"/><NON_DOMINANT_HAND START_FRAME="16" END_FRAME="18"/>
</SIGN>
</MANUALS>
<NON_MANUALS><NON_MANUAL ID='9' START_FRAME='15' END_FRAME='21'>
<LABEL>'wh question'</LABEL><VALUE>'whq'</VALUE></NON_MANUAL></NON_MANUALS>
</UTTERANCE>
<UTTERANCE ID="2572" START_FRAME="20" END_FRAME="25">
<TRANSLATION>'Yes.'</TRANSLATION>
<UTTERANCE-NUMBER>'U2'</UTTERANCE-NUMBER>
<MANUALS><SIGN ID="3"><LABEL>'YES'</LABEL><NON_DOMINANT_HAND START_FRAME="21" END_FRAME="23"/>
</SIGN></MANUALS>
</UTTERANCE>
<UTTERANCE ID="2573" START_FRAME="30">
<MANUALS><SIGN ID="4"><LABEL>'NO'</LABEL></SIGN></MANUALS>
</UTTERANCE>
</UTTERANCES>
</SEGMENT-TIER></SEGMENT-TIERS>
</TEMPORAL-PARTITION></TEMPORAL-PARTITIONS>
</COLLECTION>
</COLLECTIONS>
</SIGNSTREAM_DAI>
"""


def write_asllrp(root: Path) -> dict:
    """One SignStream 2 file (ms, utterance-level frames) + one DAI 2 export (whole-video frames).

    Both copy the published layouts (see data_pipelines/datasets/asllrp.py): the
    SignStream file the NCSLGR's, the DAI export's nesting, single-quoted text values and
    inclusive frame numbers. Utterance 35 spans 0..1000 ms, i.e. frames 0..30 at 30 fps.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / "ncslgr").mkdir()
    (root / "ncslgr" / "accident.xml").write_text(SIGNSTREAM_XML)
    (root / "dai").mkdir()
    (root / "dai" / "xml_extract_1379840.xml").write_text(DAI_XML)
    write_frames(root / "frames" / "accident-35", 31, "{:05d}.jpg")
    write_frames(root / "frames" / "Cory_2013-6-27_sc107", 28, "{:05d}.jpg")
    (root / "splits.txt").write_text(
        "name|split\naccident-35|train\nCory_2013-6-27_sc107-2571|train\n"
        "Cory_2013-6-27_sc107-2572|dev\n"
    )
    return {
        "clips": {
            "accident-35": ('IX-1p BCL"holding_and_examining_hand"', [[3, 7], [15, 25]]),
            "Cory_2013-6-27_sc107-2571": ("BOOK WHERE", [[1, 5], [6, 11]]),
            "Cory_2013-6-27_sc107-2572": ("YES", [[1, 4]]),
        },
        "splits": {
            "train": ["accident-35", "Cory_2013-6-27_sc107-2571"],
            "dev": ["Cory_2013-6-27_sc107-2572"],
        },
    }


def write_holistic_pose(path: Path, num_frames: int, width: int = 200, height: int = 100):
    """A MediaPipe-holistic-shaped .pose written with pose-format; left hand absent.

    Returns (normalized body xyz [T, 33, 3], visibility [T, 33], right hand xyz [T, 21, 3]).
    """
    from pose_format import Pose
    from pose_format.numpy.pose_body import NumPyPoseBody
    from pose_format.pose_header import (
        VERSION,
        PoseHeader,
        PoseHeaderComponent,
        PoseHeaderDimensions,
    )

    def comp(name, n):
        return PoseHeaderComponent(
            name, [str(i) for i in range(n)], [(0, 1)], [(255, 0, 0)], "XYZC"
        )

    comps = [
        comp("POSE_LANDMARKS", 33),
        comp("FACE_LANDMARKS", 5),
        comp("LEFT_HAND_LANDMARKS", 21),
        comp("RIGHT_HAND_LANDMARKS", 21),
    ]
    header = PoseHeader(VERSION, PoseHeaderDimensions(width, height, 1), comps)
    rng = np.random.default_rng(3)
    body = rng.uniform(0.1, 0.9, (num_frames, 33, 3)).astype(np.float32)
    vis = rng.uniform(0.5, 1.0, (num_frames, 33)).astype(np.float32)
    rhand = rng.uniform(0.1, 0.9, (num_frames, 21, 3)).astype(np.float32)
    data = np.zeros((num_frames, 1, 80, 3), np.float32)
    conf = np.zeros((num_frames, 1, 80), np.float32)
    scale = np.array([width, height, 1.0], np.float32)
    data[:, 0, :33], conf[:, 0, :33] = body * scale, vis
    data[:, 0, 33:38], conf[:, 0, 33:38] = 1.0, 1.0
    data[:, 0, 59:80], conf[:, 0, 59:80] = rhand * scale, 1.0
    pose = Pose(header, NumPyPoseBody(25, data, conf))
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        pose.write(f)
    return body, vis, rhand
