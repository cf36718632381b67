"""Cited question answering over Arabic and English news articles.

>>> from assistant import answer
>>> result = answer("من هو المتحدث باسم تنظيم داعش؟")
>>> print(result.text)
>>> for c in result.citations: print(c.number, c.source, c.quote)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from assistant.followup import History
from assistant.records import Answer, Citation, Passage
from assistant.service import Assistant
from assistant.settings import AssistantSettings

__all__ = ["Answer", "Assistant", "AssistantSettings", "Citation", "Passage", "answer"]


def answer(
    question: str,
    *,
    history: History | None = None,
    k: int | None = None,
    sources: Sequence[str] | None = None,
) -> Answer:
    """Answer `question` from the index named by the environment (ASSISTANT_INDEX_DIR, default vectorstore/).

    Models stay loaded between calls with the same settings; use `Assistant` to control them directly.
    """
    return _shared(AssistantSettings.from_env()).ask(question, history=history, k=k, sources=sources)


@lru_cache(maxsize=2)
def _shared(settings: AssistantSettings) -> Assistant:
    return Assistant.from_settings(settings)
