"""Arabic/English text analysis shared by indexing and querying.

Every function here is pure. Documents and questions go through the same code, so a
word spelled with or without hamza, harakat or tatweel matches either way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Literal

ANALYZER_VERSION = "ar-light10v+en-snowball+c3/4"
"""Recorded in the index; bump when any rule below changes so old indexes are rebuilt."""

Language = Literal["ar", "en"]

_HARAKAT = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_DIGIT_FORMS = {chr(base + d): str(d) for base in (0x0660, 0x06F0) for d in range(10)}
"""Arabic-Indic and Persian digits, as ASCII ones."""
_DIGITS = str.maketrans(_DIGIT_FORMS)
_CHAR_MAP = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ة": "ه",
        "ی": "ي",
        "ک": "ك",
        **_DIGIT_FORMS,
        "\u200c": "",
        "\u200d": "",
        "\u200f": "",
        "\u200e": "",
    }
)
_TOKEN = re.compile(r"[^\W\d_]+|\d+", re.UNICODE)
_ARABIC_LETTER = re.compile("[\u0621-\u064a\u0671-\u06d3\ufb50-\ufdff\ufe70-\ufefc]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_ARABIC_MARK = re.compile("[\u060c\u061b\u061f\u0660-\u0669\u06f0-\u06f9]")

# Larkey et al. light10: prefixes tried longest first, then suffixes repeatedly.
_AR_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_AR_SUFFIXES = ("ها", "ان", "ات", "ون", "ين", "يه", "ه", "ي")  # ة/ية folded to ه/يه
# "father of" in its three case forms (أبو / أبي / أبا) is one word for search.
_KUNYA = {"ابو": "ابو", "ابي": "ابو", "ابا": "ابو"}


def normalize(text: str) -> str:
    """Unify spelling variants: harakat and tatweel removed, alef forms, ى, ة, digits, case."""
    text = unicodedata.normalize("NFKC", text)
    text = _HARAKAT.sub("", text)
    return text.translate(_CHAR_MAP).casefold()


def plain_spelling(text: str) -> str:
    """A question as news copy spells it, for the embedding model: harakat and tatweel removed, Arabic-Indic
    digits as ASCII ones. Letters are left as written (unlike `normalize`): the model knows hamza, ة and ى.

    Vowelled or stretched words and Eastern digits are rare in news text, and the model reads them as other
    tokens: a fully vowelled question scored too low against its own answer and abstained (docs/retrieval.md,
    "How a question is spelled").
    """
    return _HARAKAT.sub("", text).translate(_DIGITS)


def tokenize(text: str) -> list[str]:
    """Normalized tokens of `text`: runs of letters, and runs of digits (so 2004م matches 2004)."""
    return _TOKEN.findall(normalize(text))


def is_arabic_word(token: str) -> bool:
    """True when the token is written in Arabic script."""
    return bool(_ARABIC_LETTER.match(token))


def stem_arabic_light10(token: str) -> str:
    """Light stemming (Larkey light10) of one normalized Arabic token."""
    if token in _KUNYA:
        return _KUNYA[token]
    return _strip_suffixes(_strip_prefixes(token))


_VOWEL_LETTERS = frozenset("اوي")
_SPELLED_VOWELS_FROM = 5
"""Stems of at least this many letters lose their inner ا و ي (measured against 4: docs/lexical.md)."""


def stem_arabic_light10v(token: str) -> str:
    """light10, then the spellings that vary with a word's vowels made one.

    * The alif of the accusative tanween (عاماً, قتيلاً, أمريكياً) is dropped before the suffixes, so
      عاماً meets عام and أمريكياً meets أمريكي.
    * In a stem of five letters or more, the long-vowel letters ا و ي between its first and last letter
      are dropped: loanwords and names are written with and without them (أمريكي / أميركي, الفيليبين /
      الفلبين, الديمقراطية / الديموقراطية). Shorter stems keep them: there the letters tell words apart.
    """
    if token in _KUNYA:
        return _KUNYA[token]
    token = _strip_prefixes(token)
    if len(token) >= 4 and token.endswith("ا"):
        token = token[:-1]
    token = _strip_suffixes(token)
    return drop_inner_vowels(token) if len(token) >= _SPELLED_VOWELS_FROM else token


def drop_inner_vowels(stem: str) -> str:
    """`stem` without the long-vowel letters ا و ي between its first and last letter."""
    return stem[0] + "".join(c for c in stem[1:-1] if c not in _VOWEL_LETTERS) + stem[-1]


def _strip_prefixes(token: str) -> str:
    if len(token) > 3 and token.startswith("و"):
        token = token[1:]
    for prefix in _AR_PREFIXES:
        if token.startswith(prefix) and len(token) - len(prefix) >= 2:
            return token[len(prefix) :]
    return token


def _strip_suffixes(token: str) -> str:
    changed = True
    while changed and len(token) > 2:
        changed = False
        for suffix in _AR_SUFFIXES:
            if token.endswith(suffix) and len(token) - len(suffix) >= 2:
                token = token[: -len(suffix)]
                changed = True
                break
    return token


@cache
def _snowball(language: str) -> Callable[[str], str]:
    import Stemmer  # PyStemmer: imported lazily, it is only needed once text is analyzed

    return Stemmer.Stemmer(language).stemWord  # type: ignore[no-any-return]


def stem_arabic_snowball(token: str) -> str:
    """Snowball Arabic stem, after removing a leading و that Snowball leaves in place."""
    if token in _KUNYA:
        return _KUNYA[token]
    if len(token) > 3 and token.startswith("و"):
        token = token[1:]
    return _snowball("arabic")(token)


def stem_english(token: str) -> str:
    """Snowball (Porter2) English stem."""
    return _snowball("english")(token)


ARABIC_STEMMERS: dict[str, Callable[[str], str]] = {
    "none": lambda token: _KUNYA.get(token, token),
    "light10": stem_arabic_light10,
    "light10v": stem_arabic_light10v,
    "snowball": stem_arabic_snowball,
}


@cache
def stopwords() -> frozenset[str]:
    """Arabic and English stopwords, normalized like the text they are removed from."""
    words: set[str] = set()
    for name in ("stopwords_ar.txt", "stopwords_en.txt"):
        text = resources.files("ingest.data").joinpath(name).read_text(encoding="utf-8")
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                words.update(tokenize(line))
    return frozenset(words)


@dataclass(frozen=True, slots=True)
class AnalyzerConfig:
    """How text becomes index terms; the default is the measured best (docs/lexical.md)."""

    arabic_stemmer: str = "light10v"
    remove_stopwords: bool = True
    char_ngram: int = 3
    """Length of the character n-grams of the second field; 0 turns that field off."""


DEFAULT_ANALYZER = AnalyzerConfig()


def analyze(text: str, config: AnalyzerConfig = DEFAULT_ANALYZER) -> list[str]:
    """Index terms of the word field: normalized, stopwords removed, stemmed."""
    return word_terms(content_tokens(text, config), config)


def char_ngrams(text: str, config: AnalyzerConfig = DEFAULT_ANALYZER) -> list[str]:
    """Terms of the character n-gram field: n-grams inside each normalized non-stopword.

    A word shorter than n is kept whole. N-grams survive clitics and spellings the
    stemmer misses (أبوبكر vs أبو بكر, البغدادي vs بغدادي).
    """
    return gram_terms(content_tokens(text, config), config)


def content_tokens(text: str, config: AnalyzerConfig = DEFAULT_ANALYZER) -> list[str]:
    """The normalized tokens of `text` that are not stopwords (what both fields are made of)."""
    if not config.remove_stopwords:
        return tokenize(text)
    stop = stopwords()
    return [token for token in tokenize(text) if token not in stop]


def word_terms(tokens: list[str], config: AnalyzerConfig = DEFAULT_ANALYZER) -> list[str]:
    """The word field of `content_tokens`: each stemmed."""
    return [_stem(token, config.arabic_stemmer) for token in tokens]


def gram_terms(tokens: list[str], config: AnalyzerConfig = DEFAULT_ANALYZER) -> list[str]:
    """The n-gram field of `content_tokens`."""
    grams: list[str] = []
    for token in tokens:
        grams.extend(_grams(token, config.char_ngram))
    return grams


@lru_cache(maxsize=1 << 18)
def _stem(token: str, arabic_stemmer: str) -> str:
    """Stems repeat across an archive: each distinct token is stemmed once (ingest's hottest path)."""
    return ARABIC_STEMMERS[arabic_stemmer](token) if is_arabic_word(token) else stem_english(token)


@lru_cache(maxsize=1 << 18)
def _grams(token: str, n: int) -> tuple[str, ...]:
    if len(token) <= n:
        return (token,)
    return tuple(token[i : i + n] for i in range(len(token) - n + 1))


def detect_language(text: str) -> Language:
    """ "ar" when Arabic letters are the majority of letters, else "en"; without letters, "ar" for Arabic
    punctuation (؟ ، ؛) or digits (٠-٩), else "en"."""
    arabic = len(_ARABIC_LETTER.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    if not arabic and not latin:
        return "ar" if _ARABIC_MARK.search(text) else "en"
    return "ar" if arabic >= latin else "en"


_SENTENCE_END = re.compile(r"[.!?؟؛;…]+[\"'»”)\]]*(?=\s|$)|\n+")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans of the sentences of `text`, without surrounding whitespace.

    Sentences end at . ! ? ؟ ؛ ; … (with any closing quotes) followed by whitespace, and
    at line breaks. A decimal point or a dot inside a word does not end a sentence.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end() if match.group().strip() else match.start()
        spans.extend(_trimmed(text, start, end))
        start = match.end()
    spans.extend(_trimmed(text, start, len(text)))
    return spans


def _trimmed(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        yield (start, end)
