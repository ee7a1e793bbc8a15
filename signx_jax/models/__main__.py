"""Model CLI: ``python -m signx_jax.models summary [flags]``.

``summary`` prints, per stage, a table of parameters and FLOPs per example for
each module (signx_jax/models/summary.py; ``summary --help`` lists its flags).
"""

from __future__ import annotations

import sys

from signx_jax.models import summary

COMMANDS = {"summary": summary.main}


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in COMMANDS:
        sys.exit(f"usage: python -m signx_jax.models {{{'|'.join(COMMANDS)}}} [flags]")
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main(sys.argv[1:])
