"""TFDS builder of the synthetic signing corpus (README "Design").

Importing this module registers ``signx_synthetic``::

  import tensorflow_datasets as tfds
  import data_pipelines.synthetic.tfds_builder  # noqa: F401  (registers the builder)

  builder = tfds.builder("signx_synthetic/tiny", data_dir=d, file_format="array_record")
  builder.download_and_prepare()  # generates locally; nothing is downloaded
  source = tfds.data_source(  # random access (ArrayRecord), for Grain
      "signx_synthetic/tiny", data_dir=d, builder_kwargs={"file_format": "array_record"}
  )["train"]

Builder configs: ``default`` (the demo corpus of configs/synthetic_corpus.py)
and ``tiny``. Each example holds the five pose streams as float32 tensors
[T, dim], ``presence`` [T, 5], ``rgb`` [T, S, S, 3] (zlib-compressed),
``gloss_spans`` [N, 2] and the texts. The generator runs in this process
(``num_workers = 1``): TFDS drives it example by example.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from configs.synthetic_corpus import get_config
from data_pipelines.synthetic import corpus
from signx_jax import schema


class SignxSyntheticConfig(tfds.core.BuilderConfig):
    """A preset of configs/synthetic_corpus.py plus optional field overrides."""

    def __init__(self, *, preset: str | None, overrides: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.preset = preset
        self.overrides = dict(overrides or {})

    def generator_config(self):
        cfg = get_config(self.preset)
        cfg.update(self.overrides)
        cfg.num_workers, cfg.progress = 1, False
        return cfg


class SignxSynthetic(tfds.core.GeneratorBasedBuilder):
    """Synthetic continuous signing: five pose streams, RGB, glosses, timings."""

    name = "signx_synthetic"
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        SignxSyntheticConfig(name="default", preset=None, description="Demo corpus."),
        SignxSyntheticConfig(name="tiny", preset="tiny", description="Tests / laptops."),
    ]
    DEFAULT_CONFIG_NAME = "default"

    def _info(self) -> tfds.core.DatasetInfo:
        cfg = self.builder_config.generator_config()
        size = cfg.image_size
        features = {
            name: tfds.features.Tensor(shape=(None, dim), dtype=np.float32)
            for name, dim in schema.STREAMS
        }
        features.update(
            {
                "clip_id": tfds.features.Text(),
                "signer": tfds.features.Text(),
                "gloss": tfds.features.Text(),
                "translation": tfds.features.Text(),
                "fps": tfds.features.Scalar(dtype=np.float32),
                "presence": tfds.features.Tensor(shape=(None, len(schema.STREAMS)), dtype=np.bool_),
                "gloss_spans": tfds.features.Tensor(shape=(None, 2), dtype=np.int32),
                "rgb": tfds.features.Tensor(
                    shape=(None, size, size, 3),
                    dtype=np.uint8,
                    encoding=tfds.features.Encoding.ZLIB,
                ),
            }
        )
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(features),
            description=__doc__,
            homepage="https://github.com/signx-jax",  # placeholder; no download happens
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # everything is generated locally
        return {split: self._generate_examples(split) for split in corpus.SPLITS}

    def _generate_examples(self, split: str) -> Iterator[tuple[str, dict]]:
        cfg = self.builder_config.generator_config()
        size = cfg.image_size
        for clip in corpus.generate_split(cfg, split):
            num_frames = clip["presence"].shape[0]
            rgb = clip.get("rgb")
            example = {name: clip["poses"][name] for name in schema.STREAM_NAMES}
            example.update(
                {
                    "clip_id": clip["clip_id"],
                    "signer": clip["signer"],
                    "gloss": clip["gloss"],
                    "translation": clip["translation"],
                    "fps": np.float32(clip["fps"]),
                    "presence": clip["presence"],
                    "gloss_spans": clip["gloss_spans"],
                    "rgb": rgb
                    if rgb is not None
                    else np.zeros((num_frames, size, size, 3), np.uint8),
                }
            )
            yield clip["clip_id"], example
