"""Token alignment: how well each content word of a question finds its counterpart in a sentence.

A pooled vector tells how close a whole question is to a whole sentence; an off-topic English question can
be close to an Arabic news sentence in tone and still share none of its details. Alignment reads the token
states of the bundled model's encoder (layer ALIGNMENT_LAYER, where words still carry their own meaning
across languages): for each content token of the question, the best cosine with any token of the sentence,
averaged (MaxSim, as in late-interaction retrieval). It is one feature of the answerer's lift
(extractive.Lift), measured with the others in docs/abstention.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from ingest.embedding import TokenStates

ALIGNMENT_LAYER = 8
"""The encoder layer read (of 12): of layers 6, 8 and 12, the one that added most to the lift's other
features (docs/abstention.md)."""
FUNCTION_WORDS = frozenset(
    [
        "the",
        "of",
        "a",
        "an",
        "in",
        "on",
        "at",
        "to",
        "for",
        "by",
        "with",
        "from",
        "and",
        "or",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "did",
        "do",
        "does",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "that",
        "this",
        "these",
        "those",
        "it",
        "its",
        "as",
        "into",
        "than",
        "then",
        "there",
        "their",
        "his",
        "her",
        "he",
        "she",
        "they",
        "them",
        "about",
        "after",
        "before",
        "during",
    ]
)
"""English words left out of the question's side: they align with anything."""
MAX_READS = 5
"""Sentences read per question at most (20 to 60 ms each on one CPU thread, by length): the best sentence,
which decides whether to answer, and up to four that may join it (3 left out the fact of one seed answer)."""
_WORD = re.compile(r"\w")
_SPECIAL = frozenset({"<s>", "</s>", "<pad>", "<unk>", "<mask>"})


def content(tokens: TokenStates) -> np.ndarray:
    """The states of the tokens that carry content: word characters, not an English function word."""
    keep = [
        piece not in _SPECIAL and bool(_WORD.search(word)) and word not in FUNCTION_WORDS
        for piece in tokens.pieces
        for word in (piece.replace("\u2581", "").lower(),)
    ]
    return tokens.states[np.array(keep, dtype=bool)] if any(keep) else tokens.states[:0]


def max_sim(question: np.ndarray, sentence: np.ndarray) -> float:
    """Mean over the question's tokens of the best cosine with a sentence token, in [0, 1] (0 when either has
    none, or in the unseen case of a negative mean): the answerer relies on those bounds to skip reading a
    sentence whose lift is decided without it (extractive.is_relevant)."""
    if not len(question) or not len(sentence):
        return 0.0
    return min(1.0, max(0.0, float((question @ sentence.T).max(axis=1).mean())))


def aligner(embedder: object, question: str, reads: int = MAX_READS) -> Callable[[str], float] | None:
    """A function from a sentence to its alignment with `question`, or None when `embedder` cannot show token
    states. Nothing is read until the first call, which reads the question and its sentence in one forward
    pass; each later sentence is read when asked for, once (one batch pads every sentence to the longest and
    costs as much as reading them one by one). After `reads` sentences, any other gets 0, the least alignment:
    it can still be an answer without it."""
    reader = getattr(embedder, "token_states", None)
    if reader is None:
        return None
    question_states: list[np.ndarray] = []
    known: dict[str, float] = {}

    def align(sentence: str) -> float:
        if sentence not in known:
            if len(known) >= reads:
                return 0.0
            texts = [("document", sentence)] if question_states else [("query", question), ("document", sentence)]
            read = reader(texts, ALIGNMENT_LAYER)
            if not question_states:
                question_states.append(content(read[0]))
            known[sentence] = max_sim(question_states[0], content(read[-1]))
        return known[sentence]

    return align
