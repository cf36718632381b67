"""Keeping the manifest's wire stories in line with its articles (run by ingest after each commit).

Signatures and stories are derived from the cleaned texts the manifest keeps, so they are recomputed
rather than repaired: an article without a signature (new, changed, or indexed before stories existed)
gets one, and the stories are regrouped from all signatures. An interrupted run leaves some articles
ungrouped until the next one; it never leaves a wrong group.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.catalog import Catalog
from ingest.wire import DEFAULT_PARAMS, WireParams, group_signature_bytes, signature

logger = logging.getLogger(__name__)

BATCH = 500


@dataclass(frozen=True, slots=True)
class StoriesUpdate:
    """What one refresh did."""

    signed: int
    """Articles that got a signature now."""
    grouped: int
    """Articles that share their story with at least one other."""
    stories: int
    """Stories with more than one article."""
    seconds: float


def sign_articles(catalog: Catalog, sources: Sequence[str], params: WireParams = DEFAULT_PARAMS) -> dict[str, bytes]:
    """Sign these indexed articles from the cleaned texts the manifest keeps, store the signatures, return them."""
    made = {source: signature(text, params).to_bytes() for source, text in catalog.texts(sources)}
    catalog.set_signatures(made.items(), params.version)
    return made


def refresh_stories(catalog: Catalog, params: WireParams = DEFAULT_PARAMS) -> StoriesUpdate:
    """Sign the articles that lack a signature, regroup every article into stories, store the groups."""
    started = time.monotonic()
    stored, lacking = catalog.signatures(params.version)
    for start in range(0, len(lacking), BATCH):
        stored.update(sign_articles(catalog, lacking[start : start + BATCH], params))
    groups = group_signature_bytes(stored, params)
    if groups != catalog.all_stories():
        catalog.set_stories(groups)
    update = StoriesUpdate(len(lacking), len(groups), len(set(groups.values())), time.monotonic() - started)
    logger.info("wire stories: %d articles signed, %d in %d stories", update.signed, update.grouped, update.stories)
    return update
