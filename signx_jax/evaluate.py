"""The one evaluation path: decode -> annotation references -> clean-up -> metrics.

Paper D.1 and README "Decoding and evaluation". Checkpoint ranking (the dev
WER of ``train.fit.evaluate`` that picks the best five), the final report
(``score_and_report``, the main job's ``evaluate`` step) and Sign2Text scoring
all go through these functions, so a number means the same everywhere:

* ``run_eval`` runs the compiled eval step (``trainer.eval_step``, with the
  decoding method of ``set_decode_method``) over one ordered pass of a split,
  zeroing or rejecting non-finite inputs as training does
  (``data.nonfinite_inputs``), and gathers the outputs on the host;
* ``sentences`` pairs every valid row's hypothesis (``ids_to_text``) with the
  annotation text of its record (``reference_texts``). Never the label
  tensor: it is cut to ``data.max_label_len`` and spells unknown glosses
  ``<unk>``, so a long or out-of-vocabulary reference would be scored as
  something the annotators did not write;
* ``score`` applies the dataset's clean-up (``signx_jax.cleanup``) and gives
  WER (sclite costs), BLEU-1..4 and ROUGE-L; ``gloss_wer`` is its WER, what
  ranks checkpoints;
* ``choose_decoding`` picks each route's decoder on its dev split (CTC greedy,
  CTC prefix beam, joint CTC/attention over a grid of CTC weights and length
  penalties; ties go to the simpler one), so the decoder that ships is never
  worse on dev than greedy decoding;
* ``decode_split`` = ``run_eval`` + ``sentences``; ``score_and_report`` does
  both routes and both splits, adds the dev-chosen decoder's rows and writes
  ``metrics.json`` (with the choice under ``decoding``) and ``report.md``;
  ``accuracy_and_report`` is its isolated-recognition twin (WLASL: top-1 / top-5
  against the annotation glosses, ``signx_jax.train.isolated``).
"""

from __future__ import annotations

import json
import os
from collections import Counter

import jax
from tqdm import tqdm

from signx_jax.cleanup import get_cleanup
from signx_jax.data import pipeline
from signx_jax.data.vocab import ids_to_text
from signx_jax.sharding import gather, to_global
from signx_jax.train import faults


def run_eval(
    trainer, source, vocab, *, target_vocab=None, desc: str = "eval", progress: bool = False
) -> list[dict]:
    """Gathered ``trainer.eval_step`` outputs of one ordered pass over ``source``.

    Non-finite inputs follow ``data.nonfinite_inputs`` as in training ("mask":
    zeroed, the record still scored; "error": raise naming the records).
    """
    cfg = trainer.cfg
    it = pipeline.make_eval_iterator(
        source, vocab, batch_size=cfg.data.eval_batch_size, buckets=cfg.data.buckets,
        features=trainer.task.features, max_label_len=cfg.data.max_label_len,
        target_vocab=target_vocab,
    )  # fmt: skip
    policy = cfg.data.get("nonfinite_inputs", "mask")
    total = pipeline.num_eval_batches(len(source), cfg.data.eval_batch_size, jax.process_count())
    outputs = []
    for batch in tqdm(it, total=total, desc=desc, leave=False, disable=not progress):
        batch, _ = faults.sanitize_batch(batch, policy, where=f"{desc} {source!r}")
        outputs.append(gather(trainer.eval_step(to_global(batch, trainer.mesh))))
    return outputs


def reference_texts(source, indices, field: str = "gloss") -> list[str]:
    """The annotation ``field`` of records ``indices`` of ``source``, as written
    (whitespace normalised). Works for pose shards, latent caches and the
    sources over them (``ConcatSource``, ``AugmentedSource``): all return the
    record's text fields; RGB frames are not decoded to read them."""
    if hasattr(source, "replace"):  # PoseShardSource: skip the frames
        source = source.replace(decode_rgb=False)
    out = []
    for i in indices:
        record = source[int(i)]
        if record is None:
            raise ValueError(f"{source!r} record {int(i)}: decoded for evaluation, then unreadable")
        out.append(" ".join(str(record.get(field, "")).split()))
    return out


def sentences(
    outputs: list[dict], source, vocab, *, key: str = "hyp", field: str = "gloss"
) -> tuple[list[str], list[str]]:
    """(references, hypotheses) of the valid rows of eval ``outputs``, in order.

    Hypotheses: ``outputs[k][key]`` ids through ``ids_to_text``; references:
    the ``field`` annotation of record ``outputs[k]["index"]`` of ``source``.
    """
    indices, hyps = [], []
    for out in outputs:
        for valid, index, hyp in zip(out["valid"], out["index"], out[key], strict=True):
            if valid:
                indices.append(int(index))
                hyps.append(ids_to_text(hyp, vocab))
    return reference_texts(source, indices, field), hyps


