"""Embedded synthetic signing corpus (SPEC section 9); see corpus.py."""

from data_pipelines.synthetic.corpus import generate_corpus, generate_split

__all__ = ["generate_corpus", "generate_split"]
