"""Cleaning rules on debris of the kinds the seeds carry, written fresh (not copied from the seeds)."""

from __future__ import annotations

from ingest.cleaning import clean_text, find_title, find_title_in_raw


def test_image_link_remnants_and_empty_lines_are_removed() -> None:
    raw = (
        "الفقرة الأولى عن المعركة.\n.png)\nphoto_2019.JPG\n![صورة](https://x.example/a.jpg)\n \n.jpeg)\nالفقرة الثانية."
    )
    assert clean_text(raw) == "الفقرة الأولى عن المعركة.\n\nالفقرة الثانية."


def test_headline_repeated_on_consecutive_lines_is_kept_once() -> None:
    raw = "عنوان الخبر الرئيسي\nعنوان الخبر الرئيسي\nعنوانُ الخبر الرئيسي\nنص الخبر."
    assert clean_text(raw) == "عنوان الخبر الرئيسي\n\nنص الخبر."


def test_subscription_and_account_footers_are_removed() -> None:
    raw = (
        "نص المقال الكامل.\n"
        "اشترك في نشرتنا الإخبارية\n"
        "أنشئ حساباً مجانياً لتحفظ المقالات\n"
        "Subscribe to our newsletter\n"
        "© 2019 All rights reserved"
    )
    assert clean_text(raw) == "نص المقال الكامل."


def test_long_paragraph_mentioning_a_subscription_is_kept() -> None:
    paragraph = "قال المسؤول إن " + " ".join(["الاشتراك في التحالف الدولي كان قراراً صعباً"] * 6) + "."
    assert clean_text(paragraph) == paragraph


def test_related_article_blocks_are_removed() -> None:
    raw = (
        "الفقرة الأولى.\n"
        "اقرأ أيضاً: عنوان مقال آخر عن الموضوع\n"
        "الفقرة الثانية.\n"
        "مقالات ذات صلة:\n"
        "عنوان أول لمقال مرتبط\n"
        "عنوان ثان لمقال مرتبط\n"
        "Related stories\n"
        "Another headline here\n"
        "الفقرة الثالثة تبدأ هنا وتستمر في شرح الأحداث بالتفصيل.\n"
    )
    assert (
        clean_text(raw)
        == "الفقرة الأولى.\n\nالفقرة الثانية.\n\nالفقرة الثالثة تبدأ هنا وتستمر في شرح الأحداث بالتفصيل."
    )


def test_markdown_and_invisible_controls_are_cleaned() -> None:
    raw = "# عنوان\u200f المقال\nنص [الرابط](https://example.com/x) هنا\u202e.\r"
    assert clean_text(raw) == "عنوان المقال\n\nنص الرابط هنا."


def test_title_prefers_a_repeated_headline_then_the_first_meaningful_line() -> None:
    raw = "الترا عراق – فريق التحرير\nنص طويل للخبر الأول.\nالعنوان المكرر\nالعنوان المكرر\n"
    cleaned = clean_text(raw)
    assert find_title_in_raw(raw, cleaned, "file") == "العنوان المكرر"
    assert find_title(cleaned, "file") == "نص طويل للخبر الأول."  # the byline is not a title


def test_long_first_line_is_shortened_at_a_word_boundary() -> None:
    line = " ".join(["كلمة"] * 60)
    title = find_title(line, "file")
    assert title.endswith("…")
    assert len(title) <= 121
    assert title[:-1].split() == ["كلمة"] * len(title[:-1].split())


def test_seed_debris_is_gone_and_text_is_kept(seed_texts: dict[str, str]) -> None:
    cleaned = {name: clean_text(raw) for name, raw in seed_texts.items()}
    joined = "\n".join(cleaned.values())
    assert ".jpg)" not in joined
    assert "تشترك" not in joined
    assert "اقرأ/ي أيضًا" not in joined
    assert "مواضيع ذات صلة" not in joined
    assert cleaned["001_117cbf478e95276b.txt"].count("يعرض لقطات") == 1
    # the Manbij report after the related-articles caption is article text, not debris
    assert "تم تحرير مدينة منبج السورية من داعش في 2016" in cleaned["003_0262f053a42b4a37.txt"]
    title = find_title_in_raw(seed_texts["001_117cbf478e95276b.txt"], cleaned["001_117cbf478e95276b.txt"], "x")
    assert title == "«داعش» يعرض لقطات لـ«متطرفين سابقين» لوقف فرار عناصره وانهيار «الخلافة»"
