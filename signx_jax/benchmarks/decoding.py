r"""Decoding throughput: our compiled CTC prefix beam search vs TensorFlow and pyctcdecode.

CTC decoding (README "Design"). Prints, in one run, utterances/s (per wall-clock second and
per CPU-second, fastest of ``--repeats`` calls after a warm-up, compilation
excluded) on the same random-but-peaky CTC posteriors (batch 32, PHOENIX-like
sizes) and the same beam, for

* ours, exact: ``ctc_prefix_beam_search`` (jit, batched) without pruning;
* ours, pyctcdecode's pruning: the same with pyctcdecode's defaults
  ``token_min_logp`` = -5 and ``beam_prune_logp`` = -10;
* tensorflow:  ``tf.nn.ctc_beam_search_decoder`` (C++ kernel, no pruning;
  blank must be the last class, so the classes are permuted);
* pyctcdecode: ``decode`` per utterance with its default pruning, in its own
  virtualenv (it pins numpy 1.x, which breaks jax): created on first use at
  ``/tmp/signx-pyctcdecode-venv``, logits passed via a .npy file, timed in
  the subprocess; skipped with a message if the venv cannot be built;
* batched attention beam search (Algorithm 3) on a small GRU-like decoder,
  plain and with joint CTC prefix scoring (pre-beam of 12 symbols).

then each of ours against each published decoder, "same pruning" marking
the like-for-like pairs, and how many best sequences equal ours (exact).
pyctcdecode's beam holds (prefix, last symbol) pairs and it also skips blank
and repeat steps below token_min_logp, so its beams can differ slightly.

Usage::

  python -m signx_jax.benchmarks.decoding
  python -m signx_jax.benchmarks.decoding --batch 32 --frames 100 --vocab 1200 --beam 10
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from signx_jax import decoding
from signx_jax.schema import BLANK_ID

flags.DEFINE_integer("batch", 32, "utterances per batch")
flags.DEFINE_integer("frames", 100, "CTC frames per utterance")
flags.DEFINE_integer("vocab", 1200, "vocabulary size incl. specials (blank = 4)")
flags.DEFINE_integer("beam", 10, "beam width for every decoder")
flags.DEFINE_float("token_min_logp", -5.0, "pyctcdecode's default, for both decoders")
flags.DEFINE_float("beam_prune_logp", -10.0, "pyctcdecode's default, for both decoders")
flags.DEFINE_integer("max_len", 40, "max output length")
flags.DEFINE_integer("repeats", 3, "timed calls (after one warm-up); the fastest counts")
flags.DEFINE_string("pyctcdecode_venv", "/tmp/signx-pyctcdecode-venv", "venv for pyctcdecode")
flags.DEFINE_bool("skip_pyctcdecode", False, "do not build/run the pyctcdecode venv")
FLAGS = flags.FLAGS


def peaky_log_probs(seed: int, batch: int, frames: int, vocab: int) -> np.ndarray:
    """[B, T, V] log-softmax with a blank-dominated, spiky profile like a trained CTC head."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(batch, frames, vocab)).astype(np.float32)
    symbol = rng.integers(5, vocab, size=(batch, frames))
    # Each gloss lasts a few frames; 60% of frames are blank.
    symbol = np.repeat(symbol[:, ::3], 3, axis=1)[:, :frames]
    is_blank = rng.random((batch, frames)) < 0.6
    peak = np.where(is_blank, BLANK_ID, symbol)
    np.put_along_axis(logits, peak[..., None], 8.0 + rng.random((batch, frames, 1)), axis=-1)
    return np.asarray(jax.nn.log_softmax(logits, axis=-1))


