"""The Assistant: retrieval plus an answerer, with models kept loaded for repeated questions."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from assistant.extractive import abstain, extract_answer
from assistant.followup import FollowUps, History, Standalone, llm_rewrite, rule_standalone
from assistant.generation import generate_answer
from assistant.llm import LLMUnavailableError
from assistant.notes import render_notes
from assistant.phrases import phrase
from assistant.records import Answer, Language, Mode, Passage
from assistant.retrieval import Retrieval, Retriever
from assistant.settings import AssistantSettings, check_k, check_sources
from ingest.analysis import detect_language
from ingest.declarations import SettingError
from ingest.embedding import Embedder
from ingest.factories import load_embedder
from ingest.filters import ArticleFilter
from ingest.settings import Settings

if TYPE_CHECKING:
    from langchain_core.retrievers import BaseRetriever

logger = logging.getLogger(__name__)

_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f]")
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
MAX_QUESTION_CHARS = 2_000
"""Longer questions are cut (at a word boundary) before retrieval."""


class Assistant:
    """Answers questions from one index; build it once and call `ask()` or `stream()` many times."""

    def __init__(self, settings: AssistantSettings, retriever: Retriever, chat_model: Any | None = None) -> None:
        self.settings = settings
        self.retriever = retriever
        self.chat_model = chat_model

    @classmethod
    def from_settings(
        cls,
        settings: AssistantSettings | None = None,
        *,
        chat_model: Any | None = None,
        embedder_factory: Callable[[Settings], Embedder] = load_embedder,
    ) -> Assistant:
        """The one factory used by the CLI, the UI and the tests.

        `chat_model` (any LangChain chat model) overrides `settings.llm`.
        """
        from assistant.factory import build_assistant

        return build_assistant(settings, chat_model=chat_model, embedder_factory=embedder_factory)

    @property
    def mode(self) -> Mode:
        """How answers are made: "llm", "extractive", or "lexical-only" (extractive without vectors)."""
        if self.chat_model is not None:
            return "llm"
        return "extractive" if self.retriever.dense else "lexical-only"

    def close(self) -> None:
        """Release the index."""
        self.retriever.close()

    def ask(
        self,
        question: str,
        *,
        history: History | None = None,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        outlets: Sequence[str] | None = None,
    ) -> Answer:
        """The answer to `question` (a follow-up when `history` holds earlier turns).

        `since` and `until` (dates, inclusive, "2019-01-01") and `outlets` (names) limit the articles it is
        answered from; both retrievers apply them while searching. Raises SettingError (a ValueError) for a
        value that is not allowed.
        """
        final: Answer | None = None
        for item in self.stream(
            question, history=history, k=k, sources=sources, since=since, until=until, outlets=outlets
        ):
            if isinstance(item, Answer):
                final = item
        assert final is not None
        return final

    def stream(
        self,
        question: str,
        *,
        history: History | None = None,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        use_llm: bool = True,
        since: str | date | None = None,
        until: str | date | None = None,
        outlets: Sequence[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Text as it is produced, then the final Answer (whose text is authoritative).

        Raises SettingError (a ValueError) for a `k` out of bounds, `sources` that are not indexed documents,
        or a date or outlet filter that is not one (ingest.filters.ArticleFilter.of).
        """
        k, sources = check_k(k), self._known_sources(check_sources(sources))
        scope = ArticleFilter.of(since=since, until=until, outlets=outlets)
        language = detect_language(question)  # of the whole question, before clean_question shortens it
        question = clean_question(question)
        if not question:
            yield Answer(phrase("empty_question", language), language, True, self.mode, (), "", "")
            return
        for item in self._stream(question, language, history, k, sources, scope, use_llm):
            if isinstance(item, Answer) and item.abstained:
                item = self._with_filter_note(item, replace(scope, sources=tuple(sources or ())))
            yield item

    def _with_filter_note(self, answer: Answer, scope: ArticleFilter) -> Answer:
        """An abstention under a filter says so: that no article passes it, or how many were searched."""
        allowed = self.retriever.allowed_count(scope)
        if allowed is None:
            return answer
        said = (
            phrase("filter_allows_nothing", answer.language)
            if allowed == 0
            else phrase("filter_searched", answer.language, count=str(allowed))
        )
        return replace(answer, note=f"{said} {answer.note}".strip())

    def _stream(
        self,
        question: str,
        language: Language,
        history: History | None,
        k: int | None,
        sources: Sequence[str] | None,
        scope: ArticleFilter,
        use_llm: bool,
    ) -> Iterator[str | Answer]:
        model = self.chat_model if use_llm else None
        retrievals: dict[Standalone, Retrieval] = {}

        def retrieve(asked: Standalone) -> Retrieval:
            if asked not in retrievals:
                earlier = retrieve(asked.previous).passages if asked.previous is not None else ()
                retrievals[asked] = self.retriever.retrieve(
                    asked.question,
                    k,
                    sources,
                    context=asked.context,
                    topic=earlier[0].source if earlier else None,
                    scope=scope,
                )
            return retrievals[asked]

        def topic(asked: Standalone) -> list[str]:
            passages = retrieve(asked).passages
            return [p.text for p in passages if p.source == passages[0].source]

        asked = self._standalone(question, history, model, topic)
        retrieval = retrieve(asked)
        standalone = asked.text
        note = render_notes(retrieval.notes, language)
        if not retrieval.passages:
            yield abstain(language, self._mode(model), note, standalone)
            return
        if model is not None:
            try:
                yield from generate_answer(
                    model,
                    standalone,
                    language,
                    retrieval.passages,
                    timeout=self.settings.llm_timeout,
                    embedder=self.retriever.embedder,
                    note=note,
                )
                return
            except LLMUnavailableError as error:
                logger.warning("LLM failed, answering extractively: %s", error)
                fallback = phrase("llm_fallback", language, reason=str(error))
                note = f"{fallback} {note}".strip()
                answer = extract_answer(
                    standalone,
                    retrieval.passages,
                    embedder=self.retriever.embedder,
                    mode="extractive-fallback",
                    note=note,
                    language=language,
                    asked=asked.question,
                    closeness=retrieval.closeness,
                    in_conversation=bool(history),
                )
                yield answer
                return
        answer = extract_answer(
            standalone,
            retrieval.passages,
            embedder=self.retriever.embedder,
            mode=self._mode(None),
            note=note,
            language=language,
            asked=asked.question,
            closeness=retrieval.closeness,
            in_conversation=bool(history),
        )
        yield answer.text
        yield answer

    def search(
        self,
        question: str,
        *,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        outlets: Sequence[str] | None = None,
    ) -> tuple[Passage, ...]:
        """The `k` best passages for `question` (hybrid retrieval, one passage per wire story), without an answer.

        Filters as in `ask()`. Raises SettingError (a ValueError) for a `k` out of bounds, `sources` that are
        not indexed documents, or a filter value that is not allowed.
        """
        k, sources = check_k(k), self._known_sources(check_sources(sources))
        scope = ArticleFilter.of(since=since, until=until, outlets=outlets)
        question = clean_question(question)
        if not question:
            return ()
        return self.retriever.retrieve(question, k, sources, scope=scope).passages

    def as_retriever(
        self,
        *,
        k: int | None = None,
        sources: Sequence[str] | None = None,
        since: str | date | None = None,
        until: str | date | None = None,
        outlets: Sequence[str] | None = None,
    ) -> BaseRetriever:
        """This assistant's retrieval as a LangChain retriever: Documents with the citation metadata.

        `k`, `sources` and the filters are checked now, as `ask()` checks them.
        """
        from assistant.langchain_retriever import ArchiveRetriever

        k, sources = check_k(k), self._known_sources(check_sources(sources))
        scope = ArticleFilter.of(since=since, until=until, outlets=outlets)
        return ArchiveRetriever(
            assistant=self,
            k=k,
            sources=list(sources) if sources else None,
            since=_shown_day(scope.since),
            until=_shown_day(scope.until),
            outlets=list(outlets) if outlets else None,
        )

    def _known_sources(self, sources: Sequence[str] | None) -> Sequence[str] | None:
        if sources:
            indexed = self.retriever.sources()
            unknown = sorted(set(sources) - set(indexed))
            if unknown:
                close = difflib.get_close_matches(unknown[0], indexed, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "give paths relative to the documents folder"
                raise SettingError(f"not an indexed document: {', '.join(map(repr, unknown))}; {hint}")
        return sources

    def _mode(self, model: Any | None) -> Mode:
        if model is not None:
            return "llm"
        return "extractive" if self.retriever.dense else "lexical-only"

    def _standalone(
        self, question: str, history: History | None, model: Any | None, topic: Callable[[Standalone], list[str]]
    ) -> Standalone:
        if not history:
            return Standalone(question)

        def by_rule() -> Standalone:
            return rule_standalone(question, history, topic, cast(FollowUps, self.settings.follow_ups))

        if model is not None:
            return llm_rewrite(model, question, history, self.settings.llm_timeout, by_rule)
        return by_rule()


def _shown_day(key: int | None) -> str | None:
    return None if key is None else f"{key // 10_000:04d}-{key // 100 % 100:02d}-{key % 100:02d}"


def clean_question(question: str) -> str:
    """Control and bidi-override characters removed, whitespace collapsed, length bounded."""
    question = _CONTROL.sub(" ", _INVISIBLE.sub("", question))
    question = " ".join(question.split())
    if len(question) > MAX_QUESTION_CHARS:
        cut = question.rfind(" ", 0, MAX_QUESTION_CHARS)
        question = question[: cut if cut > 0 else MAX_QUESTION_CHARS]
    return question
