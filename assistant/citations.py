"""Citation markers in generated answers: parsed while streaming, checked against their passages."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from ingest.analysis import analyze, split_sentences
from ingest.embedding import Embedder

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_MARKER = re.compile(r"\s?\[\s*([0-9٠-٩۰-۹]+(?:\s*[,،]\s*[0-9٠-٩۰-۹]+)*)\s*\]")
_OPEN_MARKER = re.compile(r"\[[\s0-9٠-٩۰-۹,،]*$")
_ANY_MARKER = re.compile(r"\[(\d+)\]")
_LEADING_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_SPACE_BEFORE_MARK = re.compile(r"\s+([.!?؟،,؛:])")
MAX_MARKER_CHARS = 16

SUPPORT_COVERAGE = 0.5
"""Share of a sentence's terms that must occur in the cited passage."""
SUPPORT_SIMILARITY = 0.6
"""Or: cosine similarity of sentence and passage (used across languages)."""


def normalize_markers(text: str, allowed: Iterable[int]) -> str:
    """Rewrite [1, 2] / [١] as [1][2] / [1]; drop numbers that do not name a given passage."""
    valid = set(allowed)

    def replace(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,،]\s*", match.group(1).translate(_DIGITS).strip())]
        kept = [n for n in dict.fromkeys(numbers) if n in valid]
        if not kept:
            return ""
        space = " " if match.group(0).startswith(" ") else ""
        return space + "".join(f"[{n}]" for n in kept)

    return _MARKER.sub(replace, text)


class MarkerStream:
    """Feeds streamed text through `normalize_markers`, holding back a marker split across chunks."""

    def __init__(self, allowed: Iterable[int]) -> None:
        self.allowed = frozenset(allowed)
        self._pending = ""
        self.text = ""
        """Everything emitted so far."""

    def feed(self, delta: str) -> str:
        """The part of the text so far that is safe to show; a possible marker start waits for more."""
        buffer = self._pending + delta
        hold = _OPEN_MARKER.search(buffer[-MAX_MARKER_CHARS:])
        if hold:
            cut = len(buffer) - (len(buffer[-MAX_MARKER_CHARS:]) - hold.start())
            # a space before the marker is held too, so that a dropped marker takes its space with it
            if cut > 0 and buffer[cut - 1] == " ":
                cut -= 1
            ready, self._pending = buffer[:cut], buffer[cut:]
        else:
            # trailing spaces wait too: a marker that follows and is dropped takes its space with it
            cut = len(buffer.rstrip(" "))
            ready, self._pending = buffer[:cut], buffer[cut:]
        return self._emit(ready)

    def finish(self) -> str:
        """Whatever is left at the end of the stream."""
        ready, self._pending = self._pending, ""
        return self._emit(ready)

    def _emit(self, ready: str) -> str:
        out = normalize_markers(ready, self.allowed)
        self.text += out
        return out


def cited_numbers(text: str) -> list[int]:
    """Marker numbers in order of first appearance."""
    return list(dict.fromkeys(int(n) for n in _ANY_MARKER.findall(text)))


def cited_sentences(text: str) -> list[tuple[int, int, list[int]]]:
    """Each sentence of `text` as (start, end, its marker numbers).

    Markers at the start of a sentence ("... بالمدينة. [2] ثم ...") belong to the sentence before it.
    """
    found: list[tuple[int, int, list[int]]] = []
    for start, end in split_sentences(text):
        lead = _LEADING_MARKERS.match(text, start, end)
        if lead and found:
            before = found[-1]
            found[-1] = (before[0], before[1], [*before[2], *cited_numbers(lead.group())])
            start = lead.end()
            while start < end and text[start].isspace():
                start += 1
            if not _has_words(text[start:end]):
                continue
        found.append((start, end, cited_numbers(text[start:end])))
    return found


def sentences_citing(text: str) -> dict[int, list[str]]:
    """For each marker number, the answer sentences that carry it (markers removed)."""
    citing: dict[int, list[str]] = {}
    for start, end, numbers in cited_sentences(text):
        plain = _SPACE_BEFORE_MARK.sub(r"\1", _ANY_MARKER.sub("", text[start:end])).strip()
        for number in dict.fromkeys(numbers):
            if plain:
                citing.setdefault(number, []).append(plain)
    return citing


def uncited_sentences(text: str) -> list[tuple[int, int]]:
    """Spans of the sentences of `text` that carry no [n] marker (a lead-in ending with ":" is no claim)."""
    return [
        (start, end)
        for start, end, numbers in cited_sentences(text)
        if not numbers and _has_words(text[start:end]) and not text[start:end].endswith(":")
    ]


def mark_unsupported(text: str, mark: str) -> tuple[str, tuple[str, ...]]:
    """`text` with `mark` after every uncited sentence (before its final stop), and those sentences."""
    spans = uncited_sentences(text)
    out, position = [], 0
    for start, end in spans:
        stop = end
        while stop > start and text[stop - 1] in ".!?؟؛…":
            stop -= 1
        out.append(f"{text[position:stop]} {mark}")
        position = stop
    out.append(text[position:])
    return "".join(out), tuple(text[s:e] for s, e in spans)


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in _ANY_MARKER.sub("", text))


def is_supported(sentence: str, passage: str, embedder: Embedder | None = None) -> bool:
    """Whether `passage` backs `sentence`: enough shared terms, or (with an embedder) close meaning."""
    terms = set(analyze(sentence))
    if terms and len(terms & set(analyze(passage))) / len(terms) >= SUPPORT_COVERAGE:
        return True
    if embedder is None:
        return False
    vectors = embedder.embed_documents([sentence, passage])
    return float(np.dot(vectors[0], vectors[1])) >= SUPPORT_SIMILARITY


def check_support(
    text: str, passages: Mapping[int, str], embedder: Embedder | None = None
) -> dict[int, tuple[bool, str]]:
    """For each cited number: (every citing sentence is backed by its passage, the citing sentences)."""
    result: dict[int, tuple[bool, str]] = {}
    for number, sentences in sentences_citing(text).items():
        if number in passages:
            supported = all(is_supported(s, passages[number], embedder) for s in sentences)
            result[number] = (supported, " ".join(sentences))
    return result
