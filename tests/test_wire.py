"""Wire stories: copies found through changed headlines, bylines, trims and respellings; look-alikes kept apart."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ingest.catalog import Catalog
from ingest.layout import IndexLayout
from ingest.settings import Settings
from ingest.sync import sync
from ingest.wire import (
    DEFAULT_PARAMS,
    Signature,
    containment,
    group_signature_bytes,
    group_stories,
    jaccard,
    same_story,
    shingle_hashes,
    shingle_text,
    shingles,
    signature,
)
from tests.news_corpus import (
    EDITS,
    EVAL_DIR,
    Story,
    measured_set,
    pairwise_quality,
    public_stories,
    render,
    seed_stories,
)
from tests.news_corpus import wire_copy as make_copy


@pytest.fixture(scope="module")
def stories() -> list[Story]:
    return seed_stories()


def vocabulary(stories: list[Story]) -> list[str]:
    return sorted({w for s in stories for p in s.paragraphs for w in p.split() if len(w) > 3})


def test_shingles_ignore_spelling_punctuation_and_spacing() -> None:
    assert shingle_text("«أعلنَ» التحالفُ، أمس:\n\nسقوط الباغوز!") == shingle_text('"اعلن" التحالف , امس - سقوط  الباغوز')


@pytest.mark.parametrize("edit", EDITS)
def test_each_realistic_edit_keeps_the_story(stories: list[Story], edit: str) -> None:
    rng = random.Random(7)
    for story in stories:
        original = signature(render(story.title, story.paragraphs))
        copied = signature(make_copy(story, rng, [edit], vocabulary(stories)))
        assert same_story(original, copied), (story.id, edit, containment(original, copied))


def test_all_edits_at_once_keep_the_story(stories: list[Story]) -> None:
    rng = random.Random(3)
    for story in stories:
        original = signature(render(story.title, story.paragraphs))
        copied = signature(make_copy(story, rng, EDITS, vocabulary(stories)))
        assert same_story(original, copied), (story.id, containment(original, copied))


def test_different_stories_on_one_subject_stay_apart(stories: list[Story]) -> None:
    """The five seeds are all about ISIS's audio messages and defeats in 2017-2019: none is a copy of another."""
    signatures = {s.id: signature(render(s.title, s.paragraphs)) for s in stories}
    assert group_stories(signatures) == {}


def test_a_shared_background_paragraph_is_not_a_copy(stories: list[Story]) -> None:
    first, second = stories[0], stories[1]
    borrowed = render("ملف", [*second.paragraphs, first.paragraphs[1]])
    assert not same_story(signature(render(first.title, first.paragraphs)), signature(borrowed))


def test_groups_are_connected_and_named_by_their_first_member(stories: list[Story]) -> None:
    rng = random.Random(1)
    story = stories[2]
    texts = {
        "c.txt": render(story.title, story.paragraphs),
        "a-copy.txt": make_copy(story, rng, ["headline", "byline"], vocabulary(stories)),
        "b-copy.txt": make_copy(story, rng, ["trim", "spelling"], vocabulary(stories)),
        "other.txt": render(stories[0].title, stories[0].paragraphs),
    }
    groups = group_stories({name: signature(text) for name, text in texts.items()})
    assert groups == {"a-copy.txt": "a-copy.txt", "b-copy.txt": "a-copy.txt", "c.txt": "a-copy.txt"}


def test_stored_signatures_group_as_decoded_ones(stories: list[Story]) -> None:
    """Ingest groups the manifest's signature bytes decoded all at once: the same stories as one by one,
    short texts left out alike."""
    rng = random.Random(4)
    words = vocabulary(stories)
    texts = {
        f"{n}-{k}.txt": make_copy(story, rng, ["headline", "trim"], words)
        for n, story in enumerate(stories)
        for k in range(3)
    }
    texts["brief-a.txt"] = texts["brief-b.txt"] = "قتل ثلاثة أشخاص في انفجار."
    signed = {name: signature(text) for name, text in texts.items()}
    expected = group_stories(signed)
    assert len(set(expected.values())) == len(stories) and "brief-a.txt" not in expected
    stored = {name: sig.to_bytes() for name, sig in signed.items()}
    assert group_signature_bytes(stored) == expected


def test_short_texts_are_never_grouped() -> None:
    brief = "قتل ثلاثة أشخاص في انفجار."
    assert not same_story(signature(brief), signature(brief))
    assert group_stories({"a": signature(brief), "b": signature(brief)}) == {}


