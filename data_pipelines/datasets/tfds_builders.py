"""TFDS builders for the real datasets: the same converters behind ``tfds.load``.

``manual_dir`` is the publisher's folder (the ``--root`` of the CLI, layout in
each dataset module); pose files, if any, go in ``<manual_dir>/poses`` with the
``pose_files`` layout. RGB frames are not stored (use the CLI's --rgb_size and
the pose shards for Video2Pose). Skipped clips are logged, as the CLI lists
them in skipped.json. Each builder is registered under the CLI's ``--dataset``
name (``phoenix2014t``, ``phoenix2014``, ``csl_daily``, ``wlasl``, ``asllrp``);
WLASL has one config per subset (``wlasl/wlasl2000`` (default), ``wlasl1000``,
``wlasl300``, ``wlasl100``: the first N glosses, as ``--num_classes N``)::

    builder = Phoenix2014T(data_dir="~/tensorflow_datasets")   # or file_format="array_record"
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/data/PHOENIX-2014-T-release-v3"))
    ds = builder.as_dataset(split="dev")

An example holds the clip ``convert`` writes to the pose shards (same id, signer,
gloss, translation, fps, poses, presence, gloss spans; the shards store poses as
float16, TFDS as float32), ``gloss_spans`` [0, 2] where the dataset has no timing.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines.datasets.common import Report
from data_pipelines.datasets.convert import iter_records, list_dataset
from signx_jax.schema import STREAMS


class _PoseClipBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """One record per clip: the five pose streams, presence, glosses, spans."""

    VERSION = tfds.core.Version("1.0.0")
    DATASET = ""
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download the dataset from its publisher and pass its folder as manual_dir; "
        "see data_pipelines/datasets/<dataset>.py for the expected layout."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        text = tfds.features.Text()
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "clip_id": text,
                    "signer": text,
                    "gloss": text,
                    "translation": text,
                    "fps": tfds.features.Scalar(np.float32),
                    "poses": tfds.features.FeaturesDict(
                        {
                            name: tfds.features.Tensor(shape=(None, dim), dtype=np.float32)
                            for name, dim in STREAMS
                        }
                    ),
                    "presence": tfds.features.Tensor(shape=(None, len(STREAMS)), dtype=np.bool_),
                    # [N, 2] frame spans; empty when the dataset has no gloss timing.
                    "gloss_spans": tfds.features.Tensor(shape=(None, 2), dtype=np.int32),
                }
            ),
            supervised_keys=None,
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        root = Path(dl_manager.manual_dir)
        report = Report(self.DATASET)
        num_classes = getattr(self.builder_config, "num_classes", None)
        by_split = list_dataset(self.DATASET, root, report, num_classes=num_classes)
        poses = root / "poses" if (root / "poses").is_dir() else None
        for s in report.skipped:
            logging.warning("%s: skipped %s: %s", self.DATASET, s["record"], s["reason"])
        return {
            split: self._generate_examples(sources, poses)
            for split, sources in by_split.items()
            if sources
        }

    def _generate_examples(self, sources, poses_root):
        report = Report(self.DATASET)
        for clip in iter_records(sources, report, poses_root, None, None):
            spans = clip.get("gloss_spans")
            yield (
                clip["clip_id"],
                {
                    "clip_id": clip["clip_id"],
                    "signer": clip["signer"],
                    "gloss": clip["gloss"],
                    "translation": clip["translation"],
                    "fps": np.float32(clip["fps"]),
                    "poses": clip["poses"],
                    "presence": clip["presence"],
                    "gloss_spans": np.zeros((0, 2), np.int32) if spans is None else spans,
                },
            )
        for s in report.skipped:
            logging.warning("%s: skipped %s: %s", self.DATASET, s["record"], s["reason"])


class Phoenix2014T(_PoseClipBuilder):
    """RWTH-PHOENIX-Weather 2014 T (German SL, glosses + translations)."""

    name = DATASET = "phoenix2014t"


class Phoenix2014(_PoseClipBuilder):
    """RWTH-PHOENIX-Weather 2014 multisigner (German SL, glosses)."""

    name = DATASET = "phoenix2014"


class CslDaily(_PoseClipBuilder):
    """CSL-Daily (Chinese SL, glosses + translations)."""

    name = DATASET = "csl_daily"


@dataclasses.dataclass
class WlaslConfig(tfds.core.BuilderConfig):
    """WLASL-N: the first ``num_classes`` glosses of WLASL_v0.3.json (None: all)."""

    num_classes: int | None = None


class Wlasl(_PoseClipBuilder):
    """WLASL (isolated ASL, one gloss per clip: the gloss is the class label)."""

    name = DATASET = "wlasl"
    BUILDER_CONFIGS = [
        WlaslConfig(name=f"wlasl{n}", num_classes=n, description=f"WLASL-{n}: first {n} glosses")
        for n in (2000, 1000, 300, 100)
    ]


class Asllrp(_PoseClipBuilder):
    """ASLLRP continuous ASL (glosses with sign-level spans + translations)."""

    name = DATASET = "asllrp"
