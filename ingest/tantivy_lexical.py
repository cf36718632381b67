"""The lexical index on tantivy: segments, deletes and merges, memory-mapped, in checksummed generations.

Each chunk is one tantivy document: `id` and `source` (raw terms, for deletes and the source filter)
and the two analyzed fields `words` and `grams`, whose terms come from `ingest.analysis` through the
manifest (tantivy only splits them at the spaces `encode_terms` put between them, so the project's
analyzer stays the only analyzer). BM25 is tantivy's (k1=1.2, b=0.75, IDF over all live segments).

A generation is a directory `gen-<generation>-<token>`. Writing generation g links every file of g-1
into a new directory (tantivy never rewrites a segment file; it replaces `meta.json` by rename), opens
a writer there, deletes and adds the changed chunks, commits, lets merges finish, and records the size
and SHA-256 of every file in `checksums.json`. g-1 is untouched throughout, so a reader keeps using it
until it moves to g, and a crash leaves g-1 intact.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ingest.analysis import ANALYZER_VERSION, DEFAULT_ANALYZER, AnalyzerConfig
from ingest.checksums import FileSum, check_files, sum_files, unlinked
from ingest.files import hash_bytes, write_atomic
from ingest.lexical import (
    DEFAULT_PARAMS,
    LexicalChange,
    LexicalDamagedError,
    LexicalDocument,
    LexicalHit,
    LexicalParams,
    analyze_fields,
)
from ingest.panics import is_panic

logger = logging.getLogger(__name__)

CHECKSUMS = "checksums.json"
PREFIX = "gen-"
FORMAT = "tantivy/1"
"""Recorded in every generation; bump when the schema below changes so old generations are rebuilt."""
WRITER_HEAP = 64_000_000
_TOKENIZER = "terms"
_LOCKS = (".tantivy-writer.lock", ".tantivy-meta.lock")


@dataclass(frozen=True, slots=True)
class GenerationRecord:
    """What `checksums.json` says about one generation directory."""

    name: str
    generation: int
    documents: int
    files: dict[str, FileSum]
    analyzer_version: str = ANALYZER_VERSION
    format: str = FORMAT

    def to_json(self) -> str:
        """The file's text; its own SHA-256 is what the index state records."""
        body = {
            "format": self.format,
            "analyzer_version": self.analyzer_version,
            "generation": self.generation,
            "documents": self.documents,
            "files": {name: s.to_json() for name, s in sorted(self.files.items())},
        }
        return json.dumps(body, ensure_ascii=False, indent=1)

    @property
    def current(self) -> bool:
        """True when this generation was written by the analyzer and schema of this version."""
        return self.analyzer_version == ANALYZER_VERSION and self.format == FORMAT


