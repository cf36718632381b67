"""Notes that travel with an answer: what retrieval could not use, as typed values rendered per language.

Retrieval returns `Note`s; the service renders them in the question's language from the phrases file
(assistant/prompts/phrases.json, key `note_<kind>`). `detail` is the technical reason, in English, for
logs and `--json`; it is never spliced into an Arabic sentence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from assistant.phrases import phrase
from assistant.records import Language


class NoteKind(StrEnum):
    """Why an answer was made with less than the whole index."""

    NO_DENSE_PART = "no_dense_part"
    """The index was built without the embedding model: lexical search only."""
    MODEL_UNAVAILABLE = "model_unavailable"
    """The embedding model cannot be loaded now: lexical search only."""
    MODEL_CHANGED = "model_changed"
    """The index was rebuilt with another embedding model while this reader ran: lexical search only."""
    DENSE_UNAVAILABLE = "dense_unavailable"
    """The vectors could not be searched for this answer (a server down, damaged files)."""
    LEXICAL_UNAVAILABLE = "lexical_unavailable"
    """The lexical index is missing, outdated or damaged: vector search only."""


@dataclass(frozen=True, slots=True)
class Note:
    """One note: its kind, the technical detail behind it, and language-neutral values its phrase shows."""

    kind: NoteKind
    detail: str = ""
    values: tuple[tuple[str, str], ...] = ()
    """Placeholders of the phrase (a URL, a path): the same in every language."""


def render_notes(notes: Iterable[Note], language: Language) -> str:
    """The notes as sentences in `language`, each kind once, in a fixed order."""
    first: dict[NoteKind, Note] = {}
    for note in notes:
        first.setdefault(note.kind, note)
    return " ".join(
        phrase(f"note_{kind.value}", language, **dict(first[kind].values)) for kind in NoteKind if kind in first
    )
