"""Follow-up questions: rewritten into standalone ones before retrieval."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from assistant.llm import LLMUnavailableError, invoke_text
from assistant.phrases import prompt
from ingest.analysis import analyze, detect_language, normalize

History = Sequence[Mapping[str, Any] | tuple[str, str]]

_CUES = re.compile(
    r"^\s*(?:و(?:ماذا|متى|اين|كيف|هل|من|لماذا|كم|ما)\b|و?ماذا عن|و?(?:هو|هي|هم|هذا|هذه|ذلك|تلك)\b"
    r"|and\b|what about|how about|(?:he|she|it|they|his|her|its|their|them|this|that|those)\b)",
    re.IGNORECASE,
)
_PRONOUNS = re.compile(r"\b(?:he|she|it|they|him|his|her|its|their|them)\b", re.IGNORECASE)
_AR_PRONOUN_SUFFIX = re.compile(r"(?:ه|ها|هم|هما)$")
MAX_CONTENT_TERMS = 3


def user_turns(history: History | None) -> list[str]:
    """The user's earlier questions, oldest first, from messages ({role, content}) or (question, answer) pairs."""
    questions: list[str] = []
    for turn in history or ():
        if isinstance(turn, tuple):
            questions.append(str(turn[0]))
        elif turn.get("role") == "user" and isinstance(turn.get("content"), str):
            questions.append(turn["content"])
    return [q for q in questions if q.strip()]


def is_follow_up(question: str) -> bool:
    """A short question, or one that starts like a continuation or leans on a pronoun."""
    normalized = normalize(question)
    if _CUES.match(normalized) or _PRONOUNS.search(question):
        return True
    terms = analyze(question)
    if len(terms) <= MAX_CONTENT_TERMS:
        return True
    return any(_AR_PRONOUN_SUFFIX.search(w) for w in normalized.split()[:2]) and len(terms) <= MAX_CONTENT_TERMS + 2


def rule_rewrite(question: str, history: History | None) -> str:
    """Without an LLM: carry the previous question's key words into a follow-up."""
    previous = user_turns(history)
    if not previous or not is_follow_up(question):
        return question
    own = set(analyze(question))
    carried = [w for w in re.findall(r"[^\W_]+", previous[-1]) if (t := analyze(w)) and not set(t) <= own]
    return f"{question} {' '.join(dict.fromkeys(carried))}".strip() if carried else question


def llm_rewrite(model: Any, question: str, history: History | None, timeout: float) -> str:
    """With an LLM: rewrite into a standalone question (falls back to the rule on any failure)."""
    from langchain_core.messages import HumanMessage

    previous = user_turns(history)
    if not previous:
        return question
    conversation = _conversation(history)
    language = detect_language(question)
    text = prompt("rewrite", language).format(history=conversation, question=question)
    try:
        rewritten = invoke_text(model, [HumanMessage(content=text)], timeout).strip().splitlines()
    except LLMUnavailableError:
        return rule_rewrite(question, history)
    candidate = rewritten[0].strip() if rewritten else ""
    if not candidate or len(candidate) > 4 * len(question) + 200:
        return rule_rewrite(question, history)
    return candidate


def _conversation(history: History | None) -> str:
    lines = []
    for turn in history or ():
        if isinstance(turn, tuple):
            lines += [f"user: {turn[0]}", f"assistant: {turn[1]}"]
        elif isinstance(turn.get("content"), str):
            lines.append(f"{turn.get('role', 'user')}: {turn['content'][:500]}")
    return "\n".join(lines[-8:])
