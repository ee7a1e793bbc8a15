"""The whole SignX recipe on asllrp (configs/pipeline.py; README "Training on a real dataset").

  python -m signx_jax.main --config configs/asllrp.py:base --workdir runs/asllrp \
      --config.data.root=/data/asllrp

arg: the stage configs' size[,ablation...] (tiny | small | base | ladder0..5).
"""

from configs.pipeline import pipeline_config


def get_config(arg: str | None = None):
    return pipeline_config("asllrp", arg)
