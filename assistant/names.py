"""Names in Latin letters found in Arabic text by their consonants ("Lahur Talabani" in "لاهور طالباني").

An English question over Arabic articles shares no words with them, except the names it asks about, which the
articles spell in Arabic letters. Both spellings are reduced to a skeleton of consonant classes: letters that
transliterate into one another share a class (ت ط and t; س ص ش and s, sh; ك ق خ and k, q, kh), vowels are
dropped (Latin a e i o u; Arabic ا ع ء and its seats, and a final ة), w and y and و ي count only at the
start of a word (where they are consonants), and a repeated class counts once (Mattis, ماتيس: m t s). The
Arabic article and the proclitics و ب ل ف ك are tried off.

A skeleton of two classes ("Ban", "Sean") matches too many Arabic words to count alone: such a name counts only
next to another name of the question found next to it in the text ("Sean Ryan": شون راين).

What a skeleton cannot tell apart, it confuses: Talabani and Taliban (طالبان) are both t l b n. That is why
names only vouch for a sentence that meaning ranked low, and never order the sentences (extractive.rescued).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ingest.analysis import analyze, normalize

MIN_ALONE = 3
"""Consonant classes a name needs to count when found on its own."""

_LATIN_PAIRS = {"sh": "s", "ch": "s", "th": "t", "kh": "k", "gh": "g", "dh": "d", "ph": "f", "ck": "k"}
_LATIN = {
    **dict.fromkeys("bp", "b"),
    "t": "t",
    "d": "d",
    **dict.fromkeys("sc", "s"),
    "z": "z",
    **dict.fromkeys("kq", "k"),
    **dict.fromkeys("gj", "g"),
    **dict.fromkeys("fv", "f"),
    "m": "m",
    "n": "n",
    "l": "l",
    "r": "r",
    "h": "h",
    "w": "w",
    "y": "y",
    "x": "ks",
}
_ARABIC = {
    **dict.fromkeys("بپ", "b"),
    **dict.fromkeys("تطث", "t"),
    **dict.fromkeys("دضذ", "d"),
    **dict.fromkeys("سصش", "s"),
    **dict.fromkeys("زظ", "z"),
    **dict.fromkeys("كقخ", "k"),
    **dict.fromkeys("جغگ", "g"),
    **dict.fromkeys("فڤ", "f"),
    "م": "m",
    "ن": "n",
    "ل": "l",
    "ر": "r",
    **dict.fromkeys("هح", "h"),
    "و": "w",
    "ي": "y",
}
_SEMIVOWELS = frozenset("wy")
_PROCLITICS = ("وال", "بال", "فال", "كال", "لل", "ال", "و", "ب", "ل", "ف", "ك")
_LATIN_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_ARABIC_WORD = re.compile("[\u0621-\u064a]+")
_CAPITAL = re.compile("[A-Z]")


def latin_skeleton(word: str) -> str:
    """The consonant classes of a word in Latin letters ("Talabani" -> "tlbn")."""
    word = word.lower().split("'")[0]
    classes: list[str] = []
    i = 0
    while i < len(word):
        pair = _LATIN_PAIRS.get(word[i : i + 2])
        if pair is not None:
            classes.append(pair)
            i += 2
            continue
        letter = _LATIN.get(word[i], "")
        if word[i] == "c" and word[i + 1 : i + 2] not in ("e", "i", "y"):
            letter = "k"  # a hard c (Cup, Mecca)
        if letter in _SEMIVOWELS and i > 0:
            letter = ""
        classes.append(letter)
        i += 1
    return _collapse(classes)


def arabic_skeletons(word: str) -> frozenset[str]:
    """The consonant classes of an Arabic word, with and without each proclitic it may carry."""
    word = normalize(word)
    forms = {word}
    forms.update(word[len(p) :] for p in _PROCLITICS if word.startswith(p) and len(word) - len(p) >= 2)
    skeletons = {_arabic_skeleton(form) for form in forms}
    # ة, folded to ه by normalize(), is a vowel at the end of a name (الرقة: Raqqa)
    skeletons.update(s[:-1] for s in list(skeletons) if s.endswith("h") and len(s) > 1)
    return frozenset(skeletons)


@lru_cache(maxsize=1 << 16)
def _arabic_skeleton(word: str) -> str:
    classes = []
    for i, letter in enumerate(word):
        value = _ARABIC.get(letter, "")
        if value in _SEMIVOWELS and i > 0:
            value = ""
        classes.append(value)
    return _collapse(classes)


def _collapse(classes: Sequence[str]) -> str:
    out: list[str] = []
    for value in "".join(classes):
        if not out or out[-1] != value:
            out.append(value)
    return "".join(out)


def typed_in_lowercase(question: str) -> bool:
    """Whether `question` has no capital letter at all: capitals cannot tell its names."""
    return not _CAPITAL.search(question)


def question_names(question: str) -> list[list[str]]:
    """Runs of capitalized words of an English question, each run a name ("Lahur Talabani"), as written.

    The first word counts when it is not a stopword ("Baghouz: what happened?"), as it would be capitalized
    as any sentence's first word is. A question typed without any capital letter ("who is lahur talabani?")
    has no capitals to go by: there every run of words that are not stopwords may be a name ("lahur
    talabani"), and only the ones the text spells count (measured in docs/answers.md)."""
    lowercase = typed_in_lowercase(question)
    runs: list[list[str]] = []
    current: list[str] = []
    previous_end = -1
    for index, match in enumerate(_LATIN_WORD.finditer(question)):
        word = match.group()
        if lowercase:
            named = bool(analyze(word))
        else:
            named = word[0].isupper() and word != "I" and (index > 0 or bool(analyze(word)))
        adjacent = question[previous_end : match.start()].strip(" -") == "" if previous_end >= 0 else False
        if named and current and adjacent:
            current.append(word)
        elif named:
            if current:
                runs.append(current)
            current = [word]
        else:
            if current:
                runs.append(current)
            current = []
        previous_end = match.end()
    if current:
        runs.append(current)
    return runs


@dataclass(frozen=True, slots=True)
class QuestionNames:
    """An English question's names as consonant skeletons, read once to be looked for in many sentences."""

    runs: tuple[tuple[str, ...], ...]
    """The skeletons of each run of names (question_names)."""
    terms: int
    """How many analyzer terms the question has (what a share is taken of)."""

    @classmethod
    def of(cls, question: str) -> QuestionNames:
        return cls.of_runs(question_names(question), len(analyze(question)))

    @classmethod
    def of_runs(cls, runs: Sequence[Sequence[str]], terms: int) -> QuestionNames:
        """Names from runs of words as written (question_names), of a question of `terms` analyzer terms."""
        return cls(tuple(tuple(latin_skeleton(word) for word in run) for run in runs), terms)

    def found(self, text: str) -> int:
        """How many words of the names `text` spells in Arabic letters (see the module's rule)."""
        if not self.runs:
            return 0
        words = [arabic_skeletons(word) for word in _ARABIC_WORD.findall(normalize(text))]
        found = 0
        for skeletons in self.runs:
            places = [{i for i, forms in enumerate(words) if skeleton and skeleton in forms} for skeleton in skeletons]
            for j, skeleton in enumerate(skeletons):
                if not places[j]:
                    continue
                beside = (j > 0 and any(i - 1 in places[j - 1] for i in places[j])) or (
                    j + 1 < len(skeletons) and any(i + 1 in places[j + 1] for i in places[j])
                )
                if len(skeleton) >= MIN_ALONE or beside:
                    found += 1
        return found

    def share(self, text: str) -> float:
        """The share of the question's analyzer terms that are names found in `text` (0 when it has none)."""
        if not self.terms:
            return 0.0
        return min(1.0, self.found(text) / self.terms)


def names_found(question: str, text: str) -> int:
    """How many words of the question's names `text` spells in Arabic letters (see the module's rule)."""
    return QuestionNames.of(question).found(text)


def names_share(question: str, text: str) -> float:
    """The share of the question's analyzer terms that are names found in `text` (0 when it has none)."""
    return QuestionNames.of(question).share(text)
