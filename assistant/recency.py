"""Questions that ask for the latest news, and the preference they give recent articles (pure functions).

"What is the latest on Baghouz?", "ما آخر أخبار الباغوز؟", "أحدث تسجيل للمتحدث" ask for the newest
article on a subject, not the most similar one. For them, each candidate's fused score is mixed
with how recent its article is, relative to the newest candidate: `exp(-ln 2 * age / half_life)`,
so an article `half_life` days older than the newest gets half the bonus; an undated article gets
none. The weight and half-life were chosen by measurement (docs/recency.md).

"آخر" also means "last" (آخر معاقل التنظيم, its last stronghold, is still the newest news of it) and,
after a noun, "another" (مكان آخر): only "آخر" before a noun counts. English "last" is not a cue
("the last enclave"); "latest", "most recent", "newest" and "recently" are.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from ingest.analysis import normalize

RECENCY_WEIGHT = 0.3
"""Share of the recency bonus in a latest-news question's score."""
HALF_LIFE_DAYS = 30.0
"""Days older than the newest candidate at which an article gets half the bonus."""
DEPTH_FACTOR = 3
"""A latest-news question looks this many times deeper in each retriever, so older look-alikes do not crowd out
the newest article."""

_ENGLISH = re.compile(r"\b(?:latest|most\s+recent(?:ly)?|newest|recently|recent\s+(?:news|developments?|updates?))\b")
# Tokens of the normalized question (ingest.analysis.normalize: أحدث -> احدث, الأخيرة -> الاخيره).
_ALWAYS = {"احدث", "الاحدث", "باحدث", "لاحدث", "واحدث", "مؤخرا", "الاخير", "الاخيره", "الاخيرين", "الاخيرات"}
_LAST = {"اخر", "باخر", "لاخر", "واخر"}
_NOT_A_NOUN = {"من", "في", "عن", "على", "علي", "الى", "الي", "مع", "له", "لها", "لهم", "منه", "منها", "او", "ثم"}
_NOT_A_NOUN |= {"ان", "انه", "انها", "بان", "قد", "لم", "لن", "كان", "قال", "يقول"}  # مسؤول آخر إن ...: another
_WORD = re.compile(r"[^\W\d_]+")


def asks_for_latest(question: str) -> bool:
    """True when `question` asks for the latest or most recent news."""
    text = normalize(question)
    if _ENGLISH.search(text):
        return True
    words = _WORD.findall(text)
    for index, word in enumerate(words):
        if word in _ALWAYS:
            return True
        if word in _LAST and index + 1 < len(words):
            following = words[index + 1]
            if following not in _NOT_A_NOUN and not following.startswith("لل"):
                return True  # آخر تسجيل, آخر أخبار, آخر ما قاله: not تسجيل آخر للبغدادي, مكان آخر
    return False


def recency_bonus(day: int | None, newest: int, half_life: float = HALF_LIFE_DAYS) -> float:
    """1 for the newest candidate's day, halving every `half_life` days before it; 0 for an undated article."""
    if day is None:
        return 0.0
    age = max(0, _ordinal(newest) - _ordinal(day))
    return math.exp(-math.log(2) * age / half_life)


def prefer_recent(
    scored: Sequence[tuple[str, float]],
    days: Mapping[str, int | None],
    weight: float = RECENCY_WEIGHT,
    half_life: float = HALF_LIFE_DAYS,
) -> list[tuple[str, float]]:
    """`scored` (candidate, fused score) re-scored as (1 - weight) * score + weight * recency, best first."""
    known = [d for c, _ in scored if (d := days.get(c)) is not None]
    if not known or weight <= 0:
        return list(scored)
    newest = max(known)
    rescored = [(c, (1 - weight) * s + weight * recency_bonus(days.get(c), newest, half_life)) for c, s in scored]
    order = sorted(range(len(rescored)), key=lambda i: -rescored[i][1])
    return [rescored[i] for i in order]


def _ordinal(day: int) -> int:
    """Days since year 1 of a `date_key` (20190323)."""
    from datetime import date

    return date(day // 10_000, day // 100 % 100, day % 100).toordinal()
