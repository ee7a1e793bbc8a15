"""The whole SignX recipe on phoenix2014 (configs/pipeline.py; README "Training on a real dataset").

  python -m signx_jax.main --config configs/phoenix2014.py:base --workdir runs/phoenix2014 \
      --config.data.root=/data/phoenix2014

arg: the stage configs' size[,ablation...] (tiny | small | base | ladder0..5).
"""

from configs.pipeline import pipeline_config


def get_config(arg: str | None = None):
    return pipeline_config("phoenix2014", arg)
