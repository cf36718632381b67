"""An archive export end to end: rows indexed with their metadata, date and outlet filters inside both
retrievers, one passage per wire story with the others under also_in, latest-news questions, CLI checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from assistant.cli import main
from assistant.service import Assistant
from assistant.settings import AssistantSettings
from ingest.chroma_store import ChromaStore
from ingest.dates import date_key
from ingest.declarations import SettingError
from ingest.filters import ArticleFilter, FilterError
from ingest.layout import CHROMA_DIR
from ingest.status import index_status
from ingest.sync import sync
from tests.news_corpus import EVAL_DIR, archive_rows

ROWS = 80

Row = dict[str, Any]
Archive = tuple[AssistantSettings, list[Row]]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Archive:
    """80 rows (8 of them wire copies) in one JSON Lines export, indexed with the tiny model (dense + lexical)."""
    root = tmp_path_factory.mktemp("archive")
    docs = root / "docs"
    docs.mkdir()
    rows = [dict(r) for r in archive_rows(ROWS, seed=7)]
    with open(docs / "export.jsonl", "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps({k: v for k, v in row.items() if k not in ("iso_date", "story")}) + "\n")
    settings = AssistantSettings.from_env({}, docs_dir=docs, index_dir=root / "index", embedding_model=str(tiny_model))
    report = sync(settings.index)
    assert not report.skipped and report.dense
    return settings, rows


@pytest.fixture(scope="module")
def assistant(archive: Archive) -> Iterator[Assistant]:
    assistant = Assistant.from_settings(archive[0])
    yield assistant
    assistant.close()


def source(row: Row) -> str:
    return f"export.jsonl#id={row['id']}"


def test_rows_are_documents_with_their_metadata_in_chroma(archive: Archive) -> None:
    settings, rows = archive
    assert index_status(settings.index).documents == ROWS
    store = ChromaStore.open(settings.index.index_dir / CHROMA_DIR, collection=settings.index.chroma_collection)
    by_source = {source(r): r for r in rows}
    got = store._collection.get(include=["metadatas"])  # what a `where` clause sees
    assert got["metadatas"]
    for meta in got["metadatas"]:
        row = by_source[meta["source"]]
        assert meta["day"] == date_key(row["iso_date"])
        assert meta["outlet_key"]


def test_date_filter_is_applied_inside_both_retrievers(assistant: Assistant, archive: Archive) -> None:
    _, rows = archive
    target = rows[0]
    day = target["iso_date"]
    scope = ArticleFilter.of(since=day, until=day)
    allowed = {source(r) for r in rows if r["iso_date"] == day}
    retriever = assistant.retriever
    question = target["headline"]
    query = retriever.embedder.embed_query(question)  # type: ignore[union-attr]
    dense = retriever.dense_hits(query, retriever.settings.dense_depth, scope=scope)
    lexical = retriever.lexical_hits(question, retriever.settings.lexical_depth, scope=scope)
    chunks = {c.id: c.source for c in retriever.chunks([*dense, *lexical]).values()}
    assert dense and set(chunks[c] for c in dense) <= allowed
    assert lexical and set(chunks[c] for c in lexical) <= allowed
    # a filter keeping one day of seven years still fills the passages from that day, not from a cut top-k
    passages = assistant.search(question, k=3, since=day, until=day)
    assert passages and {p.source for p in passages} <= allowed
    assert passages[0].date is not None and passages[0].date.startswith(day)


def test_outlet_filter_and_undated_or_unknown_are_left_out(assistant: Assistant, archive: Archive) -> None:
    _, rows = archive
    outlet = rows[3]["site"]
    passages = assistant.search(rows[3]["headline"], k=5, outlets=[outlet])
    assert passages and {p.outlet for p in passages} == {outlet}
    assert assistant.search(rows[3]["headline"], k=5, outlets=["no such outlet"]) == ()
    answer = assistant.ask(rows[3]["headline"], since="2030-01-01")
    assert answer.abstained and not answer.citations
    assert answer.note.startswith("لا توجد في الفهرس مقالة يسمح بها المرشِّح")  # not a bare "not found"
    english = assistant.ask("What happened?", outlets=["no such outlet"])
    assert english.abstained and english.note.startswith("No indexed article passes the filter")


def test_one_passage_per_wire_story_and_the_others_under_also_in(assistant: Assistant, archive: Archive) -> None:
    _, rows = archive
    by_story: dict[str, list[Row]] = {}
    for row in rows:
        by_story.setdefault(row["story"], []).append(row)
    story, members = next((s, m) for s, m in sorted(by_story.items()) if len(m) > 1)
    original = next(r for r in members if r["id"] == story)
    passages = assistant.search(original["headline"], k=10)
    sources = [p.source for p in passages]
    copies = {source(r) for r in members}
    assert len({s for s in sources if s in copies}) == 1
    cited = next(p for p in passages if p.source in copies)
    assert {c.source for c in cited.also_in} == copies - {cited.source}
    for copy in cited.also_in:
        row = next(r for r in members if source(r) == copy.source)
        assert copy.outlet == row["site"] and copy.url == row["link"] and copy.date == row["iso_date"]


@pytest.mark.skipif(
    not (EVAL_DIR / "arcd" / "arcd.json").is_file(), reason="needs ../shared/eval: seed clauses alone repeat too much"
)
def test_latest_news_question_prefers_the_newest_copy(assistant: Assistant, archive: Archive) -> None:
    _, rows = archive
    subject = rows[5]["headline"]
    plain = assistant.search(subject, k=5)
    latest = assistant.search(f"ما آخر أخبار {subject}", k=5)
    assert plain and latest
    days = [p.date or "" for p in latest]
    newest_plain = max(p.date or "" for p in plain)
    assert days[0] >= newest_plain or days[0] == max(days)


def test_bad_filter_values_are_refused_with_one_line() -> None:
    with pytest.raises(FilterError, match="since must be a date"):
        ArticleFilter.of(since="2019-13-45")
    with pytest.raises(FilterError, match="is after until"):
        ArticleFilter.of(since="2020-01-01", until="2019-01-01")
    with pytest.raises(SettingError, match="outlets must be a list"):
        ArticleFilter.of(outlets="الحرة")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--since", "2019-13-45"], "since must be a date such as 2019-01-01, not '2019-13-45'"),
        (["--since", "2020-01-01", "--until", "2019-01-01"], "is after until"),
    ],
)
def test_cli_bad_dates_fail_in_one_line(
    archive: Archive, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = archive
    index, model = str(settings.index.index_dir), settings.index.embedding_model
    assert main(["ask", "ما الخبر؟", "--index", index, "--model", model, *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_cli_filters_and_json_citations(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    settings, rows = archive
    row = rows[0]
    index, model = str(settings.index.index_dir), settings.index.embedding_model
    flags = ["--since", row["iso_date"], "--until", row["iso_date"], "--outlet", row["site"], "--outlet", "الحرة"]
    assert main(["ask", row["headline"], "--index", index, "--model", model, "--json", *flags]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["citations"]
    for citation in data["citations"]:
        assert {"date", "outlet", "url", "author", "also_in"} <= set(citation)
        assert citation["date"] == row["iso_date"] and citation["outlet"] in (row["site"], "الحرة")
        assert citation["url"].startswith("https://")
        for copy in citation["also_in"]:
            assert set(copy) == {"source", "outlet", "date", "url"}
