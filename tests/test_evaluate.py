"""signx_jax/evaluate.py: the metrics row and table of the main job's report."""

from signx_jax import evaluate


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
