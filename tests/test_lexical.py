"""The lexical engine on real tantivy: ranking against a reference BM25, incremental generations, filters, checks."""

from __future__ import annotations

import itertools
import math
import os
from collections import Counter
from pathlib import Path

import pytest

from ingest.checksums import changed_files
from ingest.chunking import ChunkerSettings, chunk_article
from ingest.cleaning import clean_text
from ingest.embedding import approximate_token_count
from ingest.lexical import FIELDS, LexicalChange, LexicalDocument, analyze_fields, decode_terms, encode_terms
from ingest.records import Article, Chunk
from ingest.tantivy_lexical import (
    GenerationRecord,
    TantivyLexicalIndex,
    check_generation,
    read_record,
    remove_generations,
    settle_links,
    write_generation,
)
from tests.conftest import SEEDS
from tests.index_checks import files_hashed

QUESTIONS = [
    "ما مدة الرسالة الصوتية الجديدة للبغدادي؟",
    "ماذا حدث في تفجير منبج؟",
    "كم عدد مقاتلي داعش بحسب تقديرات الأمم المتحدة؟",
    "بماذا هدد المهاجر نيوزيلندا؟",
    "معركة الباغوز",
    "أبو بكر البغدادي",
]


@pytest.fixture(scope="module")
def seed_chunks() -> list[Chunk]:
    """The seed articles chunked as ingest does without a model."""
    chunks: list[Chunk] = []
    settings = ChunkerSettings(max_tokens=200, overlap_sentences=1, tokenizer="approx")
    for path in sorted(SEEDS.glob("*.txt")):
        text = clean_text(path.read_text(encoding="utf-8"))
        article = Article(path.name, path.stem, text, "")
        chunks.extend(chunk_article(article, settings, lambda texts: [approximate_token_count(t) for t in texts]))
    return chunks


def documents(chunks: list[Chunk]) -> list[LexicalDocument]:
    return [LexicalDocument(c.id, c.source, encode_terms(analyze_fields(c.text))) for c in chunks]


def reference_ranking(chunks: list[Chunk], question: str, k: int) -> list[tuple[str, float]]:
    """Exhaustive BM25 (Lucene IDF, k1=1.2, b=0.75) of both fields, each divided by its best score, summed."""
    fields = [decode_terms(encode_terms(analyze_fields(c.text))) for c in chunks]
    query = analyze_fields(question)
    total = [0.0] * len(chunks)
    for field in FIELDS:
        lengths = [len(f.get(field, [])) for f in fields]
        average = sum(lengths) / len(lengths)
        counts = [Counter(f.get(field, [])) for f in fields]
        scores = []
        for count, length in zip(counts, lengths, strict=True):
            score = 0.0
            for term in query.get(field, []):
                frequency = sum(1 for c in counts if term in c)
                tf = count.get(term, 0)
                if tf:
                    idf = math.log(1 + (len(chunks) - frequency + 0.5) / (frequency + 0.5))
                    score += idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * length / average))
            scores.append(score)
        best = max(scores)
        if best > 0:
            total = [t + s / best for t, s in zip(total, scores, strict=True)]
    order = sorted(range(len(chunks)), key=lambda i: -total[i])
    return [(chunks[i].id, total[i]) for i in order[:k] if total[i] > 0]


def test_ranking_matches_an_exhaustive_reference_bm25(tmp_path: Path, seed_chunks: list[Chunk]) -> None:
    record = write_generation(tmp_path, 1, documents=documents(seed_chunks))
    index = TantivyLexicalIndex.open(tmp_path, record)
    for question in QUESTIONS:
        ours = [hit.chunk_id for hit in index.search(question, 5)]
        reference = dict(reference_ranking(seed_chunks, question, 6))
        assert set(ours) <= set(reference), question
        # tantivy stores field lengths in one byte (Lucene's encoding): only near ties may come out swapped
        for higher, lower in itertools.pairwise(ours):
            assert reference[higher] >= reference[lower] * 0.99, question


def test_a_change_is_applied_in_a_new_generation_and_the_old_one_stays_intact(
    tmp_path: Path, seed_chunks: list[Chunk]
) -> None:
    first = write_generation(tmp_path, 1, documents=documents(seed_chunks[:-3]))
    quake = Chunk("quake", "new.txt", "زلزال", 0, 0, 47, "ضرب زلزال مدمر جزيرة هوكايدو في اليابان صباح اليوم.")
    removed = [c for c in seed_chunks[:-3] if c.source == "002_f008f8df6c8a9b3c.txt"]
    change = LexicalChange(tuple(documents([quake, *seed_chunks[-3:]])), tuple(c.id for c in removed))
    second = write_generation(tmp_path, 2, base=first, change=change)

    old, new = TantivyLexicalIndex.open(tmp_path, first), TantivyLexicalIndex.open(tmp_path, second)
    assert new.count() == old.count() + 4 - len(removed) and old.count() == len(seed_chunks) - 3
    assert set(new.ids()) == {c.id for c in seed_chunks if c not in removed} | {"quake"}
    assert [hit.chunk_id for hit in new.search("زلزال في اليابان", 1)] == ["quake"]
    assert old.search("زلزال في اليابان", 3) == []  # the earlier generation never sees it
    assert not {h.chunk_id for h in new.search("الباغوز", 10)} & {c.id for c in removed}
    assert check_generation(tmp_path, first, deep=True) == []  # its files were linked, never rewritten
    segments = {name for name in set(first.files) & set(second.files) if not name.endswith(".json")}
    assert segments and all(first.files[name].inode == second.files[name].inode for name in segments)


