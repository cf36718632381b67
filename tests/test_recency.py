"""Latest-news questions and the preference for recent articles (pure functions)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.recency import asks_for_latest, prefer_recent, recency_bonus

QUESTIONS = [
    json.loads(line)
    for line in (Path(__file__).parent / "data" / "recency_questions.jsonl").read_text("utf-8").splitlines()
    if line.strip()
]


@pytest.mark.parametrize("row", QUESTIONS, ids=[q["question"] for q in QUESTIONS])
def test_latest_news_questions_and_the_others(row: dict[str, object]) -> None:
    """The measured set of benchmarks/recency.py: 'آخر' as 'another' and 'last' as 'final' are no request."""
    assert asks_for_latest(str(row["question"])) is row["latest"]


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
