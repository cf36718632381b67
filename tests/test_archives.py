"""Archive exports: JSON Lines and CSV rows as articles, field detection, overrides, bad rows, identity, streaming."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from ingest.archives import BadRow, Row, parse_field_spec, read_rows, row_source
from ingest.loading import SkipFile
from ingest.records import Metadata


def write_jsonl(path: Path, items: list[object]) -> Path:
    path.write_text("\n".join(json.dumps(i, ensure_ascii=False) for i in items) + "\n", encoding="utf-8")
    return path


def rows_of(path: Path, fields: dict[str, str] | None = None) -> tuple[list[Row], list[BadRow]]:
    found = list(read_rows(path, fields))
    return [r for r in found if isinstance(r, Row)], [r for r in found if isinstance(r, BadRow)]


def test_jsonl_common_field_names(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {
                "headline": "سقوط الباغوز",
                "body": "أعلنت قوات سوريا الديمقراطية السيطرة على الباغوز.",
                "published_at": "٢٣ آذار/مارس ٢٠١٩",
                "link": "https://www.alhurra.com/a/1",
                "site": "الحرة",
                "byline": "فريق التحرير",
            },
            {"title": "Manbij", "content": "A bombing in Manbij.", "date": "2019-01-16", "id": 42},
        ],
    )
    rows, bad = rows_of(path)
    assert bad == []
    first, second = rows
    assert first.key == "url=https://www.alhurra.com/a/1" and first.line == 1
    assert first.meta == Metadata("سقوط الباغوز", "2019-03-23", "الحرة", "فريق التحرير", "https://www.alhurra.com/a/1")
    assert first.text == "أعلنت قوات سوريا الديمقراطية السيطرة على الباغوز."
    assert second.key == "id=42" and second.line == 2 and second.meta.date == "2019-01-16"
    assert row_source("exports/a.jsonl", second.key) == "exports/a.jsonl#id=42"


def test_identity_is_id_then_url_then_content(tmp_path: Path) -> None:
    base = {"text": "نص الخبر", "url": "https://example.com/x"}
    path = write_jsonl(tmp_path / "a.jsonl", [{**base, "id": "7"}, base, {"text": "نص آخر"}])
    keys = [r.key for r in rows_of(path)[0]]
    assert keys[:2] == ["id=7", "url=https://example.com/x"]
    assert keys[2].startswith("sha=") and len(keys[2]) == 4 + 16


def test_identity_and_hash_are_stable_and_a_change_shows(tmp_path: Path) -> None:
    items: list[object] = [{"id": i, "text": f"الخبر رقم {i}", "date": "2019-03-23"} for i in range(5)]
    before = {r.key: r.hash for r in rows_of(write_jsonl(tmp_path / "a.jsonl", items))[0]}
    again = {r.key: r.hash for r in rows_of(write_jsonl(tmp_path / "a.jsonl", items))[0]}
    assert before == again
    items[2] = {"id": 2, "text": "الخبر رقم 2 بعد التعديل", "date": "2019-03-23"}
    items.insert(0, {"id": 99, "text": "خبر جديد في أول الملف"})  # moving rows to other lines changes nothing
    after = {r.key: r.hash for r in rows_of(write_jsonl(tmp_path / "a.jsonl", items))[0]}
    assert {k for k in before if after.get(k) != before[k]} == {"id=2"}
    assert set(after) - set(before) == {"id=99"}


def test_jsonl_bad_rows_are_reported_with_line_and_reason(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(
        b'{"id": 1, "text": "\xd9\x86\xd8\xb5 \xd8\xb3\xd9\x84\xd9\x8a\xd9\x85"}\n'
        b'{"id": 2, "text": "broken\n'
        b"\n"
        b"[1, 2]\n"
        b'{"id": 3, "text": "   "}\n'
        b'{"id": 4, "text": "\xff\xfe not utf-8"}\n'
        b'{"id": 1, "text": "the same id again"}\n'
        b'{"id": 5, "text": "fine"}\n'
    )
    rows, bad = rows_of(path)
    assert [r.key for r in rows] == ["id=1", "id=5"]
    reasons = {b.line: b.reason for b in bad}
    assert set(reasons) == {2, 4, 5, 6, 7}
    assert "not valid JSON" in reasons[2]
    assert "not an object" in reasons[4]
    assert "empty text" in reasons[5]
    assert "UTF-8" in reasons[6]
    assert "line 1" in reasons[7] and "only the first is indexed" in reasons[7]


def test_jsonl_without_a_text_field_names_the_fix(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [{"story_html": "<p>نص</p>", "when": "2019-03-23"}])
    with pytest.raises(SkipFile, match=r"--fields text=FIELD.*") as caught:
        list(read_rows(path))
    assert "'story_html'" in str(caught.value)
    rows, bad = rows_of(path, parse_field_spec("text=story_html, date=when"))
    assert bad == [] and rows[0].text.strip() == "نص" and rows[0].meta.date == "2019-03-23"  # HTML bodies as text


def test_jsonl_dotted_fields_reach_nested_objects(tmp_path: Path) -> None:
    item = {"article": {"body": "نص", "meta": {"pub": "2019-03-23"}}, "byline": {"name": "سارة"}}
    path = write_jsonl(tmp_path / "a.jsonl", [item])
    rows, _ = rows_of(path, {"text": "article.body", "date": "article.meta.pub", "author": "byline.name"})
    assert (rows[0].text, rows[0].meta.date, rows[0].meta.author) == ("نص", "2019-03-23", "سارة")


def test_csv_header_detection_quoted_newlines_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(
        "\ufeffTitle,Article,Published,Source,URL\n"
        'عنوان أول,"فقرة أولى.\nفقرة ثانية، فيها فاصلة.",2019-03-23,الشرق الأوسط,https://aawsat.com/1\n'
        "عنوان ثان,,2019-03-24,الحياة,https://alhayat.com/2\n"
        "عنوان ثالث,نص,2019-03-25\n"
        "\n"
        "عنوان رابع,نص رابع,25/03/2019,الحرة,javascript:alert(1)\n".encode()
    )
    rows, bad = rows_of(path)
    assert [(r.line, r.meta.outlet) for r in rows] == [(2, "الشرق الأوسط"), (7, "الحرة")]
    assert rows[0].text == "فقرة أولى.\nفقرة ثانية، فيها فاصلة." and rows[0].key == "url=https://aawsat.com/1"
    assert rows[1].meta.url is None and rows[1].meta.date == "2019-03-25"  # an unsafe link is dropped
    reasons = [(b.line, b.reason.split(" (")[0]) for b in bad]
    assert reasons == [(4, "empty text"), (5, "3 columns where the header has 5")]


def test_csv_semicolons_tabs_and_overrides(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("nom;texte;jour\nx;نص;2019-03-23\n", encoding="utf-8")
    with pytest.raises(SkipFile, match="no column with the article text"):
        list(read_rows(tmp_path / "a.csv"))
    rows, _ = rows_of(tmp_path / "a.csv", parse_field_spec("text=texte,date=jour,title=nom"))
    assert (rows[0].text, rows[0].meta.title, rows[0].meta.date) == ("نص", "x", "2019-03-23")
    with pytest.raises(SkipFile, match="columns the header does not have: body"):
        list(read_rows(tmp_path / "a.csv", {"text": "body"}))
    (tmp_path / "b.tsv").write_text("title\ttext\nT\tنص, مع فاصلة\n", encoding="utf-8")
    assert rows_of(tmp_path / "b.tsv")[0][0].text == "نص, مع فاصلة"


def test_csv_line_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"text,id\n" + "نص".encode("cp1256") + b",1\n" + "نص".encode() + b",2\n")
    rows, bad = rows_of(path)
    assert [r.key for r in rows] == ["id=2"] and bad == [BadRow(2, "not valid UTF-8; save the file as UTF-8")]


@pytest.mark.parametrize("spec", ["text", "words=body", "text=", "=body"])
def test_field_spec_errors_say_what_is_allowed(spec: str) -> None:
    with pytest.raises(ValueError, match="FIELD=COLUMN"):
        parse_field_spec(spec)


def test_field_spec() -> None:
    assert parse_field_spec(" text=body , date=pubdate,") == {"text": "body", "date": "pubdate"}


def test_a_large_archive_streams_in_bounded_memory(tmp_path: Path) -> None:
    """About 30 MB of rows are read with a peak of a few MB: memory follows the longest row, not the file."""
    path = tmp_path / "big.jsonl"
    paragraph = "بث تنظيم داعش تسجيلاً صوتياً جديداً للمتحدث باسمه. " * 40
    with open(path, "w", encoding="utf-8") as handle:
        for number in range(8_000):
            handle.write(json.dumps({"id": number, "text": paragraph, "date": "2019-03-23"}, ensure_ascii=False))
            handle.write("\n")
    assert path.stat().st_size > 25_000_000
    tracemalloc.start()
    try:
        count = sum(1 for row in read_rows(path) if isinstance(row, Row))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 8_000
    assert peak < 8_000_000, f"peak {peak / 1e6:.1f} MB while reading {path.stat().st_size / 1e6:.0f} MB"
