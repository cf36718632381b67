"""The extractive answerer: the best supporting sentences of the retrieved passages, each with [n].

No LLM: sentences are scored by how much of the question they cover (analyzer terms and
character n-grams), their similarity to the question when an embedder is available, and the
rank of their passage. When the best sentence is too far from the question the answer abstains,
by thresholds measured for the model in use (docs/abstention.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

import numpy as np

from assistant.alignment import aligner
from assistant.names import QuestionNames
from assistant.phrases import phrase
from assistant.records import Answer, Citation, Closeness, Language, Mode, Passage
from ingest import bundled_model
from ingest.analysis import analyze, char_ngrams, detect_language, plain_spelling
from ingest.embedding import Embedder
from ingest.passage_vectors import sentence_spans

MAX_SENTENCES = 3
ABSTAIN_BELOW = 0.50
"""Best sentence coverage under which nothing relevant was found (measured: docs/abstention.md)."""
SAME_LANGUAGE_SIMILARITY = 0.83
"""A same-language sentence below ABSTAIN_BELOW is still an answer at this similarity (above 1: never)."""
SAME_LANGUAGE_FLOOR = 0.80
"""A same-language sentence needs at least this similarity, whatever its coverage (when similarities exist)."""
CROSS_LANGUAGE_SIMILARITY = 0.76
"""Across languages, where words cannot match, the similarity a sentence needs to be an answer."""
SAME_LANGUAGE_TERMS = 20.0
CROSS_LANGUAGE_TERMS = 14.0
"""The latent-term score (retrieval's, Passage.terms_score) that the best sentence's passage needs, per
question language against the passage's: the sparse head's concepts separate off-topic questions where
the cosine of e5-small does not."""
NEVER = 1.01
"""A similarity threshold no cosine reaches."""
CROSS_LANGUAGE_BEST = 1.5
CROSS_LANGUAGE_BACKGROUND = 1.5
CROSS_LANGUAGE_TERMS_WEIGHT = 0.15
CROSS_LANGUAGE_ALIGNMENT = 0.25
CROSS_LANGUAGE_LIFT = 0.974
"""Across languages, when retrieval gives the question's Closeness (assistant/background.py), the best
sentence is an answer when its lift reaches CROSS_LANGUAGE_LIFT: its similarity + CROSS_LANGUAGE_BEST x the
index's best similarity - CROSS_LANGUAGE_BACKGROUND x the question's background level +
CROSS_LANGUAGE_TERMS_WEIGHT x the latent-term score / 100 + CROSS_LANGUAGE_ALIGNMENT x the sentence's token
alignment with the question (assistant/alignment.py). Weights and threshold measured together:
docs/abstention.md."""
SAME_LANGUAGE_BEST = 1.5
SAME_LANGUAGE_BACKGROUND = 2.5
SAME_LANGUAGE_LIFT = 0.031
"""An Arabic question over Arabic passages, when retrieval gives the question's Closeness: the best sentence
also needs its similarity + SAME_LANGUAGE_BEST x the index's best similarity - SAME_LANGUAGE_BACKGROUND x the
question's background level to reach SAME_LANGUAGE_LIFT, whatever its coverage: an off-topic Arabic question
whose words an unrelated archive shares is no closer to that archive than to generic Arabic text. Measured with
the weights: docs/abstention.md."""

Score = TypeVar("Score", float, np.ndarray)


class Lift(NamedTuple):
    """Weights of the lift (see CROSS_LANGUAGE_LIFT) and the lift an answer needs."""

    best: float
    background: float
    terms: float
    threshold: float
    alignment: float = 0.0

    def score(self, similarity: Score, best: Score, background: Score, latent: Score, alignment: Score) -> Score:
        """similarity + best x `best` - background x `background` + terms x `latent` / 100 + alignment x
        `alignment`, for one sentence or, as arrays, for many (benchmarks/abstention.py)."""
        return (
            similarity
            + self.best * best
            - self.background * background
            + self.terms * latent / 100.0
            + self.alignment * alignment
        )

    def of(self, similarity: float, closeness: Closeness, latent: float | None, alignment: float = 0.0) -> float:
        """The lift of one sentence (no latent terms count as 0)."""
        terms = 0.0 if latent is None else latent
        return self.score(similarity, closeness.best, closeness.background, terms, alignment)


class Abstention(NamedTuple):
    """When the best sentence is too far from the question: thresholds that belong to one model's scores."""

    coverage: float
    same_similarity: float
    cross_similarity: float
    same_floor: float
    same_terms: float
    cross_terms: float
    lift: Lift | None = None
    """Across languages, with a Closeness: the lift rule instead of cross_similarity and cross_terms."""
    same_lift: Lift | None = None
    """Arabic over Arabic, with a Closeness: the lift the best sentence also needs (SAME_LANGUAGE_LIFT); the
    background is Arabic text, so English over English is not gated."""


CALIBRATED = {
    bundled_model.SHA256: Abstention(
        ABSTAIN_BELOW,
        SAME_LANGUAGE_SIMILARITY,
        CROSS_LANGUAGE_SIMILARITY,
        SAME_LANGUAGE_FLOOR,
        SAME_LANGUAGE_TERMS,
        CROSS_LANGUAGE_TERMS,
        Lift(
            CROSS_LANGUAGE_BEST,
            CROSS_LANGUAGE_BACKGROUND,
            CROSS_LANGUAGE_TERMS_WEIGHT,
            CROSS_LANGUAGE_LIFT,
            CROSS_LANGUAGE_ALIGNMENT,
        ),
        Lift(SAME_LANGUAGE_BEST, SAME_LANGUAGE_BACKGROUND, 0.0, SAME_LANGUAGE_LIFT),
    )
}
"""The constants above, measured for the bundled model (by the checksum of its weights: docs/abstention.md)."""
UNCALIBRATED = Abstention(0.35, NEVER, 0.78, 0.0, 0.0, 0.0)
"""Any other model, or none: coverage alone in one language (the lexical-only measurement), and a cosine
across languages; similarity scales differ from model to model."""


def abstention_for(embedder: Embedder | None) -> Abstention:
    """The thresholds measured for `embedder`'s weights, else UNCALIBRATED."""
    return CALIBRATED.get(str(getattr(embedder, "checksum", "") or ""), UNCALIBRATED)


NEAR_DUPLICATE = 0.7
KEEP_RELATIVE = 0.6
"""A second or third sentence is kept when it scores at least this share of the best one."""


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A sentence of a retrieved passage with its scores."""

    passage: int
    start: int
    end: int
    text: str
    coverage: float
    similarity: float | None
    score: float
    terms: frozenset[str]
    latent: float | None = None
    """The latent-term score of the sentence's passage (Passage.terms_score)."""
    named: float = 0.0
    """Across languages, coverage by the question's names that the sentence spells in Arabic letters
    (assistant/names.py): 0.6 x their share of the question's terms, on the scale of `coverage`."""


def coverage(question: str, sentence: str) -> float:
    """Share of the question's terms found in `sentence`: 0.6 words + 0.4 character 3-grams."""
    return _coverage(_terms(question), _terms(sentence))


def _terms(text: str) -> tuple[frozenset[str], frozenset[str]]:
    return frozenset(analyze(text)), frozenset(char_ngrams(text))


def _coverage(
    question: tuple[frozenset[str], frozenset[str]], sentence: tuple[frozenset[str], frozenset[str]]
) -> float:
    (q_terms, q_grams), (s_terms, s_grams) = question, sentence
    if not q_terms and not q_grams:
        return 0.0
    words = len(q_terms & s_terms) / len(q_terms) if q_terms else 0.0
    grams = len(q_grams & s_grams) / len(q_grams) if q_grams else 0.0
    return 0.6 * words + 0.4 * grams


def score_sentences(
    question: str, passages: Sequence[Passage], embedder: Embedder | None, asked: str = ""
) -> list[ScoredSentence]:
    """Every sentence of every passage, scored against the question.

    `asked` is the follow-up as the person wrote it when `question` joins it to an earlier one: a sentence
    covers the question when it covers either (the earlier words, perhaps in another language, would
    otherwise dilute the coverage of a sentence that answers the follow-up itself)."""
    spans = [(i, s, e) for i, p in enumerate(passages) for s, e in sentence_spans(p.text)]
    texts = [passages[i].text[s:e] for i, s, e in spans]
    question_terms = _terms(question)
    sentence_terms = [_terms(text) for text in texts]
    coverages = [_coverage(question_terms, terms) for terms in sentence_terms]
    if asked and asked != question:
        asked_terms = _terms(asked)
        coverages = [max(c, _coverage(asked_terms, terms)) for c, terms in zip(coverages, sentence_terms, strict=True)]
    similarities = _similarities(question, passages, texts, embedder)
    scored = []
    question_language = detect_language(question)
    same_language = [detect_language(p.text) == question_language for p in passages]
    named = [0.0] * len(texts)
    # an English question's names that the Arabic sentence spells: its words found there (see `rescued`)
    readers = [QuestionNames.of(q) for q in {question, asked or question}] if question_language == "en" else []
    readers = [reader for reader in readers if reader.runs]
    if readers:
        for j, (i, _, _) in enumerate(spans):
            if not same_language[i]:
                named[j] = 0.6 * max(reader.share(texts[j]) for reader in readers)
    for (i, start, end), text, similarity, cover, terms, names in zip(
        spans, texts, similarities, coverages, sentence_terms, named, strict=True
    ):
        rank = 1.0 / (1 + i)
        if similarity is None or same_language[i]:
            score = 0.8 * cover + 0.2 * rank
        else:
            score = 0.55 * cover + 0.3 * max(similarity, 0.0) + 0.15 * rank
        scored.append(
            ScoredSentence(i, start, end, text, cover, similarity, score, terms[0], passages[i].terms_score, names)
        )
    return scored


def _similarities(
    question: str, passages: Sequence[Passage], texts: Sequence[str], embedder: Embedder | None
) -> list[float | None]:
    """Each sentence's similarity to the question: from retrieval's passage vectors when every passage has
    them, else computed now, and then only across languages, where words cannot match (a same-language
    answer below the coverage threshold abstains whatever the vectors say)."""
    counts = [len(sentence_spans(p.text)) for p in passages]
    if passages and all(
        p.sentence_scores is not None and len(p.sentence_scores) == n for p, n in zip(passages, counts, strict=True)
    ):
        return [score for p in passages for score in p.sentence_scores or ()]
    cross_language = any(detect_language(p.text) != detect_language(question) for p in passages)
    if embedder is None or not texts or not cross_language:
        return [None] * len(texts)
    vectors = embedder.embed_documents(texts)
    return [float(v) for v in np.clip(vectors @ embedder.embed_query(plain_spelling(question)), -1.0, 1.0)]


def is_relevant(
    best: ScoredSentence,
    question_language: Language,
    passage_language: Language,
    rule: Abstention = UNCALIBRATED,
    closeness: Closeness | None = None,
    align: Callable[[str], float] | None = None,
) -> bool:
    """Whether the best sentence is good enough to answer rather than abstain.

    Words found vouch for a sentence by themselves; meaning alone needs both the cosine and the latent
    terms (the cosine of e5-small is high for any question against any news sentence), and across
    languages, when `closeness` is known, the lift: meaning read against the question's background level,
    with the sentence's token alignment by `align` (assistant/alignment.py) when the lift weighs it; an
    Arabic sentence for an Arabic question also needs the same-language lift (SAME_LANGUAGE_LIFT)."""
    similarity, latent = best.similarity, best.latent

    def close(threshold: float, terms: float) -> bool:
        return similarity is not None and similarity >= threshold and (latent is None or latent >= terms)

    if question_language != passage_language:
        covered = max(best.coverage, best.named)
        if covered >= rule.coverage:
            return True
        lift = rule.lift
        usable = lift is not None and (align is not None or not lift.alignment)
        if lift is not None and usable and closeness is not None and similarity is not None:
            plain = lift.of(similarity, closeness, latent)
            if align is None or not lift.alignment or plain >= lift.threshold:
                return plain >= lift.threshold  # alignment, in [0, 1] with a weight >= 0, can only add
            if plain + lift.alignment < lift.threshold:
                return False  # not even a perfect alignment would lift it: no need to read the sentence
            return plain + lift.alignment * align(best.text) >= lift.threshold
        return close(rule.cross_similarity, rule.cross_terms)
    if similarity is None:
        return best.coverage >= rule.coverage
    gate = rule.same_lift if question_language == "ar" else None  # measured for Arabic over Arabic only
    if gate is not None and closeness is not None and gate.of(similarity, closeness, latent) < gate.threshold:
        return False
    return similarity >= rule.same_floor and (
        best.coverage >= rule.coverage or close(rule.same_similarity, rule.same_terms)
    )


def extract_answer(
    question: str,
    passages: Sequence[Passage],
    *,
    embedder: Embedder | None = None,
    mode: Mode = "extractive",
    note: str = "",
    language: Language | None = None,
    asked: str = "",
    closeness: Closeness | None = None,
    in_conversation: bool = False,
) -> Answer:
    """An answer made of 1-3 retrieved sentences with [n] markers, or an abstention.

    `language` is the answer's (the person's question's); by default that of `question`, which may be a
    standalone form joining an earlier question in another language; `asked` is then the person's own
    follow-up (see score_sentences). `closeness` is retrieval's (Retrieval.closeness), for the lift.
    `in_conversation`: the question comes after earlier turns (joined to them or not).
    """
    language = language or detect_language(question)
    scored = score_sentences(question, passages, embedder, asked)
    if not scored:
        return abstain(language, mode, note, question)
    ranked = sorted(scored, key=lambda s: -s.score)
    best = ranked[0]
    rule = abstention_for(embedder)
    if in_conversation or (asked and asked != question):
        # the same-language lift asks whether a question belongs to this archive at all; in a conversation the
        # earlier turns set the topic, and a short next question's own words are too few to say (even when the
        # follow-up rule lets it stand alone, as "ما اسمه الحقيقي؟" does): docs/abstention.md
        rule = rule._replace(same_lift=None)
    align = aligner(embedder, question) if closeness is not None else None  # reads a sentence when asked
    if not is_relevant(best, language, detect_language(passages[best.passage].text), rule, closeness, align):
        named = rescued(ranked, rule)
        if named is None:
            return abstain(language, mode, note, question)
        best, ranked = named, [named, *(s for s in ranked if s is not named)]
    chosen = [best]
    for candidate in ranked[1:]:
        if len(chosen) == MAX_SENTENCES or candidate.score < KEEP_RELATIVE * best.score:
            break
        if any(_similar(candidate.terms, c.terms) for c in chosen):
            continue  # a near-duplicate: not worth the cost of reading it for relevance
        passage_language = detect_language(passages[candidate.passage].text)
        if is_relevant(candidate, language, passage_language, rule, closeness, align):
            chosen.append(candidate)
    return compose(question, language, passages, chosen, mode, note)


def rescued(ranked: Sequence[ScoredSentence], rule: Abstention) -> ScoredSentence | None:
    """The best sentence that the question's names vouch for, when the best-scored one is not an answer.

    Names vouch, they do not rank: a name that is a small part of a question ("... in the Manbij attack
    according to the Pentagon?") leaves the order to meaning, while a question that is mostly names ("Who is
    Lahur Talabani?"), whose meaning and latent terms are too thin to pass, is answered by the sentence that
    spells them."""
    return next((s for s in ranked if s.named >= rule.coverage), None)


def compose(
    question: str,
    language: Language,
    passages: Sequence[Passage],
    chosen: Sequence[ScoredSentence],
    mode: Mode,
    note: str,
) -> Answer:
    """Number the cited passages in order of first use and write the answer text."""
    numbers: dict[int, int] = {}
    quotes: dict[int, list[ScoredSentence]] = {}
    parts = []
    for sentence in chosen:
        number = numbers.setdefault(sentence.passage, len(numbers) + 1)
        quotes.setdefault(sentence.passage, []).append(sentence)
        parts.append(f"{_quoted(sentence.text, language)} [{number}]")
    arabic_sources = any(detect_language(passages[i].text) == "ar" for i in numbers)
    intro = phrase("intro_quoted_arabic" if language == "en" and arabic_sources else "intro", language)
    citations = tuple(
        Citation.of(
            number,
            passages[index],
            " ".join(s.text for s in sorted(quotes[index], key=lambda s: s.start)),
            supported=True,  # the quote is the passage's own text
        )
        for index, number in numbers.items()
    )
    return Answer(f"{intro} " + " ".join(parts), language, False, mode, citations, note, question)


def abstain(language: Language, mode: Mode, note: str, question: str = "") -> Answer:
    """The honest answer when nothing relevant was retrieved."""
    return Answer(phrase("not_found", language), language, True, mode, (), note, question)


def _quoted(text: str, language: Language) -> str:
    text = text.strip()
    return f"«{text}»" if language == "en" else text


def _similar(a: frozenset[str], b: frozenset[str]) -> bool:
    if not a or not b:
        return a == b
    return len(a & b) / len(a | b) >= NEAR_DUPLICATE
