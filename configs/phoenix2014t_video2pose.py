"""video2pose (stage 2) on phoenix2014t: RWTH-PHOENIX-Weather 2014 T.

Commands: README.md, "Training on a real dataset". arg: tiny | small | base | ladderN.
"""

from configs.common import train_config


def get_config(arg: str | None = None):
    return train_config("video2pose", arg or "base", dataset="phoenix2014t")
