"""The one factory that builds an Assistant for the CLI, the UI, the Python API and the tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.llm import build_chat_model
from assistant.reranking import Reranker
from assistant.retrieval import Retriever
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.embedding import Embedder
from ingest.factories import load_embedder
from ingest.redaction import protect_logs
from ingest.settings import Settings


def build_assistant(
    settings: AssistantSettings | None = None,
    *,
    chat_model: Any | None = None,
    embedder_factory: Callable[[Settings], Embedder] = load_embedder,
) -> Assistant:
    """An Assistant over the index named by `settings` (default: from the environment).

    `chat_model` (any LangChain chat model) overrides `settings.llm`.
    """
    settings = settings or AssistantSettings.from_env()
    protect_logs(settings.secrets())
    reranker = Reranker(settings.reranker_model, settings.index.device) if settings.rerank else None
    retriever = Retriever.open(settings, embedder_factory=embedder_factory, reranker=reranker)
    if chat_model is None and settings.llm:
        try:
            chat_model = build_chat_model(settings.llm, settings.llm_timeout)
        except BaseException:
            retriever.close()
            raise
    return Assistant(settings, retriever, chat_model)
