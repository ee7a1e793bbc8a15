"""The whole SignX recipe on phoenix2014t (configs/pipeline.py; README "Training on a
real dataset").

  python -m signx_jax.main --config configs/phoenix2014t.py:base --workdir runs/phoenix2014t \
      --config.data.root=/data/phoenix2014t

arg: the stage configs' size[,ablation...] (tiny | small | base | ladder0..5).
"""

from configs.pipeline import pipeline_config


def get_config(arg: str | None = None):
    return pipeline_config("phoenix2014t", arg)
