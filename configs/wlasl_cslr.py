"""cslr (stage 3) on wlasl: WLASL-N, isolated: each clip one gloss, one token.

Commands: README.md, "Training on a real dataset". arg: tiny | small | base | ladderN.
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    c = train_config("cslr", arg or "base", dataset="wlasl")
    c.data.max_label_len = 1  # one gloss per clip
    return c
