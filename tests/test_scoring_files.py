"""STM/CTM round trips and the PHOENIX ground-truth line format."""

from signx_jax.cleanup import official_hypothesis
from signx_jax.scoring_files import read_ctm, read_stm, write_ctm, write_stm

PHOENIX_LINE = (
    "11August_2010_Wednesday_tagesschau-2 1 Signer08 0.0 1.79769e+308 DRUCK TIEF KOMMEN\n"
)


def test_read_phoenix_stm_line(tmp_path):
    path = tmp_path / "gt.stm"
    path.write_text(";; comment\n" + PHOENIX_LINE)
    (rec,) = read_stm(path)
    assert rec.utt_id == "11August_2010_Wednesday_tagesschau-2"
    assert (rec.channel, rec.speaker, rec.start) == ("1", "Signer08", 0.0)
    assert rec.end == 1.79769e308
    assert rec.words == ["DRUCK", "TIEF", "KOMMEN"]


def test_stm_round_trip_matches_phoenix_format(tmp_path):
    path = tmp_path / "out.stm"
    write_stm(
        path,
        [("11August_2010_Wednesday_tagesschau-2", ["DRUCK", "TIEF", "KOMMEN"])],
        speakers={"11August_2010_Wednesday_tagesschau-2": "Signer08"},
    )
    assert path.read_text() == PHOENIX_LINE


def test_ctm_round_trip_orders_by_start_and_skips_empty(tmp_path):
    path = tmp_path / "hyp.ctm"
    write_ctm(path, [("u1", ["A", "B", "C"]), ("u2", []), ("u3", ["loc-NORD"])])
    lines = path.read_text().splitlines()
    assert lines[0] == "u1 1 0.000 0.010 A"
    assert len(lines) == 4
    # Shuffled lines come back in time order.
    path.write_text("\n".join([lines[2], lines[0], lines[3], lines[1]]) + "\n")
    got = read_ctm(path)
    assert got == {"u1": ["A", "B", "C"], "u3": ["loc-NORD"]}
    # The official clean-up works per CTM word; an utterance without lines is [EMPTY].
    assert official_hypothesis(got.get("u2", [])) == ["[EMPTY]"]
    assert official_hypothesis(got["u3"]) == ["NORD"]