def linked_generations(root: Path, chunks: list[Chunk]) -> tuple[GenerationRecord, GenerationRecord]:
    """A generation, and the next one written from it (its segments linked), with the first one removed."""
    first = write_generation(root, 1, documents=documents(chunks[:-3]))
    second = write_generation(root, 2, base=first, change=LexicalChange(tuple(documents(chunks[-3:])), ()))
    remove_generations(root, keep={second.name})
    return first, second


def test_removing_the_earlier_generation_settles_the_later_ones_record(
    tmp_path: Path, seed_chunks: list[Chunk], monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = linked_generations(tmp_path, seed_chunks)
    linked = [
        name for name in set(first.files) & set(second.files) if first.files[name].inode == second.files[name].inode
    ]
    assert linked and set(changed_files(tmp_path / second.name, second.files)) >= set(linked)  # unlinking changed them

    settled = settle_links(tmp_path, second)
    assert changed_files(tmp_path / second.name, settled.files) == []
    assert {n: s.sha256 for n, s in settled.files.items()} == {n: s.sha256 for n, s in second.files.items()}
    assert read_record(tmp_path, second.name) == settled  # written to its checksums.json
    hashed = files_hashed(monkeypatch)
    assert check_generation(tmp_path, settled) == [] and hashed == []  # a quick check hashes nothing now
    assert settle_links(tmp_path, settled) is settled


def test_a_record_that_cannot_be_rewritten_stays_as_it_was(
    tmp_path: Path, seed_chunks: list[Chunk], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.tantivy_lexical

    _, second = linked_generations(tmp_path, seed_chunks)

    def full_disk(path: Path, data: str | bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ingest.tantivy_lexical, "write_atomic", full_disk)
    assert settle_links(tmp_path, second) is second
    assert read_record(tmp_path, second.name) == second and check_generation(tmp_path, second) == []  # still true


def test_a_settled_file_rewritten_in_place_is_found(tmp_path: Path, seed_chunks: list[Chunk]) -> None:
    _, second = linked_generations(tmp_path, seed_chunks)
    settled = settle_links(tmp_path, second)
    victim = max((n for n in settled.files if n.endswith(".idx")), key=lambda n: settled.files[n].size)
    path = tmp_path / second.name / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    stat = path.stat()
    with open(path, "r+b") as handle:  # same size, same inode, its modification time set back: the change time moves
        handle.write(data)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    problems = check_generation(tmp_path, settled)
    assert len(problems) == 1 and victim in problems[0] and "checksum" in problems[0]


def test_source_filter_is_given_by_name(tmp_path: Path, seed_chunks: list[Chunk]) -> None:
    index = TantivyLexicalIndex.open(tmp_path, write_generation(tmp_path, 1, documents=documents(seed_chunks)))
    hits = index.search("داعش البغدادي", 10, sources=["002_f008f8df6c8a9b3c.txt", "003_0262f053a42b4a37.txt"])
    by_id = {c.id: c.source for c in seed_chunks}
    assert hits and {by_id[h.chunk_id] for h in hits} <= {"002_f008f8df6c8a9b3c.txt", "003_0262f053a42b4a37.txt"}
    assert index.search("داعش", 5, sources=["not-indexed.txt"]) == []


def test_the_index_is_memory_mapped(tmp_path: Path, seed_chunks: list[Chunk]) -> None:
    record = write_generation(tmp_path, 1, documents=documents(seed_chunks))
    index = TantivyLexicalIndex.open(tmp_path, record)
    assert index.search("منبج", 1)
    maps = Path(f"/proc/{os.getpid()}/maps").read_text()
    mapped = {name for name in record.files if str(tmp_path / record.name / name) in maps}
    assert any(name.endswith(".idx") for name in mapped) and any(name.endswith(".term") for name in mapped)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "delete"])
def test_damaged_files_are_found(tmp_path: Path, seed_chunks: list[Chunk], damage: str) -> None:
    record = write_generation(tmp_path, 1, documents=documents(seed_chunks))
    assert read_record(tmp_path, record.name) == record
    name = max(record.files, key=lambda n: record.files[n].size)
    path = tmp_path / record.name / name
    if damage == "truncate":
        os.truncate(path, path.stat().st_size // 2)
    elif damage == "delete":
        path.unlink()
    else:
        with open(path, "r+b") as handle:
            handle.seek(path.stat().st_size // 3)
            handle.write(b"\xff" * 16)
    problems = check_generation(tmp_path, record)
    assert len(problems) == 1 and name in problems[0]
