"""Ingest end to end on real Chroma, the real BM25 index and a tiny local sentence-transformer."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from assistant.cli import main
from ingest import passage_vectors
from ingest.catalog import Catalog
from ingest.declarations import SettingError
from ingest.embedding import EmbeddingUnavailableError, ModelMismatchError, SentenceTransformerEmbedder
from ingest.layout import MANIFEST
from ingest.scanning import RACY_NS
from ingest.settings import Settings
from ingest.status import index_status
from ingest.sync import EmptyFolderError, sync
from tests.index_checks import IndexContents, assert_in_sync

SEED = "000_568e6625231925c3.txt"
NEW_ARTICLE = (
    "عنوان: معركة جديدة في الصحراء\n"
    "قالت مصادر محلية إن اشتباكات عنيفة اندلعت قرب الحدود. وأضافت المصادر أن القوات تقدمت ببطء.\n"
    "ولم تعلن أي جهة مسؤوليتها عن الهجوم حتى الآن.\n"
)

SettingsFactory = Callable[..., Settings]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file's bytes under `directory`, except the lock file."""
    return {
        p.relative_to(directory).as_posix(): p.read_bytes()
        for p in directory.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


def test_ingest_seeds_builds_manifest_chroma_and_lexical(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    report = sync(settings)
    assert sorted(report.added) == sorted(p.name for p in docs.glob("*.txt"))
    assert (report.updated, report.removed, report.unchanged, report.skipped) == ((), (), (), ())
    assert report.dense and report.embedded == report.chunks > 5
    contents = assert_in_sync(settings.index_dir, docs)
    assert len(contents.files) == 5
    status = index_status(settings)
    assert (status.documents, status.chunks, status.dense, status.lexical) == (5, report.chunks, True, True)
    assert status.model == settings.embedding_model


def test_add_modify_delete_rename_are_mirrored_exactly(
    make_settings: SettingsFactory, docs: Path, contents: Callable[[Settings], IndexContents]
) -> None:
    settings = make_settings()
    sync(settings)
    before = contents(settings)
    names = sorted(p.name for p in docs.glob("*.txt"))
    modified, deleted, renamed, untouched = names[1], names[2], names[3], names[4]

    (docs / "new.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    text = (docs / modified).read_text(encoding="utf-8")
    (docs / modified).write_text(text + "\nفقرة جديدة أضيفت إلى المقال بعد نشره.\n", encoding="utf-8")
    (docs / deleted).unlink()
    (docs / renamed).rename(docs / "renamed.txt")

    report = sync(settings)
    assert report.added == ("new.txt", "renamed.txt")
    assert report.updated == (modified,)
    assert report.removed == (deleted, renamed)
    assert set(report.unchanged) == {names[0], untouched}
    after = assert_in_sync(settings.index_dir, docs)
    assert deleted not in after.files and renamed not in after.files
    # unchanged files keep their chunks; the renamed file's vectors are reused, not recomputed
    kept = {i for i, s in before.chunk_sources.items() if s in (names[0], untouched)}
    assert kept <= after.manifest_chunks
    renamed_chunks = sum(1 for s in after.chunk_sources.values() if s == "renamed.txt")
    assert report.reused >= renamed_chunks > 0
    new_chunks = sum(1 for s in after.chunk_sources.values() if s in ("new.txt", modified, "renamed.txt"))
    assert report.embedded + report.reused + report.kept == new_chunks
    assert report.kept > 0  # the appended paragraph leaves the modified file's earlier chunks as they were
    assert after.generation == before.generation + 1


def test_unchanged_reingest_writes_nothing(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    sync(settings)
    # files written within 2 s of being hashed are hashed again by the next ingest, which then records them
    time.sleep(max(0.0, RACY_NS / 1e9 - (time.time() - max(p.stat().st_ctime for p in docs.iterdir()))) + 0.1)
    assert sync(settings).embedded == 0
    before = snapshot(settings.index_dir)
    report = sync(settings)
    assert len(report.unchanged) == 5
    assert (report.added, report.updated, report.removed, report.embedded) == ((), (), (), 0)
    assert snapshot(settings.index_dir) == before


def test_index_built_with_another_model_is_refused_until_rebuild(
    make_settings: SettingsFactory, docs: Path, tiny_model: Path, other_tiny_model: Path
) -> None:
    sync(make_settings())
    other = make_settings(embedding_model=str(other_tiny_model))
    before = snapshot(other.index_dir)
    with pytest.raises(ModelMismatchError) as error:
        sync(other)
    message = str(error.value)
    assert str(tiny_model) in message and str(other_tiny_model) in message and "--rebuild" in message
    assert snapshot(other.index_dir) == before
    report = sync(other, rebuild=True)
    assert len(report.added) == 5 and report.model == str(other_tiny_model)
    assert_in_sync(other.index_dir, docs)


def test_a_rebuild_that_cannot_start_deletes_nothing(
    make_settings: SettingsFactory, docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--rebuild checks the model and the field spec first: a rebuild that would fail leaves the index whole."""
    settings = make_settings()
    sync(settings)
    before = snapshot(settings.index_dir)
    missing = make_settings(embedding_model=str(tmp_path / "no-such-model"))
    with pytest.raises(EmbeddingUnavailableError, match="stopped before deleting anything: the index is as it was"):
        sync(missing, rebuild=True)
    assert snapshot(settings.index_dir) == before
    with pytest.raises(SettingError, match=r"names text twice.*stopped before deleting anything"):
        sync(make_settings(fields="text=body,text=content"), rebuild=True)
    assert snapshot(settings.index_dir) == before
    gone = str(tmp_path / "gone")
    code = main(["ingest", str(docs), "--index", str(settings.index_dir), "--model", gone, "--rebuild"])
    assert code != 0 and "stopped before deleting anything" in capsys.readouterr().err
    assert snapshot(settings.index_dir) == before
    assert_in_sync(settings.index_dir, docs)
    assert len(sync(settings, rebuild=True).added) == 5


def test_an_emptied_folder_removes_nothing(
    make_settings: SettingsFactory, docs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A documents folder with no file left (an unmounted disk) stops the ingest; removing some files does not."""
    settings = make_settings()
    sync(settings)
    before = snapshot(settings.index_dir)
    away = tmp_path / "away"
    shutil.move(docs, away)
    docs.mkdir()
    (docs / ".hidden").write_text("x", encoding="utf-8")  # hidden files are not documents
    with pytest.raises(EmptyFolderError, match=r"holds no files, but 5 indexed documents came from it.*--allow-empty"):
        sync(settings)
    assert snapshot(settings.index_dir) == before
    assert main(["ingest", str(docs), "--index", str(settings.index_dir), "--model", settings.embedding_model]) == 1
    assert "nothing was removed" in capsys.readouterr().err
    assert snapshot(settings.index_dir) == before
    one = sorted(away.iterdir())[0]
    shutil.copy(one, docs / one.name)
    report = sync(settings)  # one file back: the other four are removed as an ordinary change
    assert len(report.removed) == 4 and report.unchanged == (one.name,)
    (docs / one.name).unlink()
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n")  # a file, though not a document: the folder is not empty
    assert sync(settings).removed == (one.name,)
    assert_in_sync(settings.index_dir, docs)


def test_bad_files_are_skipped_with_reasons_and_good_ones_indexed(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    sync(settings)
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(b"\x00\x01\x02\x03" * 100)
    (docs / "windows.txt").write_bytes("مقال بترميز ويندوز".encode("cp1256"))
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n")
    (docs / "report.docx").write_bytes(b"PK\x03\x04")
    (docs / "sub").mkdir()
    (docs / "sub" / "page.html").write_text(f"<html><body><p>{NEW_ARTICLE}</p><script>x()</script></body></html>")
    (docs / ".hidden.txt").write_text("ignored")
    report = sync(settings)
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {"empty.txt", "binary.txt", "windows.txt", "photo.png", "report.docx"}
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "UTF-8" in reasons["windows.txt"]
    assert "unsupported file type .png" in reasons["photo.png"]
    assert "unreadable Word file" in reasons["report.docx"]
    assert report.added == ("sub/page.html",)
    unreadable = frozenset({"empty.txt", "binary.txt", "windows.txt", "report.docx"})
    assert_in_sync(settings.index_dir, docs, unreadable=unreadable)


def test_a_file_that_becomes_unreadable_leaves_the_index(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    sync(settings)
    (docs / SEED).write_bytes(b"\xff\xfe\x00garbage")
    report = sync(settings)
    assert report.removed == (SEED,)
    assert [s.path for s in report.skipped] == [SEED]
    assert_in_sync(settings.index_dir, docs, unreadable=frozenset({SEED}))


def test_same_content_under_two_names_is_indexed_once(make_settings: SettingsFactory, docs: Path) -> None:
    settings = make_settings()
    shutil.copy(docs / SEED, docs / "copy.txt")
    report = sync(settings)
    assert [(d.path, d.duplicate_of) for d in report.duplicates] == [("copy.txt", SEED)]
    assert "copy.txt" not in report.added
    contents = assert_in_sync(settings.index_dir, docs)
    assert contents.duplicates == {"copy.txt": SEED}
    assert "copy.txt" not in contents.chunk_sources.values()

    (docs / SEED).unlink()  # the copy takes over
    report = sync(settings)
    assert report.removed == (SEED,) and report.added == ("copy.txt",) and report.duplicates == ()
    assert report.reused > 0
    contents = assert_in_sync(settings.index_dir, docs)
    assert "copy.txt" in contents.files


def test_without_a_model_the_lexical_index_is_built_and_dense_added_later(
    make_settings: SettingsFactory, docs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    model_dir = tmp_path / "model-not-there-yet"
    settings = make_settings(embedding_model=str(model_dir))
    report = sync(settings)
    assert not report.dense and len(report.added) == 5 and report.embedded == 0
    assert any("ASSISTANT_EMBEDDING_MODEL" in w for w in report.warnings)
    contents = assert_in_sync(settings.index_dir, docs, dense=False)
    assert contents.dense_ids == set() and contents.lexical_ids
    assert index_status(settings).dense is False

    assert sync(settings).embedded == 0  # still no model: nothing changes

    shutil.copytree(tiny_model, model_dir)  # the model becomes available
    report = sync(settings)
    assert report.dense and report.embedded == report.chunks
    assert len(report.updated) == 5  # re-chunked with the model's own tokenizer
    assert_in_sync(settings.index_dir, docs)
    assert index_status(settings).dense is True


def test_ingest_given_paths_only_touches_those(make_settings: SettingsFactory, docs: Path, tmp_path: Path) -> None:
    settings = make_settings()
    sync(settings)
    extra = tmp_path / "elsewhere"
    extra.mkdir()
    (extra / "outside.txt").write_text(NEW_ARTICLE, encoding="utf-8")
    report = sync(settings, [extra])
    assert report.added == ("outside.txt",) and report.removed == ()
    assert index_status(settings).documents == 6
    (extra / "outside.txt").unlink()
    with pytest.raises(EmptyFolderError, match="--allow-empty"):
        sync(settings, [extra])  # its only document gone, and no file left: refused unless allowed
    index, model = str(settings.index_dir), settings.embedding_model
    assert main(["ingest", str(extra), "--index", index, "--model", model, "--allow-empty"]) == 0
    assert index_status(settings).documents == 5
    assert_in_sync(settings.index_dir, docs)


def test_cli_ingest_and_status_json(
    make_settings: SettingsFactory, docs: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = make_settings()
    args = ["--index", str(settings.index_dir), "--model", str(tiny_model), "--json"]
    assert main(["ingest", str(docs), *args]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("added", "updated", "removed", "unchanged", "skipped", "duplicates", "chunks"):
        assert key in report
    assert len(report["added"]) == 5 and report["chunks"] > 0

    assert main(["status", "--index", str(settings.index_dir), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {k: status[k] for k in ("documents", "chunks", "model", "dense", "lexical")} == {
        "documents": 5,
        "chunks": report["chunks"],
        "model": str(tiny_model),
        "dense": True,
        "lexical": True,
    }
    assert status["updated_at"]

    assert main(["ingest", str(docs), "--index", str(settings.index_dir), "--model", str(tiny_model)]) == 0
    assert "0 added, 0 updated, 0 removed, 5 unchanged" in capsys.readouterr().out


def test_cli_errors_are_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path / "missing"), "--index", str(tmp_path / "i")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: ") and "does not exist" in err and "Traceback" not in err


def test_lexical_rebuild_reuses_stored_terms_and_repairs_missing_ones(
    make_settings: SettingsFactory, docs: Path
) -> None:
    import sqlite3

    from ingest.analysis import ANALYZER_VERSION
    from ingest.layout import MANIFEST, IndexLayout, read_state

    settings = make_settings()
    sync(settings)
    manifest = settings.index_dir / MANIFEST
    with sqlite3.connect(manifest) as db:
        assert db.execute("SELECT COUNT(*) FROM chunks WHERE terms IS NULL").fetchone()[0] == 0
        assert db.execute("SELECT value FROM meta WHERE key = 'terms_version'").fetchone()[0] == ANALYZER_VERSION
        db.execute("UPDATE chunks SET terms = NULL")  # as a manifest written before terms were kept
        db.execute("DELETE FROM meta WHERE key = 'terms_version'")
    layout = IndexLayout(settings.index_dir)
    state = read_state(layout)
    assert state is not None
    shutil.rmtree(layout.lexical / state.lexical)
    report = sync(settings)
    assert len(report.unchanged) == 5 and report.embedded == 0
    assert report.repairs == ("lexical index rebuilt from the manifest",)
    assert_in_sync(settings.index_dir, docs)
    with sqlite3.connect(manifest) as db:
        assert db.execute("SELECT COUNT(*) FROM chunks WHERE terms IS NULL").fetchone()[0] == 0


def test_the_scan_reads_the_files_index_not_the_article_texts(make_settings: Callable[..., Settings]) -> None:
    """file_table is answered from an index: the rows themselves hold every article's text."""
    import sqlite3

    from ingest.layout import IndexLayout

    settings = make_settings()
    sync(settings)
    query = (
        "SELECT source, origin, hash, size, duplicate_of, title, chunker, mtime_ns, ctime_ns, inode, hashed_at_ns "
        "FROM files"
    )
    with sqlite3.connect(IndexLayout(settings.index_dir).manifest) as db:
        plan = " ".join(str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + query))
    assert "COVERING INDEX files_table" in plan


class _SentenceCounter:
    """The real embedder, recording the texts `embed_documents` is asked for (the chunks' own vectors
    come through `embed_documents_and_terms`, so these are the sentences)."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self._inner = inner
        self.texts: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def embed_documents(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.texts.extend(texts)
        return self._inner.embed_documents(texts, batch_size)


def _sentences(settings: Settings, source: str) -> dict[str, dict[str, np.ndarray]]:
    """Each chunk's sentence vectors of `source`, by chunk text then sentence text, as the manifest keeps them."""
    catalog = Catalog(settings.index_dir / MANIFEST, readonly=True)
    try:
        chunks = list(catalog.chunks(catalog.chunk_ids([source])))
        rows = catalog.vectors([c.id for c in chunks])
    finally:
        catalog.close()
    found: dict[str, dict[str, np.ndarray]] = {}
    for chunk in chunks:
        passage = passage_vectors.decode(rows[chunk.id])
        found[chunk.text] = {chunk.text[s:e]: v for (s, e), v in zip(passage.spans, passage.sentences, strict=True)}
    return found


def test_an_edited_article_embeds_only_its_new_sentences(
    make_settings: Callable[..., Settings], docs: Path, tmp_path: Path, tiny_model: Path
) -> None:
    """A paragraph added to an article and a word corrected in it: its changed chunks are embedded again,
    but each sentence they share with the chunks they replace keeps its vector (read from the manifest),
    and the passage rows equal those of an index built from the edited article alone."""
    settings = make_settings()
    sync(settings)
    article = sorted(docs.glob("*.txt"))[1]
    text = article.read_text(encoding="utf-8")
    first_space = text.index(" ", len(text) // 3)
    edited = text[:first_space] + " (مصحح)" + text[first_space:]
    edited += "\n\nأضيفت هذه الفقرة إلى الخبر بعد نشره بساعة. وفيها جملة ثانية عن التحديث الأخير.\n"
    article.write_text(edited, encoding="utf-8")
    counter = _SentenceCounter(SentenceTransformerEmbedder(str(tiny_model)))
    report = sync(settings, embedder_factory=lambda _s: counter)  # type: ignore[arg-type,return-value]
    assert report.updated == (article.name,) and report.embedded > 0
    assert report.sentences_reused > 0
    assert counter.texts, "the new sentences are embedded"
    assert all(sentence not in text for sentence in counter.texts)  # none the article had before
    after = _sentences(settings, article.name)
    new_sentences = {s for sentences in after.values() for s in sentences}
    assert len(set(counter.texts)) + report.sentences_reused <= len(new_sentences)

    fresh = make_settings(index_dir=tmp_path / "fresh")
    assert sync(fresh).sentences_reused == 0  # a first ingest has nothing to take from
    built = _sentences(fresh, article.name)
    assert built.keys() == after.keys()
    for chunk_text, sentences in after.items():
        assert sentences.keys() == built[chunk_text].keys()
        for sentence, vector in sentences.items():
            assert float(vector @ built[chunk_text][sentence]) > 0.999, sentence


def test_a_rewritten_article_takes_no_sentence_vectors(make_settings: Callable[..., Settings], docs: Path) -> None:
    settings = make_settings()
    sync(settings)
    (docs / sorted(p.name for p in docs.glob("*.txt"))[0]).write_text(
        "خبر جديد كليا لا يشارك الخبر القديم أي جملة. وهذه جملة ثانية منه.\n", encoding="utf-8"
    )
    report = sync(settings)
    assert len(report.updated) == 1 and report.embedded > 0
    assert report.sentences_reused == 0


@pytest.mark.parametrize("damage", ["chroma removed", "chroma emptied"])
def test_another_model_is_refused_while_the_vectors_are_repaired(
    make_settings: SettingsFactory, tiny_model: Path, other_tiny_model: Path, damage: str
) -> None:
    """With Chroma's files lost, the manifest still holds the first model's vectors and ingest restores them:
    a second model configured then would mix two models' vectors under the new one's name. It is refused,
    nothing changes, and both ways out work (the same model repairs; --rebuild re-embeds)."""
    sync(make_settings())
    other = make_settings(embedding_model=str(other_tiny_model))
    chroma = other.index_dir / "chroma"
    if damage == "chroma removed":
        shutil.rmtree(chroma)
    else:
        for path in chroma.rglob("*"):
            if path.is_file():
                path.write_bytes(b"")
    with pytest.raises(ModelMismatchError) as error:
        sync(other)
    assert str(tiny_model) in str(error.value) and "--rebuild" in str(error.value)
    repaired = sync(make_settings())
    assert repaired.repairs and repaired.model == str(tiny_model) and repaired.embedded == 0
    rebuilt = sync(other, rebuild=True)
    assert rebuilt.model == str(other_tiny_model) and rebuilt.embedded == rebuilt.chunks