def timed(fn, repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of ``repeats`` calls after a warm-up.

    Compilation is excluded. On a shared machine the fastest call is the
    least disturbed one, and CPU time (all threads of this process) does not
    count the time other processes held the cores.
    """
    jax.block_until_ready(fn())
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn())
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return min(wall), min(cpu)


def bench_ours(lp, lengths, **pruning):
    f = lambda: decoding.ctc_prefix_beam_search(
        lp, lengths, beam=FLAGS.beam, max_len=FLAGS.max_len, **pruning
    )
    sec = timed(f, FLAGS.repeats)
    tokens, lens, _ = f()
    best = [tuple(np.asarray(t[0, :n]).tolist()) for t, n in zip(tokens, lens[:, 0], strict=True)]
    return sec, best


def bench_tf(lp, lengths):
    import tensorflow as tf  # heavy; only for the benchmark

    vocab = lp.shape[-1]
    perm = [v for v in range(vocab) if v != BLANK_ID] + [BLANK_ID]  # TF: blank = last class
    inputs = tf.constant(np.transpose(lp[..., perm], (1, 0, 2)))  # time-major
    seq_len = tf.constant(lengths, tf.int32)
    f = lambda: tf.nn.ctc_beam_search_decoder(inputs, seq_len, beam_width=FLAGS.beam, top_paths=1)
    sec = timed(f, FLAGS.repeats)
    decoded, _ = f()
    dense = tf.sparse.to_dense(decoded[0], default_value=-1).numpy()
    best = [tuple(perm[i] for i in row if i >= 0) for row in dense]
    return sec, best


PYCTC_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from pyctcdecode import build_ctcdecoder
    lp = np.load(sys.argv[1])
    beam, repeats = int(sys.argv[2]), int(sys.argv[3])
    prune = dict(token_min_logp=float(sys.argv[4]), beam_prune_logp=float(sys.argv[5]))
    vocab = lp.shape[-1]
    # One character per class (a "character" alphabet), blank "" last.
    labels = [chr(0x4E00 + v) for v in range(vocab - 1)] + [""]
    decoder = build_ctcdecoder(labels)
    run = lambda: [decoder.decode(u, beam_width=beam, **prune) for u in lp]
    out = run()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    best = [[ord(c) - 0x4E00 for c in s] for s in out]
    print(json.dumps(dict(sec=(min(wall), min(cpu)), best=best)))
    """
)


