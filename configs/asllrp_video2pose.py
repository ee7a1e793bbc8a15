"""video2pose (stage 2) on asllrp: ASLLRP (its gloss spans feed GlossAlign in stage 3).

Commands: README.md, "Training on a real dataset". arg: tiny | small | base | ladderN.
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("video2pose", arg or "base", dataset="asllrp")
