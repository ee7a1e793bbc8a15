"""Evaluation report: metrics JSON, Markdown tables and plots (paper appendix D.1).

``write_report`` takes decoded references/hypotheses per split, applies the
dataset's gloss clean-up, and writes into ``out_dir``:

- ``metrics.json``: per split WER (sclite costs, with S/D/I/N), WER with unit
  costs, BLEU-1..4 and ROUGE-L, plus the dataset and clean-up mode;
- ``report.md``: the paper-style table (ROUGE, BLEU1-4, WER for dev and
  test), the error breakdown, and the 20 worst sentences with their
  alignments (S/D/I marked);
- ``wer_by_length.png`` and ``substitutions.png``.

Scoring sclite-style files directly (one split per STM/CTM pair)::

  python -m signx_jax.report --stm dev.stm --ctm dev.ctm --split dev \
      --dataset phoenix2014t --cleanup official --out_dir /tmp/report
"""

from __future__ import annotations

import collections
import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from signx_jax import cleanup, metrics, scoring_files  # noqa: E402

SPLIT_ORDER = ("dev", "test")


def _tokens(x: str | Sequence[str]) -> list[str]:
    return x.split() if isinstance(x, str) else list(x)


def evaluate_split(
    refs: Sequence[str | Sequence[str]],
    hyps: Sequence[str | Sequence[str]],
    dataset: str,
    cleanup_mode: str | None,
) -> tuple[dict, metrics.WerResult]:
    """Metrics of one split after clean-up; refs/hyps are strings or token lists."""
    clean = cleanup.get_cleanup(dataset, cleanup_mode)
    ref_tok, hyp_tok = clean([_tokens(r) for r in refs], [_tokens(h) for h in hyps])
    result = metrics.wer(ref_tok, hyp_tok, costs="sclite")
    # "[EMPTY]" is a scoring placeholder for sclite, not an output word.
    ref_str = [" ".join(r) for r in ref_tok]
    hyp_str = [" ".join(t for t in h if t != cleanup.EMPTY) for h in hyp_tok]
    out = dict(
        **result.as_dict(),
        wer_unit=100.0 * metrics.wer(ref_tok, hyp_tok, costs="unit").wer,
        rouge=metrics.rouge_l(ref_str, hyp_str),
        **metrics.bleu(ref_str, hyp_str),
        num_sentences=len(ref_tok),
    )
    return out, result


def format_alignment(alignment: metrics.Alignment) -> str:
    """sclite-style three lines: REF, HYP and the marks, columns padded."""
    ref, hyp, mark = ["REF:"], ["HYP:"], ["    "]
    for op, r, h in alignment.ops:
        r = r if r is not None else "*" * len(h)
        h = h if h is not None else "*" * len(r)
        width = max(len(r), len(h), 1)
        ref.append(r.ljust(width))
        hyp.append(h.ljust(width))
        mark.append((op if op != "C" else "").ljust(width))
    return "\n".join(" ".join(line).rstrip() for line in (ref, hyp, mark))


def _paper_table(per_split: dict[str, dict]) -> str:
    splits = [s for s in SPLIT_ORDER if s in per_split] + [
        s for s in per_split if s not in SPLIT_ORDER
    ]
    cols = ("rouge", "bleu1", "bleu2", "bleu3", "bleu4", "wer")
    head = ["Method"] + [f"{s.capitalize()} {c.upper()}" for s in splits for c in cols]
    row = ["SignX (ours)"] + [f"{per_split[s][c]:.2f}" for s in splits for c in cols]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        "| " + " | ".join(row) + " |",
    ]
    return "\n".join(lines)


