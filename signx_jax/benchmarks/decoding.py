r"""Decoding throughput: our compiled CTC prefix beam search vs TensorFlow and pyctcdecode.

SPEC section 6. Prints, in one run, utterances/s on the same random-but-peaky
CTC posteriors (batch 32, PHOENIX-like sizes) for

* ours:        ``ctc_prefix_beam_search`` (jit, batched), with and without
  per-frame top-k symbol pruning;
* tensorflow:  ``tf.nn.ctc_beam_search_decoder`` (C++ kernel; blank must be
  the last class, so the classes are permuted);
* pyctcdecode: ``decode`` per utterance, in its own virtualenv (it pins
  numpy 1.x, which breaks jax): created on first use at
  ``/tmp/signx-pyctcdecode-venv``, logits passed via a .npy file, timed in
  the subprocess; skipped with a message if the venv cannot be built;
* batched attention beam search (Algorithm 3) on a small GRU-like decoder,
  plain and with joint CTC prefix scoring (pre-beam of 12 symbols).

Usage::

  python -m signx_jax.benchmarks.decoding
  python -m signx_jax.benchmarks.decoding --batch 32 --frames 100 --vocab 1200 --beam 10

Measured on the shared 2-core CPU dev box (load ~4), defaults, utterances/s:
ours all symbols 295, top-16 853, top-4 1736; TF 1.9; pyctcdecode 137 (so
top-4 is 12.7x pyctcdecode, top-16 6.2x; every decoder's top-1 agreed on
100% of utterances); attention beam search 50 (plain) and 32 (joint CTC).
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
flags.DEFINE_list("prune_top_k", ["16", "4"], "our per-frame symbol pruning(s) to time")
flags.DEFINE_integer("max_len", 40, "max output length")
flags.DEFINE_integer("repeats", 3, "timed repetitions (after one warm-up)")
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


def timed(fn, repeats: int) -> float:
    """Seconds per call after one warm-up call (compilation excluded)."""
    jax.block_until_ready(fn())
    start = time.perf_counter()
    for _ in range(repeats):
        jax.block_until_ready(fn())
    return (time.perf_counter() - start) / repeats


def bench_ours(lp, lengths, prune):
    f = lambda: decoding.ctc_prefix_beam_search(
        lp, lengths, beam=FLAGS.beam, prune_top_k=prune, max_len=FLAGS.max_len
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
    lp = np.load(sys.argv[1]); beam = int(sys.argv[2]); repeats = int(sys.argv[3])
    vocab = lp.shape[-1]
    # One character per class (a "character" alphabet), blank "" last.
    labels = [chr(0x4E00 + v) for v in range(vocab - 1)] + [""]
    decoder = build_ctcdecoder(labels)
    run = lambda: [decoder.decode(u, beam_width=beam) for u in lp]
    run()
    start = time.perf_counter()
    for _ in range(repeats):
        out = run()
    sec = (time.perf_counter() - start) / repeats
    print(json.dumps(dict(sec=sec, best=[[ord(c) - 0x4E00 for c in s] for s in out])))
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
            [python, script, npy, str(FLAGS.beam), str(FLAGS.repeats)],
            capture_output=True,
            text=True,
        )
    if proc.returncode != 0:
        print(f"pyctcdecode: SKIPPED, run failed: {proc.stderr[-500:]}")
        return None
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    best = [tuple(perm[i] for i in s) for s in out["best"]]
    return out["sec"], best


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


def agreement(a, b) -> float:
    return float(np.mean([x == y for x, y in zip(a, b, strict=True)]))


def main(_):
    b, t, v = FLAGS.batch, FLAGS.frames, FLAGS.vocab
    lp = peaky_log_probs(0, b, t, v)
    lengths = np.full((b,), t, np.int32)
    print(
        f"CTC beam search, batch {b}, {t} frames, vocab {v}, beam {FLAGS.beam}, "
        f"CPU x{os.cpu_count()}"
    )
    rows = []
    sec_full, best_full = bench_ours(jnp.asarray(lp), jnp.asarray(lengths), None)
    rows.append(("ours (jit, all symbols)", sec_full, best_full))
    for k in FLAGS.prune_top_k:
        sec, best = bench_ours(jnp.asarray(lp), jnp.asarray(lengths), int(k))
        rows.append((f"ours (jit, top-{k} symbols/frame)", sec, best))
    sec_tf, best_tf = bench_tf(lp, lengths)
    rows.append(("tf.nn.ctc_beam_search_decoder", sec_tf, best_tf))
    if not FLAGS.skip_pyctcdecode:
        res = bench_pyctcdecode(lp, lengths)
        if res is not None:
            rows.append(("pyctcdecode (no LM)", *res))
    for name, sec, best in rows:
        print(
            f"  {name:42s} {b / sec:10.1f} utt/s   top-1 agrees with ours(all): "
            f"{100 * agreement(best, best_full):5.1f}%"
        )
    rate = {name: b / sec for name, sec, _ in rows}
    for mine in [n for n in rate if n.startswith("ours")]:
        for other in [n for n in rate if not n.startswith("ours")]:
            print(f"  {mine} / {other}: {rate[mine] / rate[other]:.1f}x")
    for weight in (0.0, 0.3):
        sec = bench_attention(lp, lengths, weight)
        print(
            f"attention beam search (beam 8, max_len 30, V {v}, ctc_weight {weight}): "
            f"{b / sec:.1f} utt/s"
        )


if __name__ == "__main__":
    sys.exit(app.run(main))
