"""HTML for the web chat: every piece of document or model text escaped, each block in its own direction.

Escaping covers HTML and the Markdown/LaTeX syntax the chat component would otherwise
interpret, so an article holding `<script>`, a `[link](javascript:...)` or `$$` shows as text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from assistant.records import Answer, Citation
from ingest.analysis import detect_language, split_sentences

_MARKER = re.compile(r"\[(\d+)\]")
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
    """A chat message in its own direction, [n] markers kept readable (isolated, left-to-right)."""
    parts = []
    position = 0
    for match in _MARKER.finditer(text):
        parts.append(escape_text(text[position : match.start()]))
        parts.append(f'<bdi class="cite" dir="ltr">&#91;{match.group(1)}&#93;</bdi>')
        position = match.end()
    parts.append(escape_text(text[position:]))
    lang = "ar" if direction(text) == "rtl" else "en"
    return f'<div class="msg" dir="{direction(text)}" lang="{lang}">{"".join(parts)}</div>'


def quote_ranges(passage: str, quote: str) -> list[tuple[int, int]]:
    """Where the sentences of `quote` lie inside `passage` (sentences not found are left out)."""
    ranges = []
    for start, end in split_sentences(quote):
        sentence = quote[start:end].strip("«» ")
        found = passage.find(sentence) if sentence else -1
        if found >= 0:
            ranges.append((found, found + len(sentence)))
    return sorted(ranges)


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
            f'<span class="{"verified" if citation.supported else "unverified"}">{check}</span></div>'
            f'<blockquote class="passage" dir="{direction(citation.passage)}">{passage}</blockquote></div>'
        )
    return f'<div class="sources">{"".join(items)}</div>'


def render_article(citation: Citation, article_text: str) -> str:
    """The whole cleaned article, the cited passage marked (id passage-highlight) and the quote inside it bold."""
    start, end = citation.start, citation.end
    inner = highlight(article_text[start:end], quote_ranges(article_text[start:end], citation.quote), "strong")
    body = (
        escape_text(article_text[:start])
        + f'<mark id="passage-highlight">{inner}</mark>'
        + escape_text(article_text[end:])
    )
    return (
        f'<div class="article" dir="{direction(article_text)}">'
        f'<h3 dir="auto">{escape_text(citation.title)}</h3>'
        f'<p class="article-file" dir="ltr">{escape_text(citation.source)}</p>'
        f'<div class="article-body">{body}</div></div>'
    )
