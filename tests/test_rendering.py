"""HTML rendering and upload handling of the web chat, without a browser."""

from __future__ import annotations

import re
from dataclasses import replace
from html import unescape

import pytest

from assistant.provenance import locate, warning
from assistant.records import Answer, Citation, OtherCopy
from assistant.rendering import escape_text, origin_text, render_article, render_link, render_message, render_sources
from ingest.records import Article


def test_escape_text_leaves_nothing_active() -> None:
    text = '<script>alert(1)</script> <img src=x onerror="alert(2)"> [x](javascript:alert(3)) $$x$$ **b** `c`'
    escaped = escape_text(text)
    for active in ("<script", "<img", "](", "$$", "**", "`", '"'):
        assert active not in escaped
    assert "&lt;script&gt;" in escaped


@pytest.mark.parametrize(
    ("text", "direction"),
    [
        ("قال المهاجر إن الدولة باقية [1].", "rtl"),
        ("The spokesman said the group remains [1].", "ltr"),
        ("قال ISIS إن الباغوز سقطت [2].", "rtl"),
        ("ISIS said الباغوز fell in March 2019 [2].", "ltr"),
    ],
)
def test_each_message_gets_its_own_direction(text: str, direction: str) -> None:
    html = render_message(text)
    assert html.startswith(f'<div class="msg" dir="{direction}"')
    assert '<bdi class="cite" dir="ltr">&#91;' in html  # markers isolated so they read [1] in both directions


def citation(passage: str, quote: str, start: int = 0) -> Citation:
    return Citation(1, "a<b>.txt", "عنوان <i>", passage, quote, start, start + len(passage), 0.5, True)


def test_sources_highlight_the_quote_inside_its_passage() -> None:
    passage = "الجملة الأولى. الجملة الثانية المهمة. الجملة الثالثة."
    answer = Answer("x [1]", "ar", False, "extractive", (citation(passage, "الجملة الثانية المهمة."),))
    html = render_sources(answer)
    assert "<mark>الجملة الثانية المهمة.</mark>" in html
    assert "a&lt;b&gt;.txt" in html and "&lt;i&gt;" in html and "✓ verified" in html


def test_a_quote_across_a_line_break_is_highlighted() -> None:
    """A headline without a full stop, then a sentence: joined by a space in the quote, a newline in the passage."""
    passage = "التحالف: خطاب البغدادي غير مؤثر\nوقال المتحدث باسم التحالف إن قيادته غير مؤثرة. ثم جملة أخرى."
    quote = "التحالف: خطاب البغدادي غير مؤثر وقال المتحدث باسم التحالف إن قيادته غير مؤثرة."
    html = render_sources(Answer("x [1]", "ar", False, "extractive", (citation(passage, quote),)))
    assert "<mark>التحالف&#58; خطاب البغدادي غير مؤثر<br>وقال المتحدث باسم التحالف إن قيادته غير مؤثرة.</mark>" in html


def test_an_edited_article_keeps_quote_found_only_while_every_quoted_sentence_is_there() -> None:
    old = "مقدمة. اسمه الحقيقي إبراهيم السامرائي. وانشق عن القاعدة عام 2013. خاتمة."
    cited = citation("اسمه الحقيقي إبراهيم السامرائي. وانشق عن القاعدة عام 2013.", "", start=7)
    cited = replace(cited, quote=cited.passage, content_hash="old")
    edited = "مقدمة جديدة. اسمه الحقيقي إبراهيم عواد البدري. وانشق عن القاعدة عام 2013. خاتمة."
    located = locate(cited, Article("a.txt", "", edited, "new"))
    assert located.state == "quote_gone" and len(located.quotes) == 1  # one of the two sentences is left
    kept = "مقدمة جديدة. اسمه الحقيقي إبراهيم السامرائي.\nوانشق عن القاعدة عام 2013. خاتمة."
    assert locate(cited, Article("a.txt", "", kept, "new")).state == "quote_found"
    assert old.find(cited.passage) == 7


def test_a_renamed_article_is_found_by_its_content_and_says_where_it_is_now() -> None:
    text = "مقدمة. اسمه الحقيقي إبراهيم السامرائي. خاتمة."
    cited = replace(citation("اسمه الحقيقي إبراهيم السامرائي.", "", start=7), content_hash="h1")
    cited = replace(cited, quote=cited.passage)
    moved = locate(cited, Article("أرشيف/b.txt", "", text, "h1"))
    assert moved.state == "moved" and moved.passage == (7, 7 + len(cited.passage))
    said = warning(moved, cited, "en", "أرشيف/b.txt")
    assert "renamed or moved" in said and said.endswith("أرشيف/b.txt")
    assert locate(cited, Article(cited.source, "", text, "h1")).state == "unchanged"
    assert locate(cited, None).state == "removed"


def test_article_view_marks_the_passage() -> None:
    text = "قبل. " + "المقطع المقتبس هنا." + " بعد <script>x</script>."
    html = render_article(citation("المقطع المقتبس هنا.", "المقطع المقتبس هنا.", start=5), text)
    assert '<mark id="passage-highlight"><strong>المقطع المقتبس هنا.</strong></mark>' in html
    assert "<script>" not in html and 'dir="rtl"' in html


def dated(url: str | None, also_in: tuple[OtherCopy, ...] = ()) -> Citation:
    base = citation("نص المقطع.", "نص المقطع.")
    return replace(base, date="2019-03-18T09:00:00+03:00", outlet="الشرق <الأوسط>", url=url, also_in=also_in)


def test_sources_show_outlet_date_and_a_safe_link() -> None:
    html = render_sources(Answer("x [1]", "ar", False, "extractive", (dated("https://aawsat.com/a?b=1&c=2"),)))
    assert "الشرق &lt;الأوسط&gt; · 2019&#45;03&#45;18" in html  # escaped: the outlet's "<" is text
    link = re.search(r"<a [^>]*>", html)
    assert link is not None
    tag = link.group(0)
    assert 'href="https://aawsat.com/a?b=1&amp;c=2"' in tag
    assert 'rel="noopener noreferrer"' in tag and 'target="_blank"' in tag


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<b>x</b>", "ftp://x/y", '"><script>', None]
)
def test_only_http_links_are_rendered(url: str | None) -> None:
    html = render_sources(Answer("x [1]", "ar", False, "extractive", (dated(url),)))
    assert "<a " not in html and "<script" not in html
    assert "2019-03-18" in unescape(html)  # outlet and date still shown


def test_article_view_shows_origin_and_link() -> None:
    html = render_article(dated("http://example.com/story"), "نص المقطع. وبعده.")
    assert 'class="article-origin"' in html and 'href="http://example.com/story"' in html


def test_also_in_lists_the_other_copies_in_the_answer_language() -> None:
    copies = (OtherCopy("b.txt", "الحياة", "2019-03-19", "https://alhayat.com/x"), OtherCopy("c.txt"))
    html = render_sources(Answer("x [1]", "ar", False, "extractive", (dated(None, copies),)))
    assert "القصة نفسها في 2 مقالات أخرى" in html
    assert "الحياة · 2019-03-19" in unescape(html) and 'href="https://alhayat.com/x"' in html and "c.txt" in html


def test_origin_text_and_link_labels() -> None:
    assert origin_text("الحرة", "2019-03-18T09:00:00+03:00") == "الحرة · 2019-03-18"
    assert origin_text(None, "2019-03-18") == "2019-03-18"
    assert origin_text("الحرة", None) == "الحرة"
    assert origin_text(None, None) == ""
    assert ">alhurra.com/a/b</a>" in unescape(render_link("https://www.alhurra.com/a/b"))
