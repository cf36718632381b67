"""Assistant.as_retriever(): a LangChain BaseRetriever over the real index, used inside a real chain."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from langchain_core.documents import Document
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnablePassthrough

from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.declarations import SettingError

CITATION_KEYS = {
    "chunk_id",
    "source",
    "title",
    "start",
    "end",
    "score",
    "dense_score",
    "lexical_score",
    "terms_score",
    "found_by",
    "content_hash",
    "date",
    "outlet",
    "author",
    "url",
    "also_in",
}


@pytest.fixture(scope="module")
def assistant(lexical_seed_index: AssistantSettings) -> Iterator[Assistant]:
    assistant = Assistant.from_settings(lexical_seed_index)
    yield assistant
    assistant.close()


def test_documents_carry_the_citation_metadata(assistant: Assistant) -> None:
    retriever = assistant.as_retriever(k=3)
    assert isinstance(retriever, BaseRetriever)
    documents = retriever.invoke("بماذا هدد المهاجر نيوزيلندا؟")
    assert 1 <= len(documents) <= 3
    assert documents[0].metadata["source"] == "004_13e14b1b79b6834b.txt"
    for document in documents:
        assert set(document.metadata) == CITATION_KEYS
        article = assistant.retriever.article(document.metadata["source"])
        assert article is not None
        assert article.text[document.metadata["start"] : document.metadata["end"]] == document.page_content
        assert document.id == document.metadata["chunk_id"]
        assert document.metadata["content_hash"] == article.content_hash


def test_in_a_chain_batch_and_async(assistant: Assistant) -> None:
    retriever = assistant.as_retriever(k=2)

    def join(documents: list[Document]) -> str:
        return "\n".join(f"[{d.metadata['source']}] {d.page_content}" for d in documents)

    prompt = ChatPromptTemplate.from_messages([("human", "Passages:\n{context}\n\nQuestion: {question}")])
    model = FakeListChatModel(responses=["جواب"])
    chain = {"context": retriever | join, "question": RunnablePassthrough()} | prompt | model | StrOutputParser()
    assert chain.invoke("ماذا حدث في منبج؟") == "جواب"
    batches = retriever.batch(["ماذا حدث في منبج؟", "من هو لاهور طالباني؟"])
    assert [len(b) for b in batches] == [2, 2]
    async_documents = asyncio.run(retriever.ainvoke("ماذا حدث في منبج؟"))
    assert [d.id for d in async_documents] == [d.id for d in batches[0]]


def test_source_filter_and_checked_arguments(assistant: Assistant) -> None:
    only = "003_0262f053a42b4a37.txt"
    documents = assistant.as_retriever(sources=[only], k=5).invoke("داعش")
    assert documents and {d.metadata["source"] for d in documents} == {only}
    with pytest.raises(SettingError):
        assistant.as_retriever(k=0)
    with pytest.raises(SettingError, match="not an indexed document"):
        assistant.as_retriever(sources=["missing.txt"])
    assert assistant.as_retriever().invoke("   ") == []
