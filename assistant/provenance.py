"""Where a citation's passage and quote lie in the current text of its article, which may have changed since.

A citation records the content hash of the article it quoted. When the article was re-indexed with other
content, the viewer says so and looks for the quoted sentences in the new text instead of trusting the old
offsets (which would now point at whatever text moved there).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assistant.phrases import phrase
from assistant.records import Citation, Language
from ingest.analysis import split_sentences
from ingest.records import Article

State = Literal["unchanged", "changed", "quote_found", "quote_gone", "removed"]


@dataclass(frozen=True, slots=True)
class Located:
    """A citation found again in its article's current text."""

    state: State
    """unchanged; changed (elsewhere: the passage is intact); quote_found (passage gone, quote still there);
    quote_gone; removed (the article left the index)."""
    passage: tuple[int, int] | None
    """Where the cited passage lies in the current text, when it is still there."""
    quotes: tuple[tuple[int, int], ...]
    """Where the quoted sentences lie in the current text."""


def locate(citation: Citation, article: Article | None) -> Located:
    """Find `citation` in `article` (its current version, None when it left the index)."""
    if article is None:
        return Located("removed", None, ())
    text, start, end = article.text, citation.start, citation.end
    same_content = not citation.content_hash or citation.content_hash == article.content_hash
    if text[start:end] == citation.passage:
        state: State = "unchanged" if same_content else "changed"
        return Located(state, (start, end), quote_spans(text, citation.quote, start, end))
    moved = text.find(citation.passage) if citation.passage else -1
    if moved >= 0:
        span = (moved, moved + len(citation.passage))
        return Located("changed", span, quote_spans(text, citation.quote, *span))
    quotes = quote_spans(text, citation.quote, 0, len(text))
    return Located("quote_found" if quotes else "quote_gone", None, quotes)


def warning(located: Located, citation: Citation, language: Language) -> str:
    """What the viewer says above the article; empty when it is unchanged."""
    quote = citation.quote if len(citation.quote) <= 400 else citation.quote[:400] + "…"
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
    """Where each sentence of `quote` lies in text[start:end] (the first occurrence; sentences not found left out)."""
    spans = []
    for s, e in split_sentences(quote):
        sentence = quote[s:e].strip("«» ")
        found = text.find(sentence, start, end) if sentence else -1
        if found >= 0:
            spans.append((found, found + len(sentence)))
    return tuple(sorted(set(spans)))
