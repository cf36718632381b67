"""The LLM answerer: numbered passages in, a streamed answer with checked [n] citations out."""

from __future__ import annotations

import html
from collections.abc import Iterator, Sequence
from typing import Any

from assistant.citations import MarkerStream, check_support, mark_unsupported
from assistant.llm import stream_text
from assistant.phrases import phrase, prompt
from assistant.records import Answer, Citation, Language, Passage
from ingest.embedding import Embedder


def render_passages(passages: Sequence[Passage]) -> str:
    """Passages numbered from 1 and fenced as untrusted content (a fence inside the text is neutralized)."""
    blocks = []
    for number, passage in enumerate(passages, start=1):
        text = passage.text.replace("<passage", "‹passage").replace("</passage", "‹/passage")
        source = html.escape(passage.source, quote=True)
        blocks.append(f'<passage n="{number}" source="{source}">\n{text}\n</passage>')
    return "\n\n".join(blocks)


def answer_messages(question: str, language: Language, passages: Sequence[Passage]) -> list[Any]:
    """System and user messages for the chat model, from the prompt files of `language`."""
    from langchain_core.messages import HumanMessage, SystemMessage

    user = prompt("answer_user", language).format(passages=render_passages(passages), question=question)
    return [SystemMessage(content=prompt("answer_system", language)), HumanMessage(content=user)]


def generate_answer(
    model: Any,
    question: str,
    language: Language,
    passages: Sequence[Passage],
    *,
    timeout: float,
    embedder: Embedder | None = None,
    note: str = "",
) -> Iterator[str | Answer]:
    """Stream the model's answer (unknown [n] removed), then yield the final Answer with checked citations.

    In the final text every sentence that cites no passage is marked [unsupported] (in the answer's language).

    Raises LLMUnavailableError when the model fails or times out.
    """
    markers = MarkerStream(range(1, len(passages) + 1))
    for delta in stream_text(model, answer_messages(question, language, passages), timeout):
        shown = markers.feed(delta)
        if shown:
            yield shown
    tail = markers.finish()
    if tail:
        yield tail
    text = markers.text.strip()
    by_number = {n: p for n, p in enumerate(passages, start=1)}
    support = check_support(text, {n: p.text for n, p in by_number.items()}, embedder)
    citations = tuple(
        Citation.of(number, by_number[number], quote, supported)
        for number, (supported, quote) in sorted(support.items())
    )
    abstained = not citations and (not text or _says_not_found(text, language))
    unsupported: tuple[str, ...] = ()
    if abstained:
        text = phrase("not_found", language)
    else:
        text, unsupported = mark_unsupported(text, phrase("unsupported_mark", language))
        if unsupported:
            note = f"{phrase('unsupported_note', language)} {note}".strip()
    yield Answer(text, language, abstained, "llm", citations, note, question, unsupported)


def _says_not_found(text: str, language: Language) -> bool:
    reply = text.strip().rstrip(".。").casefold()
    return (
        any(phrase("not_found", lang).rstrip(".").casefold() in reply for lang in (language, "en", "ar"))
        or len(reply) < 3
    )
