"""Generate the synthetic corpus split by split (README "Design").

``generate_split(cfg, split)`` yields schema Clip dicts in index order;
``generate_corpus(cfg)`` collects all three splits. Clip ``i`` of a split is
a pure function of (seed, split, i): its text comes from
``default_rng([seed, crc32(split), i, 0])`` and its rendering from
``[..., 1]``, so the output never depends on the number of workers. Signers
are disjoint across splits (train ``signer00..``, then dev, then test).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import zlib
from collections.abc import Iterator

import ml_collections
import numpy as np
import tqdm

from data_pipelines.synthetic import clip, grammar, prototypes, translate
from signx_jax import schema

SPLITS = ("train", "dev", "test")


def _split_key(cfg, split: str, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, zlib.crc32(split.encode()), index, stream])


def signer_ids(cfg: ml_collections.ConfigDict) -> dict[str, list[str]]:
    """Disjoint signer ids per split."""
    out, start = {}, 0
    for split in SPLITS:
        n = int(cfg.num_signers[split])
        if n < 1:
            raise ValueError(f"config num_signers.{split}: expected >= 1, got {n}")
        out[split] = [f"signer{start + k:02d}" for k in range(n)]
        start += n
    return out


def build_world(cfg: ml_collections.ConfigDict) -> dict:
    """Everything shared by the clips: sentences (STM), prototypes, signers."""
    world: dict = {"stm": None}
    if cfg.glosses:
        world["stm"] = grammar.top_glosses(
            grammar.stm_splits(cfg.glosses, cfg.reference_dir, cfg.heldout_test_fraction,
                               cfg.seed),
            cfg.get("top_glosses", 0),
            cfg.min_sentence_glosses,
        )  # fmt: skip
        vocab = sorted({g for rows in world["stm"].values() for r in rows for g in r["glosses"]})
    else:
        vocab = grammar.builtin_vocabulary()
    recipes = prototypes.draw_recipes(vocab, cfg.seed)
    world["vocab"] = vocab
    world["keyframes"] = {g: prototypes.recipe_keyframes(r) for g, r in recipes.items()}
    world["durations"] = {
        g: prototypes.nominal_frames(r, cfg.min_sign_frames, cfg.max_sign_frames)
        for g, r in recipes.items()
    }
    world["recipes"] = recipes
    world["signers"] = signer_ids(cfg)
    world["signer_cache"] = {}
    return world


def split_size(cfg: ml_collections.ConfigDict, split: str, world: dict | None = None) -> int:
    """Number of clips of a split."""
    requested = int(cfg[f"num_{split}"])
    if not cfg.glosses:
        if requested < 0:
            raise ValueError(f"config num_{split}: the built-in grammar needs a count >= 0")
        return requested
    rows = _rows(cfg, world or build_world(cfg), split)
    return len(rows) if requested < 0 else min(requested, len(rows))


def _rows(cfg: ml_collections.ConfigDict, world: dict, split: str) -> list[dict]:
    """The STM sentences a split's clips take in order: its ``text_window``-th run of
    ``num_<split>`` sentences (window 0: the first)."""
    window, requested = int(cfg.get("text_window", 0)), int(cfg[f"num_{split}"])
    if window < 0 or (window and requested < 0):
        raise ValueError(f"config text_window={window}: expected 0, or >= 1 with num_{split} "
                         f">= 0 (got num_{split}={requested})")  # fmt: skip
    first = window * max(requested, 0)
    return world["stm"].get(split, [])[first:]


def clip_text(cfg, world: dict, split: str, index: int) -> tuple[str, list[str], str]:
    """(clip id, glosses, translation) of clip ``index``."""
    if world["stm"] is not None:
        row = _rows(cfg, world, split)[index]
        return row["id"], list(row["glosses"]), translate.translate_generic(row["glosses"])
    rng = _split_key(cfg, split, index, 0)
    glosses = grammar.sample_sentence(rng, cfg.min_sentence_glosses, cfg.max_sentence_glosses)
    return f"{split}_{index:06d}", glosses, translate.translate_builtin(glosses)


def make_clip(cfg, world: dict, split: str, index: int) -> schema.Clip:
    """Clip ``index`` of ``split`` as a schema Clip dict."""
    clip_id, glosses, translation = clip_text(cfg, world, split, index)
    ids = world["signers"][split]
    signer_id = ids[index % len(ids)]
    if signer_id not in world["signer_cache"]:
        world["signer_cache"][signer_id] = clip.sample_signer(cfg, signer_id)
    signer = world["signer_cache"][signer_id]
    poses, presence, rgb, spans = clip.render_clip(
        glosses, world, signer, _split_key(cfg, split, index, 1), cfg
    )
    record = {
        "clip_id": clip_id,
        "dataset": cfg.dataset,
        "signer": signer_id,
        "fps": float(cfg.fps),
        "poses": poses,
        "presence": presence,
        "gloss": " ".join(glosses),
        "translation": translation,
        "gloss_spans": spans,
    }
    if rgb is not None:
        record["rgb"] = rgb
    return record


def vocabulary_sentences(cfg: ml_collections.ConfigDict, world: dict | None = None) -> list[str]:
    """Gloss sentences the vocabulary is built from: the train source.

    Built-in grammar: the train clips' sentences. STM: every sentence of the
    train file, held-out part included, so the vocabulary is the real one.
    """
    world = world or build_world(cfg)
    if world["stm"] is not None:
        heldout = "test=" not in cfg.glosses  # test was carved out of the train file
        rows = world["stm"]["train"] + (world["stm"]["test"] if heldout else [])
        return [" ".join(r["glosses"]) for r in rows]
    return [" ".join(clip_text(cfg, world, "train", i)[1]) for i in range(split_size(cfg, "train"))]


# --- multiprocessing ----------------------------------------------------------
_WORKER: dict = {}


def _init_worker(cfg_dict: dict) -> None:
    cfg = ml_collections.ConfigDict(cfg_dict)
    _WORKER.update(cfg=cfg, world=build_world(cfg))


def _work(job: tuple[str, int]) -> schema.Clip:
    return make_clip(_WORKER["cfg"], _WORKER["world"], *job)


def _num_workers(cfg) -> int:
    return int(cfg.num_workers) or (os.cpu_count() or 1)


def make_pool(cfg: ml_collections.ConfigDict) -> multiprocessing.pool.Pool | None:
    """A worker pool for ``cfg`` to share across splits (None when num_workers is 1)."""
    if _num_workers(cfg) <= 1:
        return None
    # spawn, not fork: the parent may already run JAX / TF threads.
    ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(_num_workers(cfg), initializer=_init_worker, initargs=(cfg.to_dict(),))


def generate_split(
    cfg: ml_collections.ConfigDict, split: str, pool: multiprocessing.pool.Pool | None = None
) -> Iterator[schema.Clip]:
    """Yield the clips of ``split`` in index order (multiprocessing, tqdm bar).

    ``pool``: from make_pool(cfg) with the same cfg, to avoid starting workers
    per split; by default a pool is started here when it pays off.
    """
    if split not in SPLITS:
        raise ValueError(f"generate_split: split must be one of {SPLITS}, got {split!r}")
    world = build_world(cfg)
    total = split_size(cfg, split, world)
    bar = tqdm.tqdm(total=total, desc=f"synthetic {split}", disable=not cfg.progress, unit="clip")
    own_pool = None
    try:
        if pool is None and (_num_workers(cfg) <= 1 or total < 2 * cfg.chunksize):
            for index in range(total):
                yield make_clip(cfg, world, split, index)
                bar.update()
            return
        pool = pool or (own_pool := make_pool(cfg))
        jobs = ((split, i) for i in range(total))
        for record in pool.imap(_work, jobs, chunksize=int(cfg.chunksize)):
            yield record
            bar.update()
    finally:
        bar.close()
        if own_pool is not None:
            own_pool.terminate()


def generate_corpus(cfg: ml_collections.ConfigDict) -> dict[str, list[schema.Clip]]:
    """All splits in memory: {split: [Clip, ...]} (keep cfg small: RGB is big)."""
    pool = make_pool(cfg)
    try:
        return {split: list(generate_split(cfg, split, pool)) for split in SPLITS}
    finally:
        if pool is not None:
            pool.terminate()
