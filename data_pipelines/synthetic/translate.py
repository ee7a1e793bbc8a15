"""Rule-based gloss -> spoken-language text for Sign2Text (paper Table 3; README "Design").

Deterministic functions of the gloss sequence, so translation is learnable,
yet never a copy of the glosses: words are reordered (verb-final glosses become
SVO in English, verb-second in German), inflected (tense from time glosses,
third-person -s, do-support under negation and in questions) and function
words (articles, auxiliaries, prepositions) are inserted.

- ``translate_builtin``: English for the built-in grammar (grammar.LEXICON).
- ``translate_generic``: German-like text for any STM gloss sequence (PHOENIX).
"""

from __future__ import annotations

import re
import zlib

from data_pipelines.synthetic.grammar import LEXICON

_IRREGULAR_3S = {"have": "has", "go": "goes"}
_BE = {("present", "1"): "am", ("present", "p"): "are", ("present", "2"): "are"}
_BE.update(
    {("past", "1"): "was", ("past", "3"): "was", ("past", "p"): "were", ("past", "2"): "were"}
)


def _noun_phrase(gloss: str, adj: str | None, role: str) -> tuple[str, str]:
    """English noun phrase and its person ('1', '2', '3', 'p')."""
    entry = LEXICON[gloss]
    if entry[0] == "pron":
        return (entry[1] if role == "subj" else entry[2]), entry[3]
    if entry[0] == "place" and gloss == "HOUSE" and role == "place":
        return "home", "3"
    article = "the" if entry[0] in ("place", "mass") or adj else ("a" if role == "obj" else "the")
    words = [article] + ([LEXICON[adj][1]] if adj else []) + [entry[1]]
    if words[0] == "a" and words[1][0] in "aeiou":
        words[0] = "an"
    return " ".join(words), "3"


def _verb(gloss: str, tense: str, person: str, neg: bool, question: bool) -> list[str]:
    """Inflected verb group, with do-support for negation and questions."""
    base, past = LEXICON[gloss][1], LEXICON[gloss][2]
    if tense == "future":
        return ["will", "not", base] if neg else ["will", base]
    if neg or question:
        aux = "did" if tense == "past" else ("does" if person == "3" else "do")
        return [aux, "not", base] if neg else [aux, base]
    if tense == "past":
        return [past]
    if person == "3":
        return [_IRREGULAR_3S.get(base, base + ("es" if base.endswith(("sh", "ch")) else "s"))]
    return [base]


def translate_builtin(glosses: list[str]) -> str:
    """English sentence for a built-in grammar gloss sequence."""
    toks = list(glosses)
    time = toks.pop(0) if toks and LEXICON[toks[0]][0] == "time" else None
    tense = LEXICON[time][2] if time else "present"
    neg = "NOT" in toks
    toks = [t for t in toks if t != "NOT"]
    wh = next((t for t in toks if LEXICON[t][0] == "wh"), None)
    toks = [t for t in toks if t != wh]
    verb = next((t for t in toks if LEXICON[t][0] in ("verb", "motion", "intrans")), None)
    adjs = [t for t in toks if LEXICON[t][0] == "adj"]
    nominals = [t for t in toks if LEXICON[t][0] in ("pron", "noun", "place", "mass")]
    subject = None if wh == "WHO" else nominals.pop(0)
    obj = nominals[0] if nominals else None
    words: list[str] = []
    if verb is None:  # predicate adjective: SUBJ ADJ -> "the dog is big"
        subj, person = _noun_phrase(subject, None, "subj")
        be = ["will", "be"] if tense == "future" else [_BE.get((tense, person), "is")]
        if neg:
            be.insert(1 if tense == "future" else len(be), "not")
        words = [subj] + be + [LEXICON[adjs[0]][1]]
    elif wh == "WHO":
        obj_np, _ = _noun_phrase(obj, adjs[0] if adjs else None, "obj")
        words = ["who"] + _verb(verb, tense, "3", neg, False) + [obj_np]
    else:
        subj, person = _noun_phrase(subject, None, "subj")
        if wh:  # "where does he go", "what did you buy"
            vg = _verb(verb, tense, person, neg, True)
            words = [LEXICON[wh][1], vg[0], subj] + vg[1:]
        else:
            words = [subj] + _verb(verb, tense, person, neg, False)
        if obj and LEXICON[verb][0] == "motion":
            place, _ = _noun_phrase(obj, None, "place")
            words += (["to"] if place != "home" else []) + [place]
        elif obj:
            words.append(_noun_phrase(obj, adjs[0] if adjs else None, "obj")[0])
    if time:
        words.append(LEXICON[time][1])
    return " ".join(words) + (" ?" if wh else " .")


# --- German-like text for STM gloss sequences (PHOENIX weather domain) ------
_DE_TIME = set(
    "HEUTE MORGEN JETZT NACHT ABEND MITTAG TAG MONTAG DIENSTAG MITTWOCH DONNERSTAG FREITAG "
    "SAMSTAG SONNTAG WOCHENENDE NACHMITTAG VORMITTAG FRUEH SPAETER DANN IM-VERLAUF".split()
)
_DE_WORDS = {"IX": "dort", "KOENNEN": "kann", "HABEN": "hat", "SEIN": "ist", "WERDEN": "wird"}
_DE_NOT_VERBS = set("REGEN NORDEN SUEDEN OSTEN WESTEN ALPEN BESONDERS MORGEN TROCKEN OFFEN".split())
_DE_FUNCTION = set(
    "UND ODER ABER AUCH NICHT NOCH SCHON NUR MEHR VIEL WENIG BIS NACH IN WIE DABEI DAZU SO "
    "WENN DESHALB SONST WIEDER MAL WEITER ZWISCHEN MEISTENS ALLE".split()
)
_ARTICLES = ("der", "die", "das")


def _de_word(gloss: str) -> str:
    if gloss in _DE_WORDS:
        return _DE_WORDS[gloss]
    gloss = re.sub(r"^[a-z]+-", "", gloss)  # poss-EUCH, loc-REGION -> EUCH, REGION
    return gloss.replace("+", "").replace("-", " ").lower()


def _is_verb(gloss: str) -> bool:
    return gloss in _DE_WORDS or (
        gloss.endswith("EN") and gloss not in _DE_NOT_VERBS and "-" not in gloss
    )


def translate_generic(glosses: list[str]) -> str:
    """German-like sentence: time first, verb second (inflected), articles on nouns."""
    toks = [g for g in glosses if not g.startswith("__")]  # __ON__, __OFF__ markers
    if not toks:
        return "."
    times = [g for g in toks if g in _DE_TIME]
    rest = [g for g in toks if g not in _DE_TIME]
    verbs = [g for g in rest if _is_verb(g)]
    others = [g for g in rest if not _is_verb(g)]
    phrases = []
    for g in others:
        # Nouns get an article whose gender is a fixed function of the gloss.
        h = zlib.crc32(g.encode())
        article = g not in _DE_FUNCTION and not g[-1:].isdigit() and h % 4 != 0
        phrases.append((_ARTICLES[h % 3] + " " if article else "") + _de_word(g))
    front = [_de_word(g) for g in times] if times else phrases[:1]
    tail = phrases if times else phrases[1:]
    if verbs:
        first = _DE_WORDS.get(verbs[0], _de_word(verbs[0])[:-2] + "t")
        out = front + [first] + tail + [_de_word(v) for v in verbs[1:]]
    else:
        out = front + tail
    text = " ".join(out)
    return text[:1].upper() + text[1:] + " ."