def _plot_wer_by_length(out: Path, alignments: dict[str, list[metrics.Alignment]]) -> None:
    fig, ax = plt.subplots(figsize=(7.5, 3.5))
    for split, aligns in alignments.items():
        buckets: dict[int, list[int]] = collections.defaultdict(lambda: [0, 0])
        for a in aligns:
            key = min(a.n_ref // 3 * 3, 24)  # 3-gloss buckets, 24+ together
            buckets[key][0] += a.errors
            buckets[key][1] += a.n_ref
        xs = sorted(k for k, v in buckets.items() if v[1])
        ax.plot(xs, [100.0 * buckets[k][0] / buckets[k][1] for k in xs], marker="o", label=split)
    ax.set_xlabel("reference length (glosses, bucket start)")
    ax.set_ylabel("WER (%)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)  # beside: inside hid points
    fig.tight_layout()
    fig.savefig(out / "wer_by_length.png", dpi=100)
    plt.close(fig)


def _plot_substitutions(out: Path, pairs: collections.Counter, top: int = 20) -> None:
    common = pairs.most_common(top)
    fig, ax = plt.subplots(figsize=(6, 0.3 * max(len(common), 1) + 1.2))
    labels = [f"{r} -> {h}" for (r, h), _ in common][::-1]
    ax.barh(labels, [n for _, n in common][::-1])
    ax.set_xlabel("count")
    ax.set_title("most frequent substitutions (ref -> hyp)")
    fig.tight_layout()
    fig.savefig(out / "substitutions.png", dpi=100)
    plt.close(fig)


def write_report(
    out_dir: str | Path,
    results: dict[str, dict],
    dataset: str,
    cleanup_mode: str | None = None,
    *,
    worst: int = 20,
) -> dict:
    """Evaluate every split and write metrics.json, report.md and the plots.

    results: {split: {"refs": [...], "hyps": [...], "ids": [...] (optional)}}
    with sentences as strings or token lists. Returns the metrics dict.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    mode = cleanup.get_cleanup(dataset, cleanup_mode).name
    per_split, aligns, worst_rows = {}, {}, []
    subs: collections.Counter = collections.Counter()
    for split, res in results.items():
        if len(res["refs"]) != len(res["hyps"]):
            raise ValueError(
                f"write_report: split {split!r} has {len(res['refs'])} refs "
                f"but {len(res['hyps'])} hyps"
            )
        per_split[split], wer_result = evaluate_split(
            res["refs"], res["hyps"], dataset, cleanup_mode
        )
        aligns[split] = wer_result.alignments
        ids = res.get("ids") or [f"{split}-{k}" for k in range(len(res["refs"]))]
        for utt, a in zip(ids, wer_result.alignments, strict=True):
            subs.update((r, h) for op, r, h in a.ops if op == "S")
            worst_rows.append((a.errors / max(a.n_ref, 1), a.errors, split, utt, a))
    summary = dict(dataset=dataset, cleanup=mode, splits=per_split)
    (out / "metrics.json").write_text(json.dumps(summary, indent=2))

    worst_rows.sort(key=lambda row: (-row[0], -row[1], row[2], row[3]))
    md = [f"# Evaluation: {dataset}", "", f"Gloss clean-up: `{mode}`. WER with sclite costs.", ""]
    md += [_paper_table(per_split), "", "## Errors", ""]
    md += [
        "| Split | WER | Sub | Del | Ins | N | WER (unit costs) |",
        "|---|---|---|---|---|---|---|",
    ]
    for split, m in per_split.items():
        md.append(
            f"| {split} | {m['wer']:.2f} | {m['sub']} | {m['dele']} | {m['ins']} | {m['n_ref']} "
            f"| {m['wer_unit']:.2f} |"
        )
    md += ["", f"## Worst {worst} sentences", ""]
    for rate, errors, split, utt, a in [row for row in worst_rows if row[1]][:worst]:
        md += [f"**{split} / {utt}**: {errors} errors, WER {100 * rate:.1f}%", "", "```"]
        md += [format_alignment(a), "```", ""]
    md += [
        "## Plots",
        "",
        "![WER by length](wer_by_length.png)",
        "",
        "![substitutions](substitutions.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(md))
    _plot_wer_by_length(out, aligns)
    _plot_substitutions(out, subs)
    return summary


def results_from_files(stm_path: str | Path, ctm_path: str | Path) -> dict:
    """{"refs", "hyps", "ids"} of one split from an STM and a CTM file.

    Utterances follow the STM; one missing from the CTM has an empty
    hypothesis (the official clean-up scores it as [EMPTY]).
    """
    refs = scoring_files.read_stm(stm_path)
    hyps = scoring_files.read_ctm(ctm_path)
    unknown = sorted(set(hyps) - {r.utt_id for r in refs})
    if unknown:
        raise ValueError(f"{ctm_path}: {len(unknown)} ids not in {stm_path}, e.g. {unknown[0]!r}")
    return dict(
        refs=[r.words for r in refs],
        hyps=[hyps.get(r.utt_id, []) for r in refs],
        ids=[r.utt_id for r in refs],
    )


def _main(argv: list[str]) -> None:
    del argv
    flags = _FLAGS
    res = results_from_files(flags.stm, flags.ctm)
    summary = write_report(flags.out_dir, {flags.split: res}, flags.dataset, flags.cleanup)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    from absl import app
    from absl import flags as absl_flags

    absl_flags.DEFINE_string("stm", None, "reference STM file", required=True)
    absl_flags.DEFINE_string("ctm", None, "hypothesis CTM file", required=True)
    absl_flags.DEFINE_string("split", "dev", "split name used in the report")
    absl_flags.DEFINE_string("dataset", "phoenix2014t", "dataset (selects the clean-up)")
    absl_flags.DEFINE_string("cleanup", None, "official | sentence | none (default per dataset)")
    absl_flags.DEFINE_string("out_dir", "report", "output directory")
    _FLAGS = absl_flags.FLAGS
    app.run(_main)
