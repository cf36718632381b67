"""Where a citation's passage and quote lie in the current text of its article, which may have changed since.

A citation records the content hash of the article it quoted. When the article was re-indexed with other
content, the viewer says so and looks for the quoted sentences in the new text instead of trusting the old
offsets (which would now point at whatever text moved there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from assistant.phrases import phrase
from assistant.records import Citation, Language
from ingest.analysis import split_sentences
from ingest.records import Article

State = Literal["unchanged", "moved", "changed", "quote_found", "quote_gone", "removed"]


@dataclass(frozen=True, slots=True)
class Located:
    """A citation found again in its article's current text."""

    state: State
    """unchanged; moved (the same content under another path); changed (elsewhere: the passage is intact);
    quote_found (passage gone, quote still there); quote_gone; removed (the article left the index)."""
    passage: tuple[int, int] | None
    """Where the cited passage lies in the current text, when it is still there."""
    quotes: tuple[tuple[int, int], ...]
    """Where the quoted sentences lie in the current text."""


def locate(citation: Citation, article: Article | None) -> Located:
    """Find `citation` in `article` (its current version, None when it left the index; another path when only
    the same content is still indexed, see `Retriever.article`)."""
    if article is None:
        return Located("removed", None, ())
    text, start, end = article.text, citation.start, citation.end
    same_content = not citation.content_hash or citation.content_hash == article.content_hash
    if text[start:end] == citation.passage:
        state: State = "changed" if not same_content else "unchanged" if article.source == citation.source else "moved"
        return Located(state, (start, end), quote_spans(text, citation.quote, start, end))
    moved = text.find(citation.passage) if citation.passage else -1
    if moved >= 0:
        span = (moved, moved + len(citation.passage))
        return Located("changed", span, quote_spans(text, citation.quote, *span))
    quotes = quote_spans(text, citation.quote, 0, len(text))
    whole = bool(quotes) and len(quotes) == len(_sentences(citation.quote))
    return Located("quote_found" if whole else "quote_gone", None, quotes)  # gone when any sentence is


def warning(located: Located, citation: Citation, language: Language, now_at: str = "") -> str:
    """What the viewer says above the article; empty when it is unchanged. `now_at`: the path of a moved one."""
    quote = citation.quote if len(citation.quote) <= 400 else citation.quote[:400] + "…"
    if located.state == "moved":
        return phrase("article_moved", language, source=now_at)
    if located.state == "changed":
        return phrase("article_changed", language)
    if located.state == "quote_found":
        return phrase("article_changed_quote_found", language)
    if located.state == "quote_gone":
        return phrase("article_changed_quote_gone", language, quote=quote)
    if located.state == "removed":
        return phrase("article_removed", language, quote=quote)
    return ""


def quote_spans(text: str, quote: str, start: int, end: int) -> tuple[tuple[int, int], ...]:
    """Where each sentence of `quote` lies in text[start:end] (the first occurrence; sentences not found left out).

    A quote joins its sentences with spaces, so a sentence that spanned a line break in the article (a
    headline without a full stop, then the first sentence) is matched with any whitespace between its words.
    """
    spans = [span for sentence in _sentences(quote) if (span := _find(text, sentence, start, end)) is not None]
    return tuple(sorted(set(spans)))


def _sentences(quote: str) -> list[str]:
    """The distinct sentences of a quote, without the quotation marks around it."""
    pieces = (quote[s:e].strip("«» ") for s, e in split_sentences(quote))
    return list(dict.fromkeys(piece for piece in pieces if piece))


def _find(text: str, sentence: str, start: int, end: int) -> tuple[int, int] | None:
    found = text.find(sentence, start, end)
    if found >= 0:
        return found, found + len(sentence)
    words = sentence.split()
    if len(words) < 2:
        return None
    match = re.compile(r"\s+".join(map(re.escape, words))).search(text, start, end)
    return match.span() if match else None
