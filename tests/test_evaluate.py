"""signx_jax/evaluate.py: the metrics row and table of the main job's report, and the
one evaluation path (decode -> annotation references -> clean-up -> WER) that both
checkpoint ranking (``train.fit.evaluate``) and the report go through."""

import json

import jax
import numpy as np
import pytest

from signx_jax import evaluate
from signx_jax.data.vocab import Vocabulary
from signx_jax.train import faults, fit, tasks
from signx_jax.train.loop import Trainer
from tests.data.factory import make_latent
from tests.train.helpers import micro_cslr_config


def test_score_is_in_percent_and_perfect_for_identical_sentences():
    refs = ["IX NOT-YET ARRIVE HOUSE", "GO WANT BOOK FINISH NOW"]
    row = evaluate.score(refs, list(refs))
    assert row["wer"] == 0.0
    assert abs(row["rouge_l"] - 100.0) < 1e-6
    assert abs(row["bleu4"] - 100.0) < 1e-6
    assert row["sentences"] == 2.0


def test_score_of_empty_hypotheses_is_worst():
    refs = ["IX NOT-YET ARRIVE HOUSE", "GO WANT BOOK FINISH NOW"]
    row = evaluate.score(refs, ["", ""])
    assert row["wer"] == 100.0
    assert row["rouge_l"] == 0.0
    assert 0.0 <= row["bleu1"] <= 1.0


def test_table_lists_every_row_and_metric():
    rows = {
        "pose / test / joint": evaluate.score(["A B C"], ["A B D"]),
        "video / test / joint": evaluate.score(["A B C"], ["A B C"]),
    }
    table = evaluate.format_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| route / split / decoding | WER | BLEU1 |")
    assert len(lines) == 4 and "| pose / test / joint | 33.33 |" in table


def test_score_applies_the_datasets_cleanup():
    # dev 05October_2011_Wednesday_heute-1069: the RWTH rules strip loc- and
    # -PLUSPLUS from the hypothesis before scoring (and keep poss- in the reference).
    refs = ["LIEB ZUSCHAUER poss-EUCH GUT ABEND"]
    hyps = ["LIEB loc-ZUSCHAUER poss-EUCH GUT ABEND-PLUSPLUS"]
    assert evaluate.score(refs, hyps)["wer"] == 40.0  # no clean-up by default: 2 S
    official = evaluate.score(refs, hyps, dataset="phoenix2014t")
    assert official["wer"] == 20.0  # only poss-EUCH vs EUCH is left
    sentence = evaluate.score(refs, hyps, dataset="phoenix2014t", cleanup_mode="sentence")
    assert sentence["wer"] == 0.0 and abs(sentence["bleu4"] - 100.0) < 1e-6


def test_most_frequent_sentence_baseline_guesses_the_mode():
    train = ["A B", "C D E", "A B", "F"]
    rows = evaluate.most_frequent_sentence_baseline(
        train, {"test": ["A B", "A C D"]}, dataset="none"
    )
    # guess "A B": 0 errors on the first, 1 S + 1 D on the second -> 2 / 5 words
    assert list(rows) == ["most frequent train sentence / test"]
    assert abs(rows["most frequent train sentence / test"]["wer"] - 40.0) < 1e-9


def test_demo_corpus_is_not_solved_by_the_label_prior():
    """The main job's corpus: always answering the most frequent train sentence fails."""
    from configs import demo
    from data_pipelines.synthetic import corpus

    cfg = demo.get_config().corpus
    world = corpus.build_world(cfg)

    def split(name):
        n = corpus.split_size(cfg, name, world)
        return [" ".join(corpus.clip_text(cfg, world, name, i)[1]) for i in range(n)]

    train = split("train")
    assert len(set(train)) > 0.9 * len(train)  # hardly any repeats
    rows = evaluate.most_frequent_sentence_baseline(
        train, {"dev": split("dev"), "test": split("test")}, dataset="synthetic"
    )
    for name, row in rows.items():
        assert row["wer"] > 85.0, (name, row)


# -- one evaluation path ----------------------------------------------------------------

DIM, MAX_LABELS = 16, 8
# PHOENIX-2014T glosses the official clean-up rewrites in hypotheses (loc-, cl-,
# -PLUSPLUS, __EMOTION__) next to ones it leaves alone.
PHOENIX = ("loc-ZUSCHAUER", "cl-KOMMEN", "ABEND-PLUSPLUS", "__EMOTION__", "GUT", "poss-EUCH")
LONG = "HEUTE ABEND REGEN NORD SUED WEST OST WIND SCHNEE SONNE KALT"  # 11 > MAX_LABELS


