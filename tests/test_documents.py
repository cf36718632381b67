"""Documents to Articles: files with their sidecars, archive rows; which .json files are sidecars."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.archives import Row
from ingest.documents import archive_rows, document_hash, file_article, is_sidecar, read_sidecar_bytes, row_article
from ingest.loading import SkipFile
from ingest.records import Metadata

PAGE = """<html><head><meta property="og:site_name" content="الحرة">
<meta property="article:published_time" content="2019-03-18"><title>t</title></head>
<body><h1>سقوط الباغوز</h1><p>أعلنت قوات سوريا الديمقراطية السيطرة الكاملة على الباغوز.</p></body></html>"""


def test_sidecar_values_come_first_and_change_the_identity(tmp_path: Path) -> None:
    page = tmp_path / "story.html"
    page.write_text(PAGE, encoding="utf-8")
    data = page.read_bytes()
    article, warnings = file_article("story.html", page, data)
    assert warnings == []
    assert (article.meta.outlet, article.meta.date, article.title) == ("الحرة", "2019-03-18", "سقوط الباغوز")
    assert article.content_hash == document_hash(data)
    (tmp_path / "story.json").write_text(
        json.dumps({"outlet": "عنب بلدي", "url": "https://www.enabbaladi.net/1"}), encoding="utf-8"
    )
    sidecar = read_sidecar_bytes(page)
    assert sidecar is not None
    with_sidecar, _ = file_article("story.html", page, data, sidecar)
    assert with_sidecar.meta == Metadata(None, "2019-03-18", "عنب بلدي", None, "https://www.enabbaladi.net/1")
    assert with_sidecar.content_hash == document_hash(data, sidecar) != article.content_hash


def test_a_broken_sidecar_is_a_warning_not_a_failure(tmp_path: Path) -> None:
    text = tmp_path / "a.txt"
    text.write_text("نص الخبر كاملاً.", encoding="utf-8")
    article, warnings = file_article("a.txt", text, text.read_bytes(), b"{not json")
    assert article.meta == Metadata() and len(warnings) == 1 and "a.txt: " in warnings[0]


def test_outlet_from_the_url_host_when_none_is_named(tmp_path: Path) -> None:
    text = tmp_path / "a.txt"
    text.write_text("نص الخبر كاملاً.", encoding="utf-8")
    article, _ = file_article("a.txt", text, text.read_bytes(), b'{"url": "https://www.aawsat.com/x"}')
    assert article.meta.outlet == "aawsat.com"


def test_which_json_files_are_sidecars() -> None:
    names = {"a.html", "a.json", "b.txt", "b.txt.json", "lonely.json", "export.jsonl", "export.json"}
    assert is_sidecar("a.json", names) and is_sidecar("b.txt.json", names)
    assert not is_sidecar("lonely.json", names)
    assert not is_sidecar("export.json", names)  # archives take no sidecar
    assert not is_sidecar("a.html", names)


def test_rows_become_articles_with_their_metadata(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text(
        json.dumps(
            {"id": 1, "text": "اشترك في نشرتنا البريدية\n\nأعلن التحالف سقوط الباغوز.", "link": "https://a.com/1"}
        )
        + "\n{broken\n",
        encoding="utf-8",
    )
    found = list(archive_rows(path, "exports/export.jsonl"))
    assert [name for name, _ in found] == ["exports/export.jsonl#id=1", "exports/export.jsonl line 2"]
    row = found[0][1]
    assert isinstance(row, Row)
    article = row_article("exports/export.jsonl", row)
    assert article.source == "exports/export.jsonl#id=1"
    assert article.text == "أعلن التحالف سقوط الباغوز."  # cleaned like any document: the footer is gone
    assert article.meta.outlet == "a.com" and article.content_hash == row.hash
    assert [n for n, _ in archive_rows(path, "e.jsonl", only={"e.jsonl#id=9"})] == []


def test_a_row_with_nothing_left_after_cleaning(tmp_path: Path) -> None:
    with pytest.raises(SkipFile, match="nothing left"):
        row_article("e.jsonl", Row("id=1", 1, "h", "اشترك في نشرتنا البريدية"))
