"""Pure fusion helpers: one article per wire story."""

from __future__ import annotations

from assistant.fusion import one_article_per_story


def test_one_article_per_wire_story() -> None:
    ranked = [("a1", "a.txt"), ("b1", "b.txt"), ("a2", "a.txt"), ("c1", "c.txt"), ("d1", "d.txt")]
    stories = {"a.txt": "s1", "b.txt": "s1", "c.txt": "s2", "d.txt": "s2"}
    kept, chosen = one_article_per_story(ranked, stories)
    assert kept == [("a1", "a.txt"), ("a2", "a.txt"), ("c1", "c.txt")]  # b and d are copies of a and c
    assert chosen == {"s1": "a.txt", "s2": "c.txt"}
    assert one_article_per_story(ranked, {})[0] == ranked
