"""CLI of the synthetic signing corpus (README "Design").

  python -m data_pipelines.synthetic generate --out DIR [--config.num_train=200]
      [--glosses phoenix2014t | --glosses train=A.stm,dev=B.stm,test=C.stm] [--seed 1]
  python -m data_pipelines.synthetic inspect --data_dir DIR

``generate`` writes pose shards per split (``signx_jax.data.shards``) with the
generator config in each manifest, and ``vocab.json`` built from the train
glosses. ``--config`` defaults to configs/synthetic_corpus.py (presets with
``:tiny`` / ``:phoenix2014t``).
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

from absl import app, flags
from ml_collections import config_flags

from data_pipelines.synthetic import corpus

_DEFAULT_CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "synthetic_corpus.py")
_CONFIG = config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG, "Generator config.")
_OUT = flags.DEFINE_string("out", None, "generate: output directory.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "inspect: directory of the shards.")
_GLOSSES = flags.DEFINE_string(
    "glosses", None, "Text side: 'phoenix2014t' or 'train=A.stm,dev=B.stm[,test=C.stm]'."
)
_SEED = flags.DEFINE_integer("seed", None, "Overrides config.seed.")
_PER_SHARD = flags.DEFINE_integer("records_per_shard", 256, "generate: records per shard.")


def generate(cfg, out_dir: str, records_per_shard: int) -> None:
    """Write every split and vocab.json to ``out_dir``."""
    from signx_jax.data import shards  # lazy: the generator itself needs neither
    from signx_jax.data.vocab import Vocabulary

    os.makedirs(out_dir, exist_ok=True)
    world = corpus.build_world(cfg)
    pool = corpus.make_pool(cfg)  # one set of workers for every split
    try:
        for split in corpus.SPLITS:
            if corpus.split_size(cfg, split, world) == 0:
                print(f"{split}: no clips, skipped")
                continue
            manifest = shards.write_split(
                corpus.generate_split(cfg, split, pool),
                out_dir,
                split,
                records_per_shard=records_per_shard,
                extra_manifest={"generator": cfg.to_dict()},
            )
            print(f"{split}: {manifest.get('num_records', '?')} clips -> {out_dir}")
    finally:
        if pool is not None:
            pool.terminate()
    vocab = Vocabulary.build(corpus.vocabulary_sentences(cfg, world))
    vocab.save(os.path.join(out_dir, "vocab.json"))
    print(f"vocabulary: {len(vocab)} tokens -> {os.path.join(out_dir, 'vocab.json')}")


def _histogram(values: list[int], bins: int = 8, width: int = 40) -> list[str]:
    if not values:
        return []
    lo, hi = min(values), max(values)
    step = max(1, -(-(hi - lo + 1) // bins))
    counts = collections.Counter((v - lo) // step for v in values)
    top = max(counts.values())
    return [
        f"  [{lo + b * step:4d}, {lo + (b + 1) * step:4d})  {counts.get(b, 0):6d} "
        + "#" * round(width * counts.get(b, 0) / top)
        for b in range(bins)
        if lo + b * step <= hi
    ]


def inspect(data_dir: str) -> None:
    """Print counts, frame lengths, vocabulary, signers and frequent glosses per split."""
    from signx_jax.data import shards
    from signx_jax.data.vocab import Vocabulary

    vocab_path = os.path.join(data_dir, "vocab.json")
    if os.path.exists(vocab_path):
        print(f"vocabulary: {len(Vocabulary.load(vocab_path))} tokens (incl. special)")
    for split in corpus.SPLITS:
        try:
            source = shards.open_split(data_dir, split, decode_rgb=False)
        except FileNotFoundError:
            print(f"\n== {split}: none")
            continue
        lengths, signers, glosses = [], collections.Counter(), collections.Counter()
        for i in range(len(source)):
            record = source[i]
            lengths.append(int(record["presence"].shape[0]))
            signers[record["signer"]] += 1
            glosses.update(record["gloss"].split())
        print(f"\n== {split}: {len(source)} clips, {sum(lengths)} frames, {len(glosses)} glosses")
        print("frames per clip:")
        print("\n".join(_histogram(lengths)))
        if len(signers) <= 12:
            print("clips per signer: " + ", ".join(f"{s}={n}" for s, n in sorted(signers.items())))
        else:
            counts = sorted(signers.values())
            print(f"clips per signer ({len(signers)} signers): min {counts[0]}, "
                  f"median {counts[len(counts) // 2]}, max {counts[-1]}")  # fmt: skip
        print("top-10 glosses: " + ", ".join(f"{g}={n}" for g, n in glosses.most_common(10)))


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in ("generate", "inspect"):
        raise app.UsageError("usage: python -m data_pipelines.synthetic {generate|inspect} [flags]")
    cfg = _CONFIG.value
    if _GLOSSES.value is not None:
        cfg.glosses = _GLOSSES.value
        if cfg.dataset == "synthetic":  # name the text source in the records
            source = "phoenix2014t" if cfg.glosses == "phoenix2014t" else "stm"
            cfg.dataset = f"synthetic_{source}"
    if _SEED.value is not None:
        cfg.seed = _SEED.value
    if argv[1] == "generate":
        if not _OUT.value:
            raise app.UsageError("generate needs --out DIR")
        generate(cfg, _OUT.value, _PER_SHARD.value)
    else:
        if not _DATA_DIR.value:
            raise app.UsageError("inspect needs --data_dir DIR")
        inspect(_DATA_DIR.value)


if __name__ == "__main__":
    app.run(main)
