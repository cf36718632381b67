"""Wire stories: copies found through changed headlines, bylines, trims and respellings; look-alikes kept apart."""

from __future__ import annotations

import random

import pytest

from ingest.wire import Signature, containment, group_stories, same_story, shingle_text, signature
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


def test_short_texts_are_never_grouped() -> None:
    brief = "قتل ثلاثة أشخاص في انفجار."
    assert not same_story(signature(brief), signature(brief))
    assert group_stories({"a": signature(brief), "b": signature(brief)}) == {}


def test_signature_round_trip(stories: list[Story]) -> None:
    original = signature(render(stories[0].title, stories[0].paragraphs))
    again = Signature.from_bytes(original.to_bytes())
    assert again.size == original.size and (again.values == original.values).all()
    assert len(original.to_bytes()) == 4 + 4 * 128


@pytest.mark.skipif(not (EVAL_DIR / "arcd").is_dir(), reason="needs ../shared/eval (ARCD, XQuAD)")
def test_measured_set_precision_and_recall() -> None:
    """The set of docs/wire-stories.md (ARCD, XQuAD and the seeds with wire copies and roundups): both >= 0.95."""
    docs = measured_set(public_stories() + seed_stories())
    truth = {d.name: d.story for d in docs}
    copies = {story for story in truth.values() if list(truth.values()).count(story) > 1}
    predicted = group_stories({d.name: signature(d.text) for d in docs})
    precision, recall = pairwise_quality({n: s for n, s in truth.items() if s in copies}, predicted)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