def decode_split(trainer, source, vocab, *, desc: str = "decode") -> tuple[list[str], list[str]]:
    """Reference (annotation) and hypothesis gloss strings of every record of ``source``."""
    return sentences(run_eval(trainer, source, vocab, desc=desc, progress=True), source, vocab)


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


def gloss_wer(
    refs: list[str], hyps: list[str], *, dataset: str = "none", cleanup_mode: str | None = None
) -> dict[str, float]:
    """What ranks checkpoints: ``score``'s WER (clean-up included) and the sentence count."""
    if not refs:  # an empty split: nothing to rank by
        return {"wer": float("inf"), "num_sentences": 0.0}
    m = score(refs, hyps, dataset=dataset, cleanup_mode=cleanup_mode)
    return {"wer": m["wer"], "num_sentences": m["sentences"]}


def decoding_candidates(decode_cfg) -> list[tuple[str, dict[str, float]]]:
    """What ``choose_decoding`` tries, simplest first: CTC greedy, CTC prefix beam
    and, when the model has an attention decoder (``decode.method`` is "joint" or
    "attention"), joint decoding at every ``dev_ctc_weights`` x
    ``dev_length_penalties`` pair (CTC weight 0 is the attention decoder alone)."""
    candidates = [("ctc_greedy", {}), ("ctc_beam", {})]
    if decode_cfg.method in ("joint", "attention"):
        candidates += [
            ("joint", {"ctc_weight": float(w), "length_penalty": float(lp)})
            for w in decode_cfg.get("dev_ctc_weights", (decode_cfg.ctc_weight,))
            for lp in decode_cfg.get("dev_length_penalties", (decode_cfg.length_penalty,))
        ]
    return candidates


def describe_decoding(method: str, knobs: dict[str, float]) -> str:
    """``joint (ctc_weight 0.5, length_penalty 1)`` or ``ctc_greedy``."""
    if not knobs:
        return method
    return f"{method} (" + ", ".join(f"{k} {v:g}" for k, v in knobs.items()) + ")"


def choose_decoding(
    trainer, dev_source, vocab, *, dataset: str, candidates, desc: str = "dev"
) -> dict:
    """The candidate with the lowest dev WER (``gloss_wer``: clean-up included;
    the earlier, simpler one on a tie). Leaves ``trainer`` decoding with it.

    Returns {"method", "knobs", "name", "dev_wer", "tried": [{"name", "dev_wer"}]}.
    Joint decoding compiles once: its knobs are traced (``set_decode_method``).
    """
    tried, best = [], None
    for method, knobs in tqdm(candidates, desc=f"choosing the decoder on {desc}", leave=False):
        trainer.set_decode_method(method, **knobs)
        refs, hyps = sentences(run_eval(trainer, dev_source, vocab), dev_source, vocab)
        wer = gloss_wer(refs, hyps, dataset=dataset)["wer"]
        tried.append({"name": describe_decoding(method, knobs), "dev_wer": wer})
        if best is None or wer < best[2]:
            best = (method, knobs, wer)
    method, knobs, wer = best
    trainer.set_decode_method(method, **knobs)
    return {"method": method, "knobs": knobs, "name": describe_decoding(method, knobs),
            "dev_wer": wer, "tried": tried}  # fmt: skip


