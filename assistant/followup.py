"""Follow-up questions: made standalone before retrieval; the answer keeps the language of the question.

Without an LLM a question is joined to the previous standalone question when it refers back to it:
a strong cue (a continuation such as "and ..." or "وماذا عن", a pronoun or demonstrative pointing at
something the question does not name) always joins; a weak cue (a short question, an Arabic pronoun
suffix) joins unless the question names something new: an English name the earlier question did not
have (in a question typed without capitals, a word that only the question's own article spells), or an
Arabic term that the article the earlier question found does not contain. The rule was measured on a
conversation set with topic switches and real follow-ups, and on its English turns in lowercase
(docs/answers.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.llm import LLMUnavailableError, invoke_text
from assistant.names import QuestionNames, question_names, typed_in_lowercase
from assistant.phrases import prompt
from ingest.analysis import analyze, detect_language, normalize

History = Sequence[Mapping[str, Any] | tuple[str, str]]
Cue = Literal["strong", "weak", "none"]
FollowUps = Literal["auto", "off", "always"]
"""How earlier questions are used: by the rule below, never (each question alone), or always joined."""
FOLLOW_UPS: tuple[FollowUps, ...] = ("auto", "off", "always")

MAX_CONTENT_TERMS = 3
"""A question with at most this many analyzer terms is short: it may lean on the previous one."""
MAX_CHAIN = 4
"""Earlier questions replayed to rebuild the previous standalone question."""
MAX_STANDALONE_CHARS = 600
"""A chain of follow-ups keeps at most this much of the earlier questions."""

_EN_CONTINUATION = re.compile(r"^\W*(?:and|also|then|so|what about|how about)\b", re.IGNORECASE)
_EN_PRONOUN = re.compile(r"\b(?:he|she|it|they|him|his|her|hers|its|their|theirs|them|himself|itself)\b", re.IGNORECASE)
_EN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")
_LONG_VOWELS = re.compile("[اويى]")
# Continuations and references, matched on normalized text (alef forms unified, ة -> ه, ى -> ي).
_AR_CONTINUATION = re.compile(
    r"^\W*(?:و(?:ماذا|متي|اين|كيف|هل|من|لماذا|لم|كم|ما|اي|بماذا|الي)\b|و?ماذا عن\b|و?ما ذا عن\b|وايضا\b|و?كذلك\b)"
)
_AR_LEADING_PRONOUN = re.compile(r"^\W*و?(?:هو|هي|هم|هما|هن)\b")
_AR_DEMONSTRATIVE = re.compile(r"(?:^|\s)[وفبلك]{0,2}(?:ذلك|تلك|هذا|هذه|هذان|هاتان|هؤلاء|اولئك)(?=\s|\W|$)")
# A pronoun suffix on a content word, read on the original spelling (so ة is not taken for ه).
_AR_SUFFIX = re.compile(r"[\u0621-\u064a]{2,}(?:ه|ها|هم|هما|هن)$")
_AR_SUFFIX_EXCEPTIONS = frozenset({"الله", "لله", "بالله", "والله", "وجه", "شبه", "فيه", "نفسه", "ذاته"})


def user_turns(history: History | None) -> list[str]:
    """The user's earlier questions, oldest first, from messages ({role, content}) or (question, answer) pairs."""
    questions: list[str] = []
    for turn in history or ():
        if isinstance(turn, tuple):
            questions.append(str(turn[0]))
        elif turn.get("role") == "user" and isinstance(turn.get("content"), str):
            questions.append(turn["content"])
    return [q for q in questions if q.strip()]


def follow_up_cue(question: str) -> Cue:
    """How strongly `question` refers back to an earlier one."""
    normalized = normalize(question)
    pronoun = _EN_PRONOUN.search(question)
    if _EN_CONTINUATION.match(question) or (pronoun and not english_names(question[: pronoun.start()])):
        return "strong"
    if _AR_CONTINUATION.match(normalized) or _AR_LEADING_PRONOUN.match(normalized):
        return "strong"
    if _AR_DEMONSTRATIVE.search(normalized):
        return "strong"
    if len(analyze(question)) <= MAX_CONTENT_TERMS:
        return "weak"
    words = re.findall(r"[\u0621-\u064a]+", question)
    if any(_AR_SUFFIX.fullmatch(w) and w not in _AR_SUFFIX_EXCEPTIONS for w in words):
        return "weak"
    return "none"


def english_names(text: str, *, first_word: bool = False) -> frozenset[str]:
    """Capitalized words ("Who is Lahur Talabani?" -> lahur, talabani), lower-cased; the first word of the text,
    capitalized as any sentence's is, only with `first_word`."""
    words = _EN_WORD.findall(text)[0 if first_word else 1 :]
    return frozenset(w.lower() for w in words if w[0].isupper() and w != "I")


