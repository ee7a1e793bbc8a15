"""Embedded synthetic signing corpus (README "Design"): the default dataset.

Gloss sentences (built-in grammar or STM files) are signed by synthetic
signers -- smooth per-gloss articulator prototypes, co-articulation, signer
body / speed / amplitude variation, noise, dropped frames and occlusions --
and rendered into the five pose streams of paper section 3.1, small RGB frames,
exact gloss timings and a rule-based translation.

  from configs.synthetic_corpus import get_config
  from data_pipelines.synthetic import generate_corpus, generate_split
  clips = generate_corpus(get_config("tiny"))  # {"train": [Clip, ...], "dev": ..., "test": ...}

Modules: grammar (text), translate (gloss -> text), prototypes (per-gloss
trajectories), skeleton / hand / face (kinematics), clip (one clip),
streams / raster (rendering), corpus (splits, workers), tfds_builder, and
the CLI in __main__ (``python -m data_pipelines.synthetic generate|inspect``).
"""

from data_pipelines.synthetic.corpus import generate_corpus, generate_split

__all__ = ["generate_corpus", "generate_split"]
