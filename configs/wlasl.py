"""The whole SignX recipe on wlasl (configs/pipeline.py; README "Training on a real dataset").

  python -m signx_jax.main --config configs/wlasl.py:base --workdir runs/wlasl \
      --config.data.root=/data/wlasl

Stage 3 is the isolated classifier (configs/wlasl_isolated.py): the report is top-1 /
top-5 accuracy, per instance and per class.

arg: the stage configs' size[,ablation...] (tiny | small | base | ladder0..5).
"""

from configs.pipeline import pipeline_config


def get_config(arg: str | None = None):
    c = pipeline_config("wlasl", arg)
    # Isolated signs: the rehearsal corpus has one gloss per clip, as WLASL does.
    c.corpus.min_sentence_glosses = c.corpus.max_sentence_glosses = 1
    return c
