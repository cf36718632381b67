"""What to tell a person about an error in the chat or its API: what happened and what to do next.

No traceback, server path or secret reaches them; the full error goes to the server's log.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from assistant.llm import LLMUnavailableError
from assistant.phrases import phrase
from assistant.records import Language
from ingest.declarations import SettingError
from ingest.embedding import EmbeddingUnavailableError, ModelMismatchError
from ingest.reader import IndexMissingError, ManifestDamagedError
from ingest.redaction import redact
from ingest.sync import EmptyFolderError, NoDocumentsError
from ingest.uploads import DocumentsFolderMissingError


def advise(error: BaseException, language: Language = "en", secrets: Iterable[str] = ()) -> str:
    """One or two sentences for a chat user about `error`, in `language`."""
    if isinstance(error, SettingError):  # the request itself: say what is allowed
        return phrase("error_request", language, reason=redact(str(error), secrets))
    if isinstance(error, DocumentsFolderMissingError):  # an upload
        return phrase("error_documents_missing", language)
    if isinstance(error, EmptyFolderError):  # the folder is there but empty: nothing was removed
        return phrase("error_documents_empty_ingest", language)
    if isinstance(error, NoDocumentsError):  # an ingest of the documents folder
        return phrase("error_documents_missing_ingest", language)
    if isinstance(error, IndexMissingError):
        return phrase("error_index_missing", language)
    if isinstance(error, ManifestDamagedError):
        return phrase("error_manifest_damaged", language)
    if isinstance(error, ModelMismatchError | EmbeddingUnavailableError):
        return phrase("error_model", language)
    if isinstance(error, LLMUnavailableError):
        reason = redact(str(error), secrets).split(". ")[0][:160]
        return phrase("error_llm", language, reason=reason)
    if isinstance(error, OSError | sqlite3.Error | ValueError | KeyError):  # a damaged or half-replaced index
        return phrase("error_index_unreadable", language)
    return phrase("error_unexpected", language, kind=type(error).__name__)