def read_record(root: Path, name: str, expected_sha256: str | None = None) -> GenerationRecord:
    """The record of generation directory `name` (raises LexicalDamagedError when unreadable or changed)."""
    path = root / name / CHECKSUMS
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise LexicalDamagedError(f"{_show(root, name, CHECKSUMS)} is missing") from error
    except OSError as error:
        raise LexicalDamagedError(f"{_show(root, name, CHECKSUMS)} cannot be read ({error.strerror})") from error
    if expected_sha256 is not None and hash_bytes(data) != expected_sha256:
        raise LexicalDamagedError(f"{_show(root, name, CHECKSUMS)} does not match the checksum the index recorded")
    try:
        body = json.loads(data.decode("utf-8"))
        return GenerationRecord(
            name=name,
            generation=int(body["generation"]),
            documents=int(body["documents"]),
            files={file: FileSum.from_json(value) for file, value in body["files"].items()},
            analyzer_version=str(body["analyzer_version"]),
            format=str(body["format"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise LexicalDamagedError(f"{_show(root, name, CHECKSUMS)} is not a valid record ({error})") from error


def check_generation(root: Path, record: GenerationRecord, *, deep: bool = False) -> list[str]:
    """Problems with the files of a generation (empty when complete and unchanged)."""
    directory = root / record.name
    if not directory.is_dir():
        return [f"{_show(root, record.name)} is missing"]
    return [f"{_show(root, record.name)}/{problem}" for problem in check_files(directory, record.files, deep=deep)]


def write_generation(
    root: Path,
    generation: int,
    *,
    base: GenerationRecord | None = None,
    change: LexicalChange | None = None,
    documents: Iterable[LexicalDocument] = (),
) -> GenerationRecord:
    """Write generation `generation`: `base` plus `change`, or (no base) a new index of `documents`.

    Returns its record; nothing is live until the caller records it in the index state. The files of `base`,
    which the caller has checked, are hard-linked and keep their checksums without being read again.
    """
    root.mkdir(parents=True, exist_ok=True)
    name = f"{PREFIX}{generation:08d}-{secrets.token_hex(4)}"
    directory = root / name
    directory.mkdir()
    try:
        if base is not None:
            for file in base.files:
                os.link(root / base.name / file, directory / file)
        index = _index(directory, create=base is None)
        writer = index.writer(heap_size=WRITER_HEAP, num_threads=1)
        if change is not None:
            for chunk_id in change.removed:
                writer.delete_documents_by_term("id", chunk_id)
            for document in change.added:
                writer.add_document(_document(document))
        for document in documents:
            writer.add_document(_document(document))
        writer.commit()
        writer.wait_merging_threads()
        cleaner = index.writer(heap_size=WRITER_HEAP, num_threads=1)
        cleaner.garbage_collect_files()
        cleaner.wait_merging_threads()
        index.reload()
        count = int(index.searcher().num_docs)
        del index
        for lock in _LOCKS:
            (directory / lock).unlink(missing_ok=True)
        names = [p.name for p in directory.iterdir() if p.is_file()]
        previous = base.files if base is not None else None
        _fsync(directory, names, previous)
        record = GenerationRecord(name, generation, count, sum_files(directory, names, previous, linked=True))
        write_atomic(directory / CHECKSUMS, record.to_json())
        _fsync_dir(directory)
        return record
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def settle_links(root: Path, record: GenerationRecord) -> GenerationRecord:
    """`record` rewritten with the change times its files have once the generation before it is removed.

    A generation hard-links the unchanged segments of the one it was written from (see `write_generation`),
    and removing that one changes those files' change times though not a byte of them; left as written, the
    record would have every later check hash them again (hundreds of megabytes at a million chunks).
    Returns `record` itself when nothing changed, or when the record cannot be rewritten (then it stays true,
    only slower to check).
    """
    directory = root / record.name
    files = unlinked(directory, record.files)
    if files == record.files:
        return record
    settled = replace(record, files=files)
    try:
        write_atomic(directory / CHECKSUMS, settled.to_json())
    except OSError as error:
        logger.warning("could not record the settled checksums of %s: %s", record.name, error)
        return record
    with contextlib.suppress(OSError):  # replaced already; a crash before this lands is repaired by ingest
        _fsync_dir(directory)
    return settled


def remove_generations(root: Path, keep: Iterable[str]) -> None:
    """Delete every generation directory except `keep` (earlier ones, and any an interrupted ingest left)."""
    kept = set(keep)
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.name not in kept and (entry.name.startswith(PREFIX) or entry.name == "CURRENT"):
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)


def find_generations(root: Path) -> list[str]:
    """Names of the generation directories under `root`, newest generation first."""
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if p.is_dir() and p.name.startswith(PREFIX)), reverse=True)


