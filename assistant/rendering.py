"""HTML for the web chat: every piece of document or model text escaped, each block in its own direction.

Escaping covers HTML and the Markdown/LaTeX syntax the chat component would otherwise
interpret, so an article holding `<script>`, a `[link](javascript:...)` or `$$` shows as text.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from assistant.phrases import phrase
from assistant.provenance import Located, quote_spans
from assistant.records import Answer, Citation, Language, OtherCopy
from ingest.analysis import detect_language
from ingest.metadata import safe_url

_MARKER = re.compile(r"\[(\d+)\]")
_UNSUPPORTED = tuple(phrase("unsupported_mark", language) for language in ("en", "ar"))
# One pass: HTML specials, and the characters Markdown, GFM or LaTeX rendering would act on, as entities.
_ENTITIES = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
    | {c: f"&#{ord(c)};" for c in "[]()*_`#!|~$\\{}+-=:"}
)


def escape_text(text: str) -> str:
    """Text as inert HTML: tags, entities and Markdown syntax neutralized, line breaks kept."""
    return text.replace("\r\n", "\n").translate(_ENTITIES).replace("\n", "<br>")


def direction(text: str) -> str:
    """ "rtl" for Arabic-majority text, else "ltr"."""
    return "rtl" if detect_language(text) == "ar" else "ltr"


def render_message(text: str) -> str:
    """A chat message in its own direction; [n] markers isolated left-to-right, [unsupported] marks as warnings."""
    parts = []
    position = 0
    for match in _MARKER.finditer(text):
        parts.append(_with_unsupported_marks(text[position : match.start()]))
        parts.append(f'<bdi class="cite" dir="ltr">&#91;{match.group(1)}&#93;</bdi>')
        position = match.end()
    parts.append(_with_unsupported_marks(text[position:]))
    lang = "ar" if direction(text) == "rtl" else "en"
    return f'<div class="msg" dir="{direction(text)}" lang="{lang}">{"".join(parts)}</div>'


def _with_unsupported_marks(text: str) -> str:
    escaped = escape_text(text)
    for mark in _UNSUPPORTED:
        escaped = escaped.replace(
            escape_text(mark),
            f'<bdi class="unsupported" title="no passage backs this sentence">⚠ {escape_text(mark)}</bdi>',
        )
    return escaped


def quote_ranges(passage: str, quote: str) -> list[tuple[int, int]]:
    """Where the sentences of `quote` lie inside `passage` (sentences not found are left out)."""
    return list(quote_spans(passage, quote, 0, len(passage)))


def highlight(text: str, ranges: Sequence[tuple[int, int]], tag: str = "mark", attrs: str = "") -> str:
    """Escaped `text` with each (start, end) range wrapped in `tag` (ranges must not overlap)."""
    out = []
    position = 0
    for start, end in ranges:
        if start < position:
            continue
        out.append(escape_text(text[position:start]))
        out.append(f"<{tag}{attrs}>{escape_text(text[start:end])}</{tag}>")
        position = end
    out.append(escape_text(text[position:]))
    return "".join(out)


def origin_text(outlet: str | None, date: str | None) -> str:
    """ "outlet · date" (the day of an ISO date), whichever of the two is known; empty when neither is."""
    return " · ".join(part for part in (outlet, date[:10] if date else None) if part)


def render_link(url: str | None, label: str | None = None) -> str:
    """A link that opens in a new tab and tells the site nothing: http(s) only, else nothing at all."""
    checked = safe_url(url)
    if checked is None:
        return ""
    parts = urlsplit(checked)
    shown = label or (parts.hostname or "").removeprefix("www.") + (parts.path if parts.path != "/" else "")
    if len(shown) > 60:
        shown = shown[:59] + "…"
    return (
        f'<a class="source-link" dir="ltr" href="{html.escape(checked, quote=True)}" target="_blank" '
        f'rel="noopener noreferrer">{escape_text(shown)}</a>'
    )


def render_origin(outlet: str | None, date: str | None, url: str | None) -> str:
    """The outlet, date and link of an article, as one inline element (empty when none is known)."""
    text = origin_text(outlet, date)
    link = render_link(url)
    if not text and not link:
        return ""
    separator = " · " if text and link else ""
    return f'<span class="source-origin" dir="auto"><bdi>{escape_text(text)}</bdi>{separator}{link}</span>'


def render_also_in(copies: Sequence[OtherCopy], language: Language) -> str:
    """The other articles that carry the same wire story: outlet, date, link and file of each."""
    if not copies:
        return ""
    items = "".join(
        f'<li>{render_origin(c.outlet, c.date, c.url)} <bdi class="also-source">{escape_text(c.source)}</bdi></li>'
        for c in copies
    )
    summary = escape_text(phrase("also_in", language, count=str(len(copies))))
    return f'<details class="also-in" dir="auto"><summary>{summary}</summary><ul>{items}</ul></details>'


def render_sources(answer: Answer) -> str:
    """The cited sources under an answer: file, title, the quote highlighted inside its passage, verification."""
    items = []
    for citation in answer.citations:
        check = "✓ verified" if citation.supported else "⚠ not verified"
        passage = highlight(citation.passage, quote_ranges(citation.passage, citation.quote))
        items.append(
            f'<div class="source" data-number="{citation.number}">'
            f'<div class="source-head" dir="auto"><b dir="ltr">&#91;{citation.number}&#93;</b> '
            f'<bdi class="source-file">{escape_text(citation.source)}</bdi> — '
            f'<bdi class="source-title">{escape_text(citation.title)}</bdi> '
            f'<span class="{"verified" if citation.supported else "unverified"}">{check}</span>'
            f"{_line_break(render_origin(citation.outlet, citation.date, citation.url))}</div>"
            f'<blockquote class="passage" dir="{direction(citation.passage)}">{passage}</blockquote>'
            f"{render_also_in(citation.also_in, answer.language)}</div>"
        )
    return f'<div class="sources">{"".join(items)}</div>'


def render_article(citation: Citation, article_text: str, located: Located | None = None, note: str = "") -> str:
    """The whole cleaned article with the cited passage marked (id passage-highlight) and the quote inside it bold.

    `located` says where the passage and quote lie now (assistant/provenance.py); without it, at the citation's
    offsets. `note` (the article changed since the answer...) is shown above the article.
    """
    passage = (citation.start, citation.end) if located is None else located.passage
    if passage is not None:
        start, end = passage
        if located is None:
            quotes = quote_ranges(article_text[start:end], citation.quote)
        else:
            quotes = [(s - start, e - start) for s, e in located.quotes if start <= s and e <= end]
        body = (
            escape_text(article_text[:start])
            + f'<mark id="passage-highlight">{highlight(article_text[start:end], quotes, "strong")}</mark>'
            + escape_text(article_text[end:])
        )
    else:  # the passage is gone: mark the quoted sentences that are still there, scrolling to the first
        assert located is not None
        body = highlight(article_text, located.quotes, "mark", ' class="quote-found"')
        body = body.replace('<mark class="quote-found">', '<mark class="quote-found" id="passage-highlight">', 1)
    banner = f'<p class="article-warning" dir="{direction(note)}">⚠ {escape_text(note)}</p>' if note else ""
    return (
        f'<div class="article" dir="{direction(article_text)}">'
        f'<h3 dir="auto">{escape_text(citation.title)}</h3>'
        f'<p class="article-file" dir="ltr">{escape_text(citation.source)}</p>'
        f"{_paragraph(render_origin(citation.outlet, citation.date, citation.url))}"
        f'{banner}<div class="article-body">{body}</div></div>'
    )


def _line_break(origin: str) -> str:
    return f"<br>{origin}" if origin else ""


def _paragraph(origin: str) -> str:
    return f'<p class="article-origin">{origin}</p>' if origin else ""
