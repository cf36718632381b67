"""Article metadata: Arabic and machine date forms, HTML (JSON-LD, OpenGraph, meta, time), front matter, sidecars."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ingest.dates import date_key, parse_date
from ingest.loading import SkipFile, load_document
from ingest.metadata import (
    find_fields,
    metadata_from_mapping,
    outlet_key,
    read_sidecar,
    safe_url,
    split_front_matter,
    with_outlet_from_url,
)
from ingest.records import Metadata


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-03-23", "2019-03-23"),
        ("2019-03-23T10:15:00+03:00", "2019-03-23T10:15:00+03:00"),
        ("2019-03-23T10:15:00.000Z", "2019-03-23T10:15:00+00:00"),
        ("2019-03-23T10:15:00+0300", "2019-03-23T10:15:00+03:00"),
        ("20190323", "2019-03-23"),
        ("Sat, 23 Mar 2019 10:15:00 GMT", "2019-03-23T10:15:00+00:00"),
        ("March 23, 2019", "2019-03-23"),
        ("23rd March 2019", "2019-03-23"),
        # Levantine (Syriac) month names, with the Egyptian/Gulf name beside them, weekday, Arabic-Indic digits
        ("الأحد 24 آذار/مارس 2019", "2019-03-24"),
        ("٢٣ أيلول ٢٠١٩", "2019-09-23"),
        ("الخميس ١٤ كانون الثاني ٢٠٢١", "2021-01-14"),
        ("3 تشرين الأول/أكتوبر 2018", "2018-10-03"),
        ("3 تشرين ثاني 2018", "2018-11-03"),
        ("12 أيار (مايو) 2019", "2019-05-12"),
        ("18 أيلول/سبتبمر 2017", "2017-09-18"),  # the seeds' own misspelling of سبتمبر: the first name decides
        ("1 شباط 2020", "2020-02-01"),
        ("30 حزيران 2014", "2014-06-30"),
        ("15 تموز 2016", "2016-07-15"),
        ("6 آب 2014", "2014-08-06"),
        # Egyptian / Gulf names, hamza and ى/ي spelled either way, a trailing م
        ("السبت، 23 مارس 2019م", "2019-03-23"),
        ("نشر في: 05 إبريل 2019 - 10:30 ص", "2019-04-05"),
        ("5 ابريل 2019", "2019-04-05"),
        ("10 يونيه 2019", "2019-06-10"),
        ("23 من آذار عام 2019", "2019-03-23"),
        # Maghrebi names
        ("15 جانفي 2020", "2020-01-15"),
        ("1 أفريل 2020", "2020-04-01"),
        ("7 غشت 2019", "2019-08-07"),
        # a Hijri date beside the Gregorian one is passed over
        ("الأحد 17 رجب 1440 هـ - 24 مارس 2019 م", "2019-03-24"),
        ("1440/7/17 هـ - 2019/3/24 م", "2019-03-24"),
        # numeric dates are day first
        ("23/03/2019", "2019-03-23"),
        ("٢٣/٠٣/٢٠١٩", "2019-03-23"),
        ("05.04.2019", "2019-04-05"),
    ],
)
def test_dates_in_arabic_and_machine_forms(text: str, expected: str) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "hello", "2019", "31/02/2019", "12 أيار/يونيو 2019", "في أيلول 2017", "17 رجب 1440 هـ", "اليوم", "99/99/9999"],
)
def test_what_is_not_a_date(text: str) -> None:
    """No day, an impossible day, two month names that disagree, a Hijri date alone: no date rather than a wrong one."""
    assert parse_date(text) is None


def test_dates_from_json_values() -> None:
    assert parse_date(1553337600) == "2019-03-23T10:40:00+00:00"
    assert parse_date(1553337600000) == "2019-03-23T10:40:00+00:00"  # milliseconds, as JavaScript writes them
    assert parse_date(2019) is None  # a year is no timestamp
    assert parse_date(True) is None
    assert parse_date(None) is None


def test_date_key_is_the_calendar_day() -> None:
    assert date_key("2019-03-23") == 20190323
    assert date_key("2019-03-23T23:30:00-05:00") == 20190323  # the day the outlet dated it, not UTC's
    assert date_key(None) is None
    assert date_key("garbage") is None


NEWS_PAGE = """<!doctype html><html lang="ar"><head>
<title>عنوان الصفحة | الشرق الأوسط</title>
<meta property="og:title" content="عنوان من أوبن غراف">
<meta property="og:site_name" content="الشرق الأوسط">
<meta property="article:published_time" content="2019-03-18T09:00:00+03:00">
<meta name="author" content="كاتب الوسوم">
<link rel="canonical" href="/2019/03/18/story">
<meta property="og:url" content="https://aawsat.com/2019/03/18/story?utm=x">
<script type="application/ld+json">
{"@context": "https://schema.org", "@graph": [
  {"@type": "WebSite", "name": "موقع"},
  {"@type": ["NewsArticle"], "headline": "داعش يبث رسالة صوتية جديدة", "datePublished": "2019-03-19T08:00:00Z",
   "author": [{"@type": "Person", "name": "أحمد علي"}, {"@type": "Person", "name": "سارة حسن"}],
   "publisher": {"@type": "Organization", "name": "الشرق الأوسط"}}
]}
</script>
</head><body><article><h1>داعش يبث رسالة صوتية جديدة</h1><p>بث التنظيم رسالة صوتية.</p></article></body></html>"""


def test_html_json_ld_first_then_meta_tags() -> None:
    loaded = load_document(Path("story.html"), NEWS_PAGE.encode())
    assert loaded.meta == Metadata(
        title="داعش يبث رسالة صوتية جديدة",
        date="2019-03-19T08:00:00+00:00",
        outlet="الشرق الأوسط",
        author="أحمد علي, سارة حسن",
        url="https://aawsat.com/2019/03/18/story",  # the canonical link, resolved against og:url
    )
    assert "بث التنظيم رسالة صوتية." in loaded.text
    assert "NewsArticle" not in loaded.text


def test_html_without_json_ld_uses_opengraph_meta_and_time() -> None:
    page = """<html><head>
    <meta property="og:title" content="Baghouz falls">
    <meta name="date" content="٢٣ آذار/مارس ٢٠١٩">
    <meta property="article:author" content="https://example.com/profile/x">
    <meta name="dc.creator" content="Ignored Because Author Came First">
    </head><body><p>Text of the story.</p><time datetime="2018-01-01">old</time></body></html>"""
    meta = load_document(Path("a.html"), page.encode()).meta
    assert meta.title == "Baghouz falls"
    assert meta.date == "2019-03-23"  # <meta name="date"> in Arabic words and digits
    assert meta.author is None  # article:author was a profile URL, not a name
    assert meta.url is None and meta.outlet is None


def test_html_time_element_marked_as_publication_wins() -> None:
    page = """<html><body><p>Story.</p><time datetime="2020-01-01">x</time>
    <time itemprop="datePublished" datetime="2019-06-30T12:00">y</time></body></html>"""
    assert load_document(Path("a.html"), page.encode()).meta.date == "2019-06-30T12:00:00"


def test_unsafe_or_relative_urls_are_never_kept() -> None:
    page = """<html><head><link rel="canonical" href="javascript:alert(1)">
    <meta property="og:url" content="data:text/html,x"></head><body><p>Story.</p></body></html>"""
    assert load_document(Path("a.html"), page.encode()).meta.url is None
    assert safe_url("https://aawsat.com/a?b=1") == "https://aawsat.com/a?b=1"
    for bad in ("javascript:alert(1)", "JaVaScRiPt:x", "ftp://host/x", "/relative", "http://", 'https://a.com/"x'):
        assert safe_url(bad) is None


def test_markdown_front_matter_is_metadata_not_text() -> None:
    text = (
        "---\ntitle: رسالة صوتية جديدة للبغدادي\ndate: ١٨ أيلول/سبتمبر ٢٠١٧\noutlet: ارفع صوتك\n"
        "author: [فريق التحرير]\nurl: https://www.irfaasawtak.com/a/1\n---\n# عنوان\n\nنص المقال.\n"
    )
    loaded = load_document(Path("a.md"), text.encode())
    assert loaded.text == "# عنوان\n\nنص المقال.\n"
    assert loaded.meta == Metadata(
        "رسالة صوتية جديدة للبغدادي", "2017-09-18", "ارفع صوتك", "فريق التحرير", "https://www.irfaasawtak.com/a/1"
    )


def test_front_matter_yaml_dates_toml_and_a_rule_that_is_no_front_matter() -> None:
    meta, body = split_front_matter("---\ndate: 2019-03-23\n---\nbody")
    assert meta.date == "2019-03-23" and body == "body"  # YAML makes a date object of it
    meta, body = split_front_matter('+++\ntitle = "T"\ndate = 2019-03-23T10:00:00Z\n+++\nbody')
    assert (meta.title, meta.date, body) == ("T", "2019-03-23T10:00:00+00:00", "body")
    text = "---\nجملة: بعد خط فاصل: ليست بيانات [\n---\nنص"
    assert split_front_matter(text) == (Metadata(), text)


def test_sidecar_beside_a_file(tmp_path: Path) -> None:
    article = tmp_path / "story.txt"
    article.write_text("نص", encoding="utf-8")
    assert read_sidecar(article) == (None, None)
    (tmp_path / "story.json").write_text(
        json.dumps({"headline": "عنوان", "published_at": "2019-03-23", "site": "https://www.alhurra.com/x"}),
        encoding="utf-8",
    )
    meta, problem = read_sidecar(article)
    assert problem is None
    assert meta == Metadata(title="عنوان", date="2019-03-23", outlet="alhurra.com")
    (tmp_path / "story.txt.json").write_text('{"outlet": "الحرة"}', encoding="utf-8")  # NAME.EXT.json comes first
    assert read_sidecar(article)[0] == Metadata(outlet="الحرة")
    (tmp_path / "story.txt.json").write_text("[1, 2", encoding="utf-8")
    meta, problem = read_sidecar(article)
    assert meta is None and problem is not None and "story.txt.json" in problem


def test_field_names_are_found_loosely_and_overrides_win() -> None:
    assert find_fields(["Headline", "Body", "Published At", "Link", "Site Name", "By", "ID"]) == {
        "title": "Headline",
        "text": "Body",
        "date": "Published At",
        "url": "Link",
        "outlet": "Site Name",
        "author": "By",
        "id": "ID",
    }
    row = {"pubdate": "2019-03-23", "date": "not this one", "paper": "الحياة"}
    assert metadata_from_mapping(row, {"date": "pubdate", "outlet": "paper"}) == Metadata(
        date="2019-03-23", outlet="الحياة"
    )


def test_outlet_from_url_and_outlet_keys() -> None:
    meta = with_outlet_from_url(Metadata(url="https://www.aawsat.com/home/article/1"))
    assert meta.outlet == "aawsat.com"
    assert with_outlet_from_url(Metadata(outlet="الشرق الأوسط", url="https://aawsat.com/")).outlet == "الشرق الأوسط"
    assert outlet_key("الشرق الأوسط") == outlet_key("الشرق  الاوسط") == outlet_key("الشَّرق الأوسط")
    assert outlet_key("Asharq Al-Awsat") == outlet_key("asharq al-awsat")


def test_overlong_values_are_dropped() -> None:
    assert metadata_from_mapping({"title": "x" * 501, "outlet": "ok"}) == Metadata(outlet="ok")


def test_docx_paragraphs_tables_and_title() -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "عنوان الوثيقة"
    document.add_paragraph("الفقرة الأولى من الخبر.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "خلية أولى"
    table.rows[0].cells[1].text = "خلية ثانية"
    document.add_paragraph("الفقرة الأخيرة.")
    buffer = io.BytesIO()
    document.save(buffer)
    loaded = load_document(Path("a.docx"), buffer.getvalue())
    assert loaded.text.split("\n") == ["الفقرة الأولى من الخبر.", "خلية أولى", "خلية ثانية", "الفقرة الأخيرة."]
    assert loaded.meta == Metadata(title="عنوان الوثيقة")  # not python-docx's "author" nor its template's date


def test_broken_docx_is_skipped_with_a_reason() -> None:
    with pytest.raises(SkipFile, match="unreadable Word file"):
        load_document(Path("a.docx"), b"PK\x03\x04 not really a zip")
    with pytest.raises(SkipFile, match="unreadable Word file"):
        load_document(Path("a.docx"), b"plain text named .docx")
