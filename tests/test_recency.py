"""Latest-news questions and the preference for recent articles (pure functions)."""

from __future__ import annotations

import pytest

from assistant.recency import asks_for_latest, prefer_recent, recency_bonus


@pytest.mark.parametrize(
    "question",
    [
        "What is the latest on Baghouz?",
        "What are the most recent ISIS audio messages?",
        "Newest statement by the coalition",
        "What did al-Muhajir say recently?",
        "ما آخر أخبار الباغوز؟",
        "ما هو آخر تسجيل صوتي للمهاجر؟",
        "آخر ما قاله البغدادي",
        "أحدث رسالة للبغدادي",
        "ما الأحدث عن معركة الموصل؟",
        "ماذا قال المتحدث باسم التحالف مؤخراً؟",
        "ما مدة الخطاب الأخير للبغدادي؟",
        "الرسالة الأخيرة لداعش",
    ],
)
def test_latest_news_questions(question: str) -> None:
    assert asks_for_latest(question)


@pytest.mark.parametrize(
    "question",
    [
        "Where was the last ISIS enclave in Syria?",  # "last": final, not newest
        "What did the coalition spokesman say about al-Baghdadi?",
        "هل نشر التنظيم تسجيلاً آخر للبغدادي؟",  # another recording
        "انتقل التنظيم إلى مكان آخر",  # another place
        "ما مدة الرسالة الصوتية للبغدادي؟",
        "ماذا حدث في منبج؟",
    ],
)
def test_other_questions(question: str) -> None:
    assert not asks_for_latest(question)


def test_recency_bonus_halves_every_half_life() -> None:
    assert recency_bonus(20190330, 20190330) == 1.0
    assert recency_bonus(20190228, 20190330, half_life=30) == pytest.approx(0.5)
    assert recency_bonus(None, 20190330) == 0.0
    assert recency_bonus(20200101, 20190330) == 1.0  # never above 1


def test_prefer_recent_reorders_by_date_and_keeps_relevance() -> None:
    scored = [("old-relevant", 0.9), ("new-relevant", 0.8), ("new-off-topic", 0.1), ("undated", 0.85)]
    days = {"old-relevant": 20170101, "new-relevant": 20190301, "new-off-topic": 20190302, "undated": None}
    ranked = [c for c, _ in prefer_recent(scored, days, weight=0.3, half_life=30)]
    assert ranked[0] == "new-relevant"
    assert ranked.index("new-off-topic") > ranked.index("old-relevant")  # recency does not beat relevance alone
    assert prefer_recent(scored, {}, weight=0.3) == scored  # nothing dated: unchanged
    assert prefer_recent(scored, days, weight=0.0) == scored