def released_decoders(stage_dir: str) -> dict[str, tuple[str, dict[str, float]]]:
    """{route: (method, knobs)} chosen on dev for a stage's released checkpoints
    (``<stage_dir>/decoding.json``, written by the main job's evaluate step); {}
    when the run did not choose (``decode.choose_on_dev`` off)."""
    path = os.path.join(stage_dir, "decoding.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as f:
        routes = json.load(f)["routes"]
    return {route: (c["method"], c["knobs"]) for route, c in routes.items()}


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
    trainer,
    latents: dict,
    vocab,
    out_dir: str,
    *,
    dataset: str,
    methods=("ctc_greedy",),
    splits=("dev", "test"),
    candidates=None,
) -> tuple[str, dict]:
    """latents: {route: {split: source}} -> (Markdown table, also written to out_dir;
    {route: ``choose_decoding``'s choice}, empty without ``candidates``).

    Rows: every route x split x decoding method in ``methods``, then, with
    ``candidates`` (``decoding_candidates``) and a dev split, the decoder
    ``choose_decoding`` picks on each route's dev ("dev-chosen"; the choice is
    under ``decoding`` in ``metrics.json`` and in ``report.md``). Each route also
    gets the full report of ``signx_jax.report`` (clean-up, worst sentences with
    alignments, WER-by-length and substitution plots) for its last decoder. A
    route's ``train`` split, when given, adds the most-frequent-sentence
    baseline under ``baselines`` in ``metrics.json`` and below the table.
    """
    from signx_jax.report import write_report

    os.makedirs(out_dir, exist_ok=True)
    rows, sentences_by_row, chosen = {}, {}, {}
    d = trainer.cfg.decode  # the configured knobs, traced as the chosen ones are: one compile
    configured = {"ctc_weight": d.ctc_weight, "length_penalty": d.length_penalty}
    decoders = [(m, m, configured if m in ("joint", "attention") else {}) for m in methods]
    for route, sources in latents.items() if candidates and "dev" in splits else ():
        choice = choose_decoding(trainer, sources["dev"], vocab, dataset=dataset,
                                 candidates=candidates, desc=f"{route} / dev")  # fmt: skip
        chosen[route] = choice
        decoders.append(("dev-chosen", choice["method"], choice["knobs"], route))
    for label, method, knobs, *only in decoders:
        trainer.set_decode_method(method, **knobs)
        for route, sources in latents.items():
            if only and only[0] != route:
                continue
            per_split = {}
            for split in splits:
                name = f"{route} / {split} / {label}"
                refs, hyps = decode_split(trainer, sources[split], vocab, desc=name)
                rows[name] = score(refs, hyps, dataset=dataset)
                per_split[split] = {"refs": refs, "hyps": hyps}
                sentences_by_row[name] = per_split[split]
            write_report(os.path.join(out_dir, route), per_split, dataset)
    table = format_table(rows)
    summary = {"dataset": dataset, "metrics": rows}
    if chosen:
        summary["decoding"] = chosen
        table += "\n\nDecoder chosen on each route's dev WER (dev-chosen rows):\n\n"
        table += "\n".join(
            f"- {route}: {c['name']} (dev WER {c['dev_wer']:.2f}; ctc_greedy "
            f"{c['tried'][0]['dev_wer']:.2f}, {len(c['tried'])} decoders tried)"
            for route, c in chosen.items()
        )
    route, sources = next(iter(latents.items()))
    if "train" in sources:
        train = sources["train"]
        baselines = most_frequent_sentence_baseline(
            (train[i]["gloss"] for i in range(len(train))),
            {s: sentences_by_row[f"{route} / {s} / {methods[0]}"]["refs"] for s in splits},
            dataset=dataset,
        )
        summary["baselines"] = baselines
        table += "\n\nBaseline, no model (always the most frequent train sentence):\n\n"
        table += format_table(baselines)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out_dir, "hypotheses.json"), "w") as f:
        json.dump(sentences_by_row, f, indent=1)
    used = [*methods, *(["dev-chosen"] if chosen else [])]
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(
            f"# SignX evaluation on {dataset}\n\nReleased model; decoding: {', '.join(used)}; "
            f"WER after the `{get_cleanup(dataset).name}` gloss clean-up.\n\n"
        )
        f.write(table + "\n")
    return table, chosen


def accuracy_and_report(
    trainer, latents: dict, vocab, out_dir: str, *, dataset: str, splits=("dev", "test")
) -> str:
    """``score_and_report`` for isolated recognition (WLASL, ``data.task = "isolated"``):
    top-1 / top-5, per instance and per class, of each route's dev and test against
    the annotation glosses (``IsolatedTask.summarize_eval``) -> table (also written
    to ``out_dir``: metrics.json, report.md). A route's ``train`` split adds the
    baselines: always the most frequent train gloss, and chance (1 / train classes)."""
    from signx_jax.train.isolated import format_table as accuracy_table
    from signx_jax.train.isolated import text_accuracy_summary, topk_texts

    os.makedirs(out_dir, exist_ok=True)
    rows, refs = {}, {}
    for route, sources in latents.items():
        for split in splits:
            name = f"{route} / {split}"
            outputs = run_eval(trainer, sources[split], vocab, desc=name, progress=True)
            split_refs, hyps = topk_texts(outputs, sources[split], vocab)
            rows[name] = text_accuracy_summary(split_refs, hyps)
            refs.setdefault(split, split_refs)  # the first route's, for the baselines
    table = accuracy_table(rows)
    summary = {"dataset": dataset, "metrics": rows}
    train = next(iter(latents.values())).get("train")
    if train is not None:
        glosses = Counter(" ".join(str(train[i]["gloss"]).split()) for i in range(len(train)))
        guess = glosses.most_common(1)[0][0]
        baselines = {
            f"most frequent train gloss / {split}": text_accuracy_summary(r, [[guess]] * len(r))
            for split, r in refs.items()
        }
        summary["baselines"] = baselines
        summary["chance_top1"] = 100.0 / len(glosses)
        table += "\n\nBaseline, no model (always the most frequent train gloss):\n\n"
        table += accuracy_table(baselines)
        table += f"\n\nChance top-1: {summary['chance_top1']:.2f} % ({len(glosses)} classes)"
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(summary, f, indent=2)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(f"# SignX isolated recognition on {dataset}\n\nReleased model; top-k accuracy "
                f"(%) against the annotation glosses.\n\n{table}\n")  # fmt: skip
    return table