def ensure_pyctcdecode_venv(path: str) -> str | None:
    """Python of a venv with pyctcdecode (built on first use), or None with a message."""
    python = os.path.join(path, "bin", "python")
    check = [python, "-c", "import pyctcdecode"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print(f"building {path} (python3 -m venv + pip install pyctcdecode) ...", flush=True)
    try:
        subprocess.run(["python3", "-m", "venv", path], check=True, capture_output=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", "pyctcdecode"], check=True, capture_output=True
        )
        subprocess.run(check, check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as err:
        detail = getattr(err, "stderr", b"") or b""
        print(f"pyctcdecode: SKIPPED, could not build {path}: {err} {detail[-300:]!r}")
        return None
    return python


def bench_pyctcdecode(lp, lengths):
    python = ensure_pyctcdecode_venv(FLAGS.pyctcdecode_venv)
    if python is None:
        return None
    vocab = lp.shape[-1]
    perm = [v for v in range(vocab) if v != BLANK_ID] + [BLANK_ID]
    with tempfile.TemporaryDirectory() as tmp:
        npy, script = os.path.join(tmp, "lp.npy"), os.path.join(tmp, "run.py")
        # All utterances have the full length here, so no trimming is needed.
        np.save(npy, np.stack([u[:n, perm] for u, n in zip(lp, lengths, strict=True)]))
        with open(script, "w") as f:
            f.write(PYCTC_SCRIPT)
        proc = subprocess.run(
            [
                python,
                script,
                npy,
                str(FLAGS.beam),
                str(FLAGS.repeats),
                str(FLAGS.token_min_logp),
                str(FLAGS.beam_prune_logp),
            ],  # fmt: skip
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        print(f"pyctcdecode: SKIPPED, run failed: {proc.stderr[-500:]}")
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    best = [tuple(perm[i] for i in s) for s in out["best"]]
    return tuple(out["sec"]), best


class GRUDecoder:
    """Small random GRU-like decoder with dot-product cross-attention, for timing only."""

    def __init__(self, vocab: int, dim: int, src_len: int, batch: int, beam: int):
        k = jax.random.split(jax.random.key(0), 5)
        self.emb = jax.random.normal(k[0], (vocab, dim)) * 0.1
        self.w_h = jax.random.normal(k[1], (2 * dim, 2 * dim)) / np.sqrt(2 * dim)
        self.w_out = jax.random.normal(k[2], (2 * dim, vocab)) / np.sqrt(2 * dim)
        self.enc = jax.random.normal(k[3], (batch, src_len, dim))
        self.beam = beam

    def step(self, state, tokens, t):
        h = state["h"]
        enc = jnp.repeat(self.enc, self.beam, axis=0)  # [N, S, D]
        attn = jax.nn.softmax(jnp.einsum("nd,nsd->ns", h, enc) / np.sqrt(h.shape[-1]), axis=-1)
        ctx = jnp.einsum("ns,nsd->nd", attn, enc)
        x = jnp.concatenate([self.emb[tokens] + h, ctx], axis=-1) @ self.w_h
        z, cand = jnp.split(x, 2, axis=-1)
        h = jax.nn.sigmoid(z) * h + (1 - jax.nn.sigmoid(z)) * jnp.tanh(cand)
        logits = jnp.concatenate([h, ctx], axis=-1) @ self.w_out
        return logits, attn, {"h": h}


def bench_attention(lp, lengths, ctc_weight: float):
    batch, frames, vocab = lp.shape
    beam = 8
    dec = GRUDecoder(vocab, 256, frames, batch, beam)
    scorer = decoding.CTCPrefixScorer(jnp.asarray(lp), jnp.asarray(lengths))

    @jax.jit
    def run(scorer):
        return decoding.attention_beam_search(
            dec.step,
            {"h": jnp.zeros((batch * beam, 256))},
            batch=batch,
            beam=beam,
            max_len=30,
            entropy_alpha=0.1,
            length_penalty=0.6,
            repetition_penalty=1.2,
            ctc_scorer=scorer if ctc_weight > 0 else None,
            ctc_weight=ctc_weight,
            ctc_pre_beam=12,  # 1.5 x beam, as ESPnet
        )

    return timed(lambda: run(scorer), FLAGS.repeats)


def agreement(a, b) -> int:
    """How many utterances have the same best sequence."""
    return sum(x == y for x, y in zip(a, b, strict=True))


def main(_):
    b, t, v = FLAGS.batch, FLAGS.frames, FLAGS.vocab
    lp = peaky_log_probs(0, b, t, v)
    lengths = np.full((b,), t, np.int32)
    print(
        f"CTC beam search, batch {b}, {t} frames, vocab {v}, beam {FLAGS.beam}, "
        f"CPU x{os.cpu_count()}, load {os.getloadavg()[0]:.1f}"
    )
    prune = dict(token_min_logp=FLAGS.token_min_logp, beam_prune_logp=FLAGS.beam_prune_logp)
    pruned = ", ".join(f"{k} {x:g}" for k, x in prune.items())
    # (decoder, pruning, ((wall, CPU) seconds per batch, best sequences))
    rows = [
        ("ours (jit)", "exact", bench_ours(jnp.asarray(lp), jnp.asarray(lengths))),
        ("ours (jit)", pruned, bench_ours(jnp.asarray(lp), jnp.asarray(lengths), **prune)),
        ("tf.nn.ctc_beam_search_decoder", "exact", bench_tf(lp, lengths)),
    ]
    if not FLAGS.skip_pyctcdecode:
        res = bench_pyctcdecode(lp, lengths)
        if res is not None:
            rows.append(("pyctcdecode (no LM)", pruned, res))
    best_exact = rows[0][2][1]
    print(
        f"  {'decoder, pruning':62s} {'utt/s':>9s} {'utt/CPU-s':>10s}   best sequence = ours exact"
    )
    for name, pruning, ((wall, cpu), best) in rows:
        print(
            f"  {name + ', ' + pruning:62s} {b / wall:9.1f} {b / cpu:10.1f}   "
            f"{agreement(best, best_exact)}/{b}"
        )
    for mine, mine_pruning, (mine_sec, _) in rows[:2]:
        for other, other_pruning, (other_sec, _) in rows[2:]:
            like = " (same pruning)" if mine_pruning == other_pruning else ""
            print(
                f"  {mine}, {mine_pruning} / {other}: {other_sec[0] / mine_sec[0]:.1f}x "
                f"(per CPU-second {other_sec[1] / mine_sec[1]:.1f}x){like}"
            )
    for weight in (0.0, 0.3):
        wall, _ = bench_attention(lp, lengths, weight)
        print(
            f"attention beam search (beam 8, max_len 30, V {v}, ctc_weight {weight}): "
            f"{b / wall:.1f} utt/s"
        )


if __name__ == "__main__":
    sys.exit(app.run(main))
