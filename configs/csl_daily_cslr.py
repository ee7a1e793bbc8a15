"""cslr (stage 3) on csl_daily: CSL-Daily glosses (Sign2Text: csl_daily_translation.py).

Commands: README.md, "Training on a real dataset". arg: tiny | small | base | ladderN.
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("cslr", arg or "base", dataset="csl_daily")
