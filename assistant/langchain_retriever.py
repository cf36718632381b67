"""The assistant's retrieval as a LangChain `BaseRetriever`, for people who build their own chains.

Each `Document` is one passage: `page_content` is its text, `id` its chunk id, and `metadata` the
citation's fields (source, title, offsets into the cleaned article, date, outlet, author, url, the
other copies of its wire story under `also_in`) with the scores retrieval gave it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from assistant.records import Passage


class ArchiveRetriever(BaseRetriever):
    """Hybrid (dense + Arabic-aware lexical) retrieval over one index, one passage per wire story."""

    assistant: Any
    """The `assistant.service.Assistant` whose index is searched."""
    k: int | None = None
    """Passages per query (None: the assistant's ASSISTANT_K)."""
    sources: list[str] | None = None
    """Only these documents, when given."""
    since: str | None = None
    """Only articles dated on or after this day (ISO 8601), when given."""
    until: str | None = None
    """Only articles dated on or before this day, when given."""
    outlets: list[str] | None = None
    """Only articles of these outlets, when given."""

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        passages = self.assistant.search(
            query, k=self.k, sources=self.sources, since=self.since, until=self.until, outlets=self.outlets
        )
        return [passage_document(p) for p in passages]


def passage_document(passage: Passage) -> Document:
    """One retrieved passage as a LangChain Document."""
    return Document(page_content=passage.text, id=passage.chunk_id, metadata=passage_metadata(passage))


def passage_metadata(passage: Passage) -> dict[str, Any]:
    """The citation fields of a passage, JSON-ready (also the `search` tool's result items)."""
    data = asdict(passage)
    data.pop("text")
    data.pop("sentence_scores")
    data["found_by"] = list(passage.found_by)
    data["also_in"] = [asdict(copy) for copy in passage.also_in]
    return data
