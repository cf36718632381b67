"""The chat's index writer: ingests requested by uploads and re-index clicks, run one at a time in the background.

A request made while the index is busy (another `assistant ingest`, or this writer's own run) is queued,
not refused: the writer waits for the lock and runs an ingest as soon as it is free. Requests that arrive
while one waits or runs are folded into the next run, which scans the folder afresh, so every file saved
before a request is indexed by the run that answers it.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from ingest.embedding import Embedder
from ingest.factories import load_embedder
from ingest.files import IndexBusyError, IndexLock, lock_holder
from ingest.reports import SyncReport
from ingest.settings import Settings
from ingest.sync import sync

logger = logging.getLogger(__name__)

Phase = Literal["idle", "queued", "indexing"]
RETRY_SECONDS = 0.5
"""How often a queued request checks whether the index lock is free."""


@dataclass(frozen=True, slots=True)
class WriterState:
    """What the writer is doing now."""

    phase: Phase
    """idle; queued: another ingest holds the index, ours runs when it finishes; indexing."""
    pending: int
    """Requests not yet answered by a finished run."""
    waiting_for: int | None = None
    """The process holding the index while queued, when known."""


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """How the run that answered a request ended: its report, or the error that stopped it."""

    ticket: int
    """The last request this run covered."""
    report: SyncReport | None
    error: Exception | None


class IndexWriter:
    """Runs `sync()` of one documents folder into one index, in a background thread started on demand."""

    def __init__(
        self,
        settings: Settings,
        embedder_factory: Callable[[Settings], Embedder] = load_embedder,
        *,
        retry_seconds: float = RETRY_SECONDS,
    ) -> None:
        self.settings = settings
        self._embedder_factory = embedder_factory
        self._retry = retry_seconds
        self._cond = threading.Condition()
        self._requested = 0
        self._done = 0
        self._phase: Phase = "idle"
        self._waiting_for: int | None = None
        self._outcomes: collections.deque[IngestOutcome] = collections.deque(maxlen=64)
        self._thread: threading.Thread | None = None
        self._closed = False

    def request(self) -> int:
        """Ask for an ingest of the documents folder; returns a ticket to `wait()` on."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the index writer is closed")
            self._requested += 1
            ticket = self._requested
            if self._thread is None:
                self._phase = "queued" if self._busy() else "indexing"
                self._thread = threading.Thread(target=self._work, name="index-writer", daemon=True)
                self._thread.start()
            return ticket

    def state(self) -> WriterState:
        """The current phase and how many requests are not answered yet."""
        with self._cond:
            return WriterState(self._phase, self._requested - self._done, self._waiting_for)

    def wait(self, ticket: int, timeout: float | None = None) -> IngestOutcome | None:
        """The outcome of the run that answered `ticket`, or None if it has not finished within `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._done < ticket and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._done < ticket:
                return None
            return next((o for o in self._outcomes if o.ticket >= ticket), self._outcomes[-1])

    def close(self) -> None:
        """Stop after the run in progress (if any); requests not yet run are dropped (the next ingest does them)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _work(self) -> None:
        try:
            while True:
                with self._cond:
                    if self._closed or self._done >= self._requested:
                        return
                    covering = self._requested
                outcome = self._run(covering)
                if outcome is None:  # closed while queued
                    continue
                with self._cond:
                    self._done = covering
                    self._outcomes.append(outcome)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._phase, self._waiting_for, self._thread = "idle", None, None
                self._cond.notify_all()

    def _run(self, covering: int) -> IngestOutcome | None:
        settings = replace(self.settings, lock_wait=max(self._retry, 1.0))
        while True:
            with self._cond:
                if self._closed:
                    return None
                if self._busy():
                    self._phase, self._waiting_for = "queued", lock_holder(self.settings.index_dir)
                    self._cond.wait(self._retry)
                    continue
                self._phase, self._waiting_for = "indexing", None
            try:
                report = sync(settings, [settings.docs_dir], embedder_factory=self._embedder_factory)
            except IndexBusyError:  # another writer took the lock between the check and the ingest
                continue
            except Exception as error:  # noqa: BLE001 - reported to whoever waits on the request
                logger.warning("ingest of %s failed: %s", settings.docs_dir, error)
                return IngestOutcome(covering, None, error)
            return IngestOutcome(covering, report, None)

    def _busy(self) -> bool:
        """Whether another writer holds the index lock now."""
        if not self.settings.index_dir.is_dir():
            return False
        try:
            with IndexLock(self.settings.index_dir, wait=0):
                return False
        except IndexBusyError:
            return True
