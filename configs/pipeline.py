"""One dataset's whole SignX recipe for the main job (``signx_jax/main.py``).

A pipeline config holds how the data is prepared and the three stage configs
(``configs/<dataset>_{pose2gloss,video2pose,cslr}.py``, unchanged), so that::

  python -m signx_jax.main --config configs/phoenix2014t.py:base --workdir runs/phx \
      --config.data.root=/data/PHOENIX-2014-T-release-v3 \
      --config.data.poses_root=/data/poses/phoenix2014t

converts the publisher files, trains stage 1, stage 2, writes the latent cache of
each route, trains stage 3, releases the best-k average and evaluates it: the
README's per-stage commands in one resumable job (``--steps`` runs a subset).

WLASL is an isolated benchmark (one sign per clip): its stage 3 is the isolated
classifier (``configs/wlasl_isolated.py``, ``data.task = "isolated"``) and the
``evaluate`` step reports top-1 / top-5 instead of WER (``STAGE_CONFIGS``).

``data.source``:
  ``convert``    the publisher files under ``data.root`` (the README's layouts);
  ``rehearsal``  the synthetic corpus (``corpus``) written in this dataset's publisher
                 layout under ``<workdir>/download`` and converted from there: the
                 recipe's dress rehearsal, every line a real download goes through;
  ``synthetic``  the synthetic corpus written straight to pose shards (the demo).
"""

from __future__ import annotations

import importlib

import ml_collections

from configs import synthetic_corpus

STAGE_CONFIGS = {"stage1": "pose2gloss", "stage2": "video2pose", "stage3": "cslr"}
# configs/<dataset>_<name>.py of each stage where a dataset differs from STAGE_CONFIGS.
DATASET_STAGE_CONFIGS = {"wlasl": {"stage3": "isolated"}}


def stage_configs(dataset: str) -> dict[str, str]:
    """{stage: the name of its config, configs/<dataset>_<name>.py} of ``dataset``."""
    return {**STAGE_CONFIGS, **DATASET_STAGE_CONFIGS.get(dataset, {})}


def pipeline_config(dataset: str, arg: str | None = None) -> ml_collections.ConfigDict:
    """``arg`` is the stage configs' ``size[,ablation...]`` (default ``base``)."""
    arg = arg or "base"
    c = ml_collections.ConfigDict()
    c.dataset = dataset
    # The training seed of all three stages (init, batch order, views, dropout).
    c.seed = 0
    stages = {}
    for name, stage in stage_configs(dataset).items():
        module = importlib.import_module(f"configs.{dataset}_{stage}")
        stages[name] = module.get_config(arg)
        stages[name].seed = c.get_ref("seed")
    stages["stage2"].stage1_model = stages["stage1"].model
    stages["stage3"].model.latent_dim = stages["stage1"].model.latent_dim
    c.update(stages)

    c.data = ml_collections.ConfigDict()
    c.data.source = "convert"
    c.data.root = ""  # the publisher's folder (README "Training on a real dataset")
    c.data.poses_root = ""  # per-stream pose files; "" = <root>/poses when it exists
    c.data.rgb_size = c.stage2.model.image_size  # frames at Video2Pose's input size
    c.data.max_frames = 0  # 0 = keep every clip
    c.data.num_classes = 0  # WLASL-N: the first N glosses (0 = all)
    # ``rehearsal``: the synthetic corpus that is written in the publisher layout.
    c.corpus = synthetic_corpus.get_config()
    c.corpus.image_size = c.data.get_ref("rgb_size")

    c.routes = ("pose", "video")
    c.route_weights = {"pose": 1, "video": 1}  # a route's train latents repeated k times
    c.keep_best = 5  # released CSLR = mean of the best checkpoints by dev WER
    return c