def _records(glosses: list[str], seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [dict(make_latent(rng, i, dim=DIM), gloss=g) for i, g in enumerate(glosses)]


@pytest.fixture(scope="module")
def micro():
    """An untrained micro CSLR on phoenix2014t (its clean-up on), max_label_len 8;
    a dev split of six sentences of PHOENIX glosses."""
    cfg = micro_cslr_config(DIM, batch_size=4, max_label_len=MAX_LABELS)
    cfg.dataset = "phoenix2014t"
    rng = np.random.default_rng(1)
    dev = _records([" ".join(rng.choice(PHOENIX, int(rng.integers(2, 6)))) for _ in range(6)])
    vocab = Vocabulary.build([" ".join(PHOENIX), LONG])
    return Trainer(cfg, tasks.CSLRTask(cfg, len(vocab))), dev, vocab


def _perfect_recogniser(monkeypatch, trainer, source, vocab) -> None:
    """Replace the compiled eval step by a model that outputs every record's own
    annotation (ids of ``vocab``: a gloss it does not know comes out as <unk>)."""

    def eval_step(batch):
        host = jax.device_get(batch)
        hyp = np.full((len(host["index"]), 2 * MAX_LABELS), -1, np.int32)
        for row in np.flatnonzero(host["valid"]):
            ids = vocab.encode(source[int(host["index"][row])]["gloss"])
            hyp[row, : len(ids)] = ids
        keys = ("valid", "labels", "label_lengths", "index")
        return {"hyp": hyp, **{k: host[k] for k in keys}}

    monkeypatch.setattr(trainer, "eval_step", eval_step)


def test_a_reference_longer_than_max_label_len_is_scored_as_written(micro, monkeypatch):
    """The label tensor keeps 8 of LONG's 11 glosses; the reference is all 11, so
    the hypothesis that says all 11 is perfect (not 3 insertions)."""
    trainer, _, vocab = micro
    records = _records([LONG, "GUT ABEND"])
    _perfect_recogniser(monkeypatch, trainer, records, vocab)
    refs, hyps = evaluate.decode_split(trainer, records, vocab)
    assert refs == hyps == [LONG, "GUT ABEND"]
    assert evaluate.score(refs, hyps, dataset="phoenix2014t")["wer"] == 0.0
    assert fit.evaluate(trainer, records, vocab) == {"wer": 0.0, "num_sentences": 2.0}


def test_a_reference_gloss_outside_the_vocabulary_is_an_error(micro, monkeypatch):
    """The label tensor spells an unknown gloss <unk>; the reference keeps it, and
    a model that can only say <unk> there makes one substitution in three."""
    trainer, _, vocab = micro
    assert "GEWITTER" not in vocab
    records = _records(["HEUTE GEWITTER NORD"])
    _perfect_recogniser(monkeypatch, trainer, records, vocab)
    refs, hyps = evaluate.decode_split(trainer, records, vocab)
    assert refs == ["HEUTE GEWITTER NORD"] and hyps == ["HEUTE <unk> NORD"]
    assert evaluate.score(refs, hyps)["wer"] == pytest.approx(100.0 / 3)
    assert fit.evaluate(trainer, records, vocab)["wer"] == pytest.approx(100.0 / 3)


def test_checkpoint_ranking_wer_is_the_reports_wer(micro, tmp_path, monkeypatch):
    """fit's dev WER (what picks the best five checkpoints) is the report's WER on
    the same model and split, clean-up included."""
    trainer, dev, vocab = micro

    def ranked_and_reported(out_dir):
        ranked = fit.evaluate(trainer, dev, vocab)
        latents = {"pose": {"dev": dev, "test": dev}}
        evaluate.score_and_report(trainer, latents, vocab, str(out_dir), dataset="phoenix2014t")
        rows = json.loads((out_dir / "metrics.json").read_text())["metrics"]
        row = rows["pose / dev / ctc_greedy"]
        return ranked, {"wer": row["wer"], "num_sentences": row["sentences"]}

    ranked, reported = ranked_and_reported(tmp_path / "untrained")  # the compiled eval step
    assert ranked == reported and reported["num_sentences"] == len(dev)
    # A model that writes the annotation as is: the official clean-up rewrites its
    # loc- / poss- / __EMOTION__ glosses (never the references), so its WER is not 0.
    _perfect_recogniser(monkeypatch, trainer, dev, vocab)
    ranked, reported = ranked_and_reported(tmp_path / "annotation")
    assert ranked == reported and reported["wer"] > 0.0


def test_decoding_applies_the_non_finite_input_policy(micro):
    """As in fit's dev evaluation: "error" names the record, "mask" decodes the
    record with its NaNs zeroed."""
    trainer, dev, vocab = micro
    bad, zeroed = [dict(r) for r in dev], [dict(r) for r in dev]
    bad[1]["latent"] = np.where(np.arange(len(dev[1]["latent"]))[:, None] < 3, np.nan,
                                dev[1]["latent"]).astype(np.float32)  # fmt: skip
    zeroed[1]["latent"] = np.nan_to_num(bad[1]["latent"], nan=0.0)
    data = trainer.cfg.data
    assert data.nonfinite_inputs == "mask"
    try:
        data.nonfinite_inputs = "error"
        with pytest.raises(faults.NonFiniteInputError, match=r"record\(s\) \[1\]"):
            evaluate.decode_split(trainer, bad, vocab)
    finally:
        data.nonfinite_inputs = "mask"
    assert evaluate.decode_split(trainer, bad, vocab) == evaluate.decode_split(
        trainer, zeroed, vocab
    )


def test_the_dev_chosen_decoder_is_the_best_on_dev_and_ties_go_to_the_simpler(micro, monkeypatch):
    """choose_decoding scores every candidate on dev with the report's WER and keeps
    the lowest; greedy is tried first, so the choice is never worse than greedy."""
    trainer, dev, vocab = micro
    truth = [r["gloss"].split() for r in dev]

    def eval_step(batch):  # the hypothesis depends on the decoder the trainer is set to
        host = jax.device_get(batch)
        method, knobs = trainer.task.decode_method, jax.device_get(trainer._decode_knobs)
        errors = {"ctc_greedy": 2, "ctc_beam": 1}.get(method)
        if errors is None:  # joint: perfect at ctc_weight 0.5 whatever the length penalty
            errors = 0 if abs(float(knobs["ctc_weight"]) - 0.5) < 1e-6 else 3
        hyp = np.full((len(host["index"]), 2 * MAX_LABELS), -1, np.int32)
        for row in np.flatnonzero(host["valid"]):
            words = truth[int(host["index"][row])]
            ids = vocab.encode(" ".join(words[errors:]))
            hyp[row, : len(ids)] = ids
        return {"hyp": hyp, **{k: host[k] for k in ("valid", "index")}}

    monkeypatch.setattr(trainer, "eval_step", eval_step)
    trainer.cfg.decode.update(method="joint", dev_ctc_weights=(0.3, 0.5),
                              dev_length_penalties=(0.0, 1.0))  # fmt: skip
    try:
        candidates = evaluate.decoding_candidates(trainer.cfg.decode)
        assert [c[0] for c in candidates] == ["ctc_greedy", "ctc_beam"] + ["joint"] * 4
        choice = evaluate.choose_decoding(trainer, dev, vocab, dataset="none",
                                          candidates=candidates)  # fmt: skip
        assert choice["name"] == "joint (ctc_weight 0.5, length_penalty 0)"  # tie: the first
        assert (
            choice["dev_wer"] == 0.0 < choice["tried"][1]["dev_wer"] < choice["tried"][0]["dev_wer"]
        )
        assert trainer.task.decode_method == "joint"  # left decoding with the choice
        trainer.cfg.decode.method = "ctc_beam"  # no attention decoder: CTC decoders only
        assert [c[0] for c in evaluate.decoding_candidates(trainer.cfg.decode)] == [
            "ctc_greedy", "ctc_beam"]  # fmt: skip
    finally:
        trainer.set_decode_method("ctc_greedy")


def test_joint_decoding_knobs_are_traced_and_equal_the_configured_values():
    """The tiny SignX CSLR: joint decoding with (ctc_weight, length_penalty) passed to
    set_decode_method decodes as the same values set in the config do, and trying
    another pair reuses the compiled step."""
    from configs.common import train_config

    cfg = train_config("cslr", "tiny")
    cfg.model.latent_dim = DIM
    cfg.data.update(batch_size=4, eval_batch_size=4, buckets=(32,), max_label_len=MAX_LABELS)
    cfg.mesh.update(data=1, fsdp=1, tensor=1)
    cfg.decode.update(method="joint", ctc_weight=0.5, length_penalty=1.0, beam=3)
    rng = np.random.default_rng(3)
    dev = _records([" ".join(rng.choice(PHOENIX, int(rng.integers(2, 5)))) for _ in range(4)])
    vocab = Vocabulary.build([" ".join(PHOENIX)])
    trainer = Trainer(cfg, tasks.CSLRTask(cfg, len(vocab)))
    trainer.set_decode_method("joint")
    static = evaluate.decode_split(trainer, dev, vocab)
    trainer.set_decode_method("joint", ctc_weight=0.5, length_penalty=1.0)
    assert evaluate.decode_split(trainer, dev, vocab) == static
    step = trainer._eval_step
    trainer.set_decode_method("joint", ctc_weight=1.0, length_penalty=0.0)
    evaluate.decode_split(trainer, dev, vocab)
    assert trainer._eval_step is step and step._cache_size() == 1