def names_something_new(
    question: str, previous: str, topic: Sequence[str], own: Callable[[], Sequence[str]] | None = None
) -> bool:
    """Whether a short `question` brings its own subject: an English name that the `previous` question
    lacks, or (in Arabic) a term found neither in `previous` nor in `topic`, the text the previous
    question retrieved.

    An English question typed without capitals has no names to go by; there its words that are not stopwords
    are candidate names (assistant.names.question_names), and one is new when the text the question retrieves
    alone (`own()`) spells it in Arabic letters while `topic` does not and `previous` does not have it:
    "who is lahur talabani?" after a question about another article.
    """
    if detect_language(question) == "en":
        if not typed_in_lowercase(question) or own is None:
            return bool(english_names(question) - english_names(previous, first_word=True))
        said = {word.lower() for word in _EN_WORD.findall(previous)}
        runs = [run for run in question_names(question) if not {word.lower() for word in run} <= said]
        if not runs:
            return False
        names = QuestionNames.of_runs(runs, len(runs))
        # the topic is at hand; the question's own retrieval is made only when the topic does not spell a name
        return names.found(" ".join(topic)) == 0 and names.found(" ".join(own())) > 0
    known = {_skeleton(term) for term in analyze(previous)}
    for text in topic:
        known.update(_skeleton(term) for term in analyze(text))
    return any(_skeleton(term) not in known for term in analyze(question))


def _skeleton(term: str) -> str:
    """A term without its inner long vowels, so that forms of one root meet (القتلى and قتيلاً: قتل)."""
    return term[:1] + _LONG_VOWELS.sub("", term[1:])


@dataclass(frozen=True, slots=True)
class Standalone:
    """A question as retrieval sees it: the question asked, and the earlier question(s) it continues."""

    question: str
    context: str = ""
    """The previous standalone question when this one is a follow-up (empty when it stands alone)."""
    previous: Standalone | None = field(default=None, compare=False)
    """That previous standalone question itself (its retrieval names the article under discussion)."""

    @property
    def text(self) -> str:
        """The question with its context after it (what is shown as the standalone question)."""
        return f"{self.question} {self.context}".strip()


def join(previous: Standalone, question: str) -> Standalone:
    """The follow-up `question` of `previous` (the oldest words of a long chain dropped past the limit)."""
    earlier = previous.text
    room = max(MAX_STANDALONE_CHARS - len(question) - 1, 0)
    context = earlier if len(earlier) <= room else earlier[len(earlier) - room :].split(" ", 1)[-1]
    return Standalone(question, context, previous)


def rule_standalone(
    question: str,
    history: History | None,
    topic: Callable[[Standalone], Sequence[str]],
    mode: FollowUps = "auto",
) -> Standalone:
    """Without an LLM: the standalone form of `question`, rebuilding the earlier turns' standalone forms first.

    `topic(s)` is the text that the standalone question s retrieves (the passages of its best article).
    """
    previous = user_turns(history)[-MAX_CHAIN:]
    if not previous or mode == "off":
        return Standalone(question)
    standalone = Standalone(previous[0])
    for turn in previous[1:]:
        standalone = _resolve(turn, standalone, topic, mode)
    return _resolve(question, standalone, topic, mode)


def _resolve(
    question: str, previous: Standalone, topic: Callable[[Standalone], Sequence[str]], mode: FollowUps
) -> Standalone:
    cue = follow_up_cue(question)
    if mode == "always" or cue == "strong":
        return join(previous, question)
    if cue == "weak" and not names_something_new(
        question, previous.text, topic(previous), lambda: topic(Standalone(question))
    ):
        return join(previous, question)
    return Standalone(question)


def llm_rewrite(
    model: Any, question: str, history: History | None, timeout: float, fallback: Callable[[], Standalone]
) -> Standalone:
    """With an LLM: rewrite into a standalone question (`fallback()` on any failure)."""
    from langchain_core.messages import HumanMessage

    if not user_turns(history):
        return Standalone(question)
    conversation = _conversation(history)
    language = detect_language(question)
    text = prompt("rewrite", language).format(history=conversation, question=question)
    try:
        rewritten = invoke_text(model, [HumanMessage(content=text)], timeout).strip().splitlines()
    except LLMUnavailableError:
        return fallback()
    candidate = rewritten[0].strip() if rewritten else ""
    if not candidate or len(candidate) > 4 * len(question) + 200:
        return fallback()
    return Standalone(candidate)


def _conversation(history: History | None) -> str:
    lines = []
    for turn in history or ():
        if isinstance(turn, tuple):
            lines += [f"user: {turn[0]}", f"assistant: {turn[1]}"]
        elif isinstance(turn.get("content"), str):
            lines.append(f"{turn.get('role', 'user')}: {turn['content'][:500]}")
    return "\n".join(lines[-8:])