def test_signature_round_trip(stories: list[Story]) -> None:
    original = signature(render(stories[0].title, stories[0].paragraphs))
    again = Signature.from_bytes(original.to_bytes())
    assert again.size == original.size and (again.values == original.values).all()
    assert len(original.to_bytes()) == 4 + 4 * 128


def test_signature_counts_distinct_shingles_and_is_fixed(stories: list[Story]) -> None:
    text = render(stories[1].title, stories[1].paragraphs)
    assert len(shingle_hashes(text)) == len(shingles(text)) > 1000
    first, second = signature(text), signature(text)
    assert first.size == len(shingles(text)) and (first.values == second.values).all()
    assert first.size <= signature(text + " " + text).size <= first.size + 6  # only the windows across the join
    assert DEFAULT_PARAMS.version.startswith("minhash-np1/")  # signatures of the datasketch era are redone


def test_empty_and_tiny_texts() -> None:
    empty = signature("  ،،  ")
    assert empty.size == 0 and (empty.values == 2**32 - 1).all()
    assert signature("قتل").size == 1 and signature("قتل").values.max() < 2**32 - 1
    assert jaccard(signature("قتل"), signature("قتل")) == 1.0 and jaccard(signature("قتل"), signature("جرح")) < 0.1


def test_estimated_jaccard_is_unbiased(stories: list[Story]) -> None:
    """200 pairs of texts with a known shingle Jaccard: the estimates centre on it with MinHash's spread."""
    rng = random.Random(5)
    words = [w for s in stories for p in s.paragraphs for w in p.split()]
    errors = []
    for _ in range(200):
        start = rng.randrange(len(words) - 800)
        base = words[start : start + rng.randrange(100, 600)]
        rate = rng.random() * 0.5
        other = [rng.choice(words) if rng.random() < rate else w for w in base]
        left, right = " ".join(base), " ".join(other)
        a, b = shingles(left), shingles(right)
        errors.append(jaccard(signature(left), signature(right)) - len(a & b) / len(a | b))
    assert abs(float(np.mean(errors))) < 0.01
    assert 0.02 < float(np.std(errors)) < 0.06  # about sqrt(J (1 - J) / 128)


@pytest.mark.skipif(not (EVAL_DIR / "arcd").is_dir(), reason="needs ../shared/eval (ARCD, XQuAD)")
def test_measured_set_precision_and_recall() -> None:
    """The set of docs/wire-stories.md (ARCD, XQuAD and the seeds with wire copies and roundups): both >= 0.95."""
    docs = measured_set(public_stories() + seed_stories())
    truth = {d.name: d.story for d in docs}
    copies = {story for story in truth.values() if list(truth.values()).count(story) > 1}
    predicted = group_stories({d.name: signature(d.text) for d in docs})
    precision, recall = pairwise_quality({n: s for n, s in truth.items() if s in copies}, predicted)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_an_index_signed_by_an_older_version_is_re_signed_by_the_next_ingest(
    make_settings: Callable[..., Settings], docs: Path
) -> None:
    """Upgrading: signatures recorded under another version string are recomputed, and the stories follow."""
    seed = sorted(docs.iterdir())[2]
    (docs / "copy.txt").write_text("القاهرة (أ ف ب) - " + seed.read_text(encoding="utf-8"), encoding="utf-8")
    settings = make_settings()
    sync(settings)
    manifest = IndexLayout(settings.index_dir).manifest
    with sqlite3.connect(manifest) as db:
        db.execute("UPDATE signatures SET version = 'minhash/7/128/1', data = zeroblob(516)")
        db.execute("DELETE FROM stories")
    assert Catalog(manifest, readonly=True).lacks_signatures(DEFAULT_PARAMS.version)
    sync(settings)  # nothing changed on disk
    catalog = Catalog(manifest, readonly=True)
    stored, lacking = catalog.signatures(DEFAULT_PARAMS.version)
    assert not lacking and len(stored) == 6
    assert not catalog.lacks_signatures(DEFAULT_PARAMS.version)
    assert catalog.stories(stored) == {"copy.txt": seed.name, seed.name: seed.name}  # named by the first, sorted


def test_a_book_length_text_is_signed_in_blocks_alike(stories: list[Story], monkeypatch: pytest.MonkeyPatch) -> None:
    import ingest.wire as wire

    text = render(stories[1].title, stories[1].paragraphs) + "\ud800"  # a lone surrogate, as a bad decoder leaves
    whole = signature(text)
    monkeypatch.setattr(wire, "_BLOCK", 97)  # many blocks, the last one short
    blocked = signature(text)
    assert blocked.size == whole.size and (blocked.values == whole.values).all()
