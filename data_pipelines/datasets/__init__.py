"""Real datasets (PHOENIX-2014/-T, CSL-Daily, WLASL, ASLLRP) -> pose shards (README "Design").

``python -m data_pipelines.datasets convert --dataset ... --root ... --out ...``;
see ``convert.py`` for the pipeline and each dataset module for its layout.
"""