class TantivyLexicalIndex:
    """A live generation opened for search (tantivy memory-maps its files).

    The n-gram field matches nearly every chunk, so scoring it over all of them costs tens of
    milliseconds at a million chunks. Instead, two cheap queries pick candidates: the best chunks for
    the question's words and the best for its rarest n-grams. Both fields are then scored exactly
    (tantivy's BM25 over the whole index) on the candidates only, and each field's score is divided
    by its best score among them. On ARCD and XQuAD this ranks exactly as scoring every chunk does
    (docs/lexical.md).
    """

    def __init__(
        self, index: Any, record: GenerationRecord, root: Path, params: LexicalParams = DEFAULT_PARAMS
    ) -> None:
        self._index = index
        self._root = root
        self._searcher = index.searcher()
        self._schema = index.schema
        self.record = record
        self.generation = record.generation
        self.config: AnalyzerConfig = DEFAULT_ANALYZER
        self.params = params

    @classmethod
    def open(cls, root: Path, record: GenerationRecord, params: LexicalParams = DEFAULT_PARAMS) -> TantivyLexicalIndex:
        """Open a generation whose files were checked (raises LexicalDamagedError if tantivy refuses it)."""
        try:
            index = _index(root / record.name, create=False)
        except (ValueError, OSError) as error:
            raise LexicalDamagedError(f"{_show(root, record.name)} cannot be opened ({error})") from error
        return cls(index, record, root, params)

    def count(self) -> int:
        return int(self._searcher.num_docs)

    def ids(self) -> Iterator[str]:
        import tantivy

        total = self.count()
        if not total:
            return
        hits = self._searcher.search(tantivy.Query.all_query(), total, count=False).hits
        for _, address in hits:
            yield self._id(address)

    def search(self, query: str, k: int = 10, sources: Sequence[str] | None = None) -> list[LexicalHit]:
        try:
            return self._search(query, k, sources)
        except BaseException as error:
            if not is_panic(error):  # tantivy panics on files it cannot make sense of
                raise
            raise LexicalDamagedError(f"{_show(self._root, self.record.name)} failed to search ({error})") from error

    def _search(self, query: str, k: int, sources: Sequence[str] | None) -> list[LexicalHit]:
        if k <= 0 or not self.count():
            return []
        fields = {field: terms for field, terms in analyze_fields(query, self.config).items() if terms}
        if not fields:
            return []
        depth = max(k, self.params.candidates)
        words = self._field_query("words", fields["words"]) if "words" in fields else None
        grams = self._field_query("grams", fields["grams"]) if "grams" in fields else None
        scores: dict[str, dict[str, float]] = {"words": {}, "grams": {}}
        names: dict[tuple[int, int], str] = {}  # a chunk's id by its address: each stored id read once per search
        if words is not None:
            scores["words"] = self._scored(words, depth, sources, names)
        candidates = dict.fromkeys(scores["words"])
        if grams is not None:
            rare = self._rarest("grams", fields["grams"], self.params.rare_grams)
            candidates.update(dict.fromkeys(self._scored(self._field_query("grams", rare), depth, sources, names)))
            scores["grams"] = self._scored(self._restricted(grams, list(candidates)), len(candidates), None, names)
        missing = [chunk_id for chunk_id in candidates if chunk_id not in scores["words"]]
        if words is not None and missing:
            scores["words"].update(self._scored(self._restricted(words, missing), len(missing), None, names))
        fused = dict.fromkeys(candidates, 0.0)
        for field, field_scores in scores.items():
            best = max(field_scores.values(), default=0.0)
            if best <= 0:
                continue
            weight = 1.0 if field == "words" else self.params.grams_weight
            for chunk_id, score in field_scores.items():
                fused[chunk_id] += weight * score / best
        ranked = sorted(fused.items(), key=lambda pair: -pair[1])[:k]
        return [LexicalHit(chunk_id, score) for chunk_id, score in ranked if score > 0]

    def close(self) -> None:
        self._searcher = None
        self._index = None

    def _id(self, address: Any) -> str:
        return str(self._searcher.doc(address)["id"][0])

    def _scored(
        self, query: Any, depth: int, sources: Sequence[str] | None, names: dict[tuple[int, int], str]
    ) -> dict[str, float]:
        """The `depth` best chunks for `query` with their scores, only from `sources` when given.

        `names` caches ids by address within one search: the restricted queries return chunks whose
        ids the first two queries already read from the document store.
        """
        import tantivy

        if depth <= 0:
            return {}
        if sources:
            allowed = tantivy.Query.term_set_query(self._schema, "source", list(sources))
            query = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, tantivy.Query.const_score_query(allowed, 0.0)),
                    (tantivy.Occur.Must, query),
                ]
            )
        hits = self._searcher.search(query, depth, count=False).hits
        scored: dict[str, float] = {}
        for score, address in hits:
            key = (address.segment_ord, address.doc)
            name = names.get(key)
            if name is None:
                name = names[key] = self._id(address)
            scored[name] = float(score)
        return scored

    def _rarest(self, field: str, terms: Sequence[str], count: int) -> list[str]:
        """The query's terms restricted to its `count` rarest distinct ones (as often as they occur)."""
        distinct = sorted(set(terms), key=lambda term: (self._searcher.doc_freq(field, term), term))
        keep = set(distinct[:count])
        return [term for term in terms if term in keep]

    def _restricted(self, query: Any, ids: Sequence[str]) -> Any:
        """`query`, scored as usual, matching only the chunks `ids`."""
        import tantivy

        only = tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, tantivy.Query.term_query(self._schema, "id", i, index_option="basic")) for i in ids]
        )
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, tantivy.Query.const_score_query(only, 0.0)), (tantivy.Occur.Must, query)]
        )

    def _field_query(self, field: str, terms: Sequence[str]) -> Any:
        """BM25 summed over the query's terms; a term repeated in the question counts as often (as bm25s did).

        A repeated term is repeated as a clause, not boosted: a disjunction of plain term queries is
        what tantivy can evaluate with block-max WAND, skipping blocks that cannot reach the top k.
        """
        import tantivy

        clauses = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self._schema, field, term, index_option="freq"))
            for term in sorted(terms)
        ]
        return tantivy.Query.boolean_query(clauses)


def _schema() -> Any:
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("source", stored=False, tokenizer_name="raw", index_option="basic")
    for field in ("words", "grams"):
        builder.add_text_field(field, stored=False, tokenizer_name=_TOKENIZER, index_option="freq")
    return builder.build()


def _index(directory: Path, *, create: bool) -> Any:
    import tantivy

    if create:
        index = tantivy.Index(_schema(), path=str(directory), reuse=False)
    else:
        if not (directory / "meta.json").is_file():
            raise ValueError("meta.json is missing")
        index = tantivy.Index.open(str(directory))
    index.register_tokenizer(_TOKENIZER, tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.whitespace()).build())
    index.config_reader("manual")
    return index


def _document(document: LexicalDocument) -> Any:
    import tantivy

    words, _, grams = document.terms.partition("\t")
    return tantivy.Document(id=document.chunk_id, source=document.source, words=words, grams=grams)


def _show(root: Path, *parts: str) -> str:
    return "/".join([root.name, *parts])


def _fsync(directory: Path, names: Iterable[str], previous: dict[str, FileSum] | None) -> None:
    """Flush the files this generation wrote (linked files were flushed when their generation was)."""
    for name in names:
        if previous and name in previous and (directory / name).stat().st_ino == previous[name].inode:
            continue
        with open(directory / name, "rb") as handle:
            os.fsync(handle.fileno())


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
