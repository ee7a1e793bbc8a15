"""TFDS builders for the real datasets: the same converters behind ``tfds.load``.

``manual_dir`` is the publisher's folder (the ``--root`` of the CLI, layout in
each dataset module); pose files, if any, go in ``<manual_dir>/poses`` with the
``pose_files`` layout. RGB frames are not stored (use the CLI's --rgb_size and
the pose shards for Video2Pose). Skipped clips are logged, as the CLI lists
them in skipped.json::

    builder = Phoenix2014T(data_dir="~/tensorflow_datasets")
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir="/data/PHOENIX-2014-T-release-v3"))
    ds = builder.as_dataset(split="dev")
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import tensorflow_datasets as tfds

from data_pipelines.datasets.common import Report
from data_pipelines.datasets.convert import iter_records, list_dataset
from signx_jax.schema import STREAMS


class _PoseClipBuilder(tfds.core.GeneratorBasedBuilder):
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
        by_split = list_dataset(self.DATASET, root, report)
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

    DATASET = "phoenix2014t"


class Phoenix2014(_PoseClipBuilder):
    """RWTH-PHOENIX-Weather 2014 multisigner (German SL, glosses)."""

    DATASET = "phoenix2014"


class CslDaily(_PoseClipBuilder):
    """CSL-Daily (Chinese SL, glosses + translations)."""

    DATASET = "csl_daily"


class Wlasl(_PoseClipBuilder):
    """WLASL-2000 (isolated ASL, one gloss per clip)."""

    DATASET = "wlasl"


class Asllrp(_PoseClipBuilder):
    """ASLLRP continuous ASL (glosses with sign-level spans + translations)."""

    DATASET = "asllrp"
