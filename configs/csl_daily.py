"""The whole SignX recipe on csl_daily (configs/pipeline.py; README "Training on a real dataset").

  python -m signx_jax.main --config configs/csl_daily.py:base --workdir runs/csl_daily \
      --config.data.root=/data/csl_daily

arg: the stage configs' size[,ablation...] (tiny | small | base | ladder0..5).
"""

from configs.pipeline import pipeline_config


def get_config(arg: str | None = None):
    return pipeline_config("csl_daily", arg)
