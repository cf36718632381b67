"""HTML rendering and upload handling of the web chat, without a browser."""

from __future__ import annotations

import pytest

from assistant.records import Answer, Citation
from assistant.rendering import escape_text, render_article, render_message, render_sources


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


def test_article_view_marks_the_passage() -> None:
    text = "قبل. " + "المقطع المقتبس هنا." + " بعد <script>x</script>."
    html = render_article(citation("المقطع المقتبس هنا.", "المقطع المقتبس هنا.", start=5), text)
    assert '<mark id="passage-highlight"><strong>المقطع المقتبس هنا.</strong></mark>' in html
    assert "<script>" not in html and 'dir="rtl"' in html
