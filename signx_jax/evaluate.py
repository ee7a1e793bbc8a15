"""Scoring a trained CSLR on dev and test (paper appendix D.1; README "Design").

``decode_split`` runs the compiled eval step (the trainer's decoding method,
``set_decode_method``) over one split and returns reference / hypothesis gloss strings;
``score`` turns them into the paper's metrics (WER after the dataset's
clean-up, BLEU-1..4, ROUGE-L); ``score_and_report`` does both routes and
both splits and writes ``metrics.json`` and ``report.md``.
"""

from __future__ import annotations

import json
import os
from collections import Counter

import numpy as np
from tqdm import tqdm

from signx_jax.cleanup import get_cleanup
from signx_jax.data import pipeline
from signx_jax.train.fit import _gather
from signx_jax.train.loop import to_global


def decode_split(trainer, source, vocab, *, desc: str = "decode") -> tuple[list[str], list[str]]:
    cfg = trainer.cfg
    it = pipeline.make_eval_iterator(
        source, vocab, batch_size=cfg.data.eval_batch_size, buckets=cfg.data.buckets,
        features=trainer.task.features, max_label_len=cfg.data.max_label_len,
    )  # fmt: skip
    refs, hyps = [], []
    total = pipeline.num_eval_batches(len(source), cfg.data.eval_batch_size, 1)
    for batch in tqdm(it, total=total, desc=desc, leave=False):
        out = _gather(trainer.eval_step(to_global(batch, trainer.mesh)))
        for valid, lab, n, hyp in zip(
            out["valid"], out["labels"], out["label_lengths"], out["hyp"], strict=False
        ):
            if valid:
                refs.append(vocab.decode([int(t) for t in lab[:n]]))
                hyps.append(vocab.decode([int(t) for t in np.asarray(hyp) if t >= 0]))
    return refs, hyps


def score(
    refs: list[str], hyps: list[str], *, dataset: str = "none", cleanup_mode: str | None = None
) -> dict[str, float]:
    """WER (sclite costs), BLEU-1..4 and ROUGE-L in percent after the dataset's clean-up,
    as ``report.evaluate_split`` computes them (default: no clean-up)."""
    from signx_jax.report import evaluate_split  # matplotlib: only when scoring

    m, _ = evaluate_split(refs, hyps, dataset, cleanup_mode)
    out = {"wer": m["wer"], "rouge_l": m["rouge"]}
    out.update({f"bleu{n}": float(m[f"bleu{n}"]) for n in range(1, 5)})
    out["sentences"] = float(m["num_sentences"])
    return out


def format_table(rows: dict[str, dict[str, float]]) -> str:
    bleu_keys = sorted(k for k in next(iter(rows.values())) if k.lower().startswith("bleu"))
    head = [
        "route / split / decoding",
        "WER",
        *[k.upper() for k in bleu_keys],
        "ROUGE-L",
        "sentences",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in rows.items():
        cells = [name, f"{m['wer']:.2f}", *[f"{m[k]:.2f}" for k in bleu_keys],
                 f"{m['rouge_l']:.2f}", f"{int(m['sentences'])}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def most_frequent_sentence_baseline(
    train_glosses, refs: dict[str, list[str]], *, dataset: str
) -> dict[str, dict[str, float]]:
    """Score the constant guess "the most frequent training gloss sentence" on each split.

    What a model that learned only the label prior would reach: a corpus on which
    it scores well is too easy to show that a model reads the signing.
    ``train_glosses``: the training sentences; ``refs``: {split: reference sentences}.
    """
    guess = Counter(train_glosses).most_common(1)[0][0]
    return {
        f"most frequent train sentence / {split}": score(r, [guess] * len(r), dataset=dataset)
        for split, r in refs.items()
    }


def score_and_report(
    trainer, latents: dict, vocab, out_dir: str, *, dataset: str, methods=("ctc_greedy",)
) -> str:
    """latents: {route: {split: source}} -> Markdown table (also written to out_dir).

    Each route also gets the full report of ``signx_jax.report`` (clean-up,
    worst sentences with alignments, WER-by-length and substitution plots)
    for the last decoding method in ``methods``. A route's ``train`` split,
    when given, adds the most-frequent-sentence baseline under ``baselines``
    in ``metrics.json`` and below the table.
    """
    from signx_jax.report import write_report

    os.makedirs(out_dir, exist_ok=True)
    rows, sentences = {}, {}
    for method in methods:
        trainer.set_decode_method(method)
        for route, splits in latents.items():
            per_split = {}
            for split in ("dev", "test"):
                name = f"{route} / {split} / {method}"
                refs, hyps = decode_split(trainer, splits[split], vocab, desc=name)
                rows[name] = score(refs, hyps, dataset=dataset)
                per_split[split] = {"refs": refs, "hyps": hyps}
                sentences[name] = per_split[split]
            write_report(os.path.join(out_dir, route), per_split, dataset)
    table = format_table(rows)
    summary = {"dataset": dataset, "metrics": rows}
    route, splits = next(iter(latents.items()))
    if "train" in splits:
        train = splits["train"]
        baselines = most_frequent_sentence_baseline(
            (train[i]["gloss"] for i in range(len(train))),
            {s: sentences[f"{route} / {s} / {methods[0]}"]["refs"] for s in ("dev", "test")},
            dataset=dataset,
        )
        summary["baselines"] = baselines
        table += "\n\nBaseline, no model (always the most frequent train sentence):\n\n"
        table += format_table(baselines)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out_dir, "hypotheses.json"), "w") as f:
        json.dump(sentences, f, indent=1)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(
            f"# SignX evaluation on {dataset}\n\nReleased model; decoding: {', '.join(methods)}; "
            f"WER after the `{get_cleanup(dataset).name}` gloss clean-up.\n\n"
        )
        f.write(table + "\n")
    return table
