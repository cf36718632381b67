"""Durable file operations: atomic writes, content hashes and the single-writer lock."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import tempfile
import time
from pathlib import Path
from types import TracebackType


class IndexBusyError(RuntimeError):
    """Another process is writing to the same index."""


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` so that readers see the old or the new file, never a mix."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def hash_bytes(data: bytes) -> str:
    """Content hash used by the manifest (hex SHA-256)."""
    return hashlib.sha256(data).hexdigest()


class IndexLock:
    """An exclusive advisory lock on `<index>/.lock`, held for the whole of a write.

    Two writers on one Chroma directory corrupt its vector index, so every write to an
    index happens under this lock. The kernel releases it when the holder dies, even by
    SIGKILL, so a crash never leaves the index locked.
    """

    def __init__(self, index_dir: Path, wait: float = 0.0) -> None:
        self.path = index_dir / ".lock"
        self.wait = wait
        self._fd: int | None = None

    def __enter__(self) -> IndexLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    os.close(fd)
                    holder = _read_holder(self.path)
                    raise IndexBusyError(
                        f"Another ingest{holder} is writing to {self.path.parent}. "
                        "Wait for it to finish, or pass --wait SECONDS to queue behind it."
                    ) from error
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock_holder(index_dir: Path) -> int | None:
    """The process id that last took the index lock (the holder while it is held), if recorded."""
    try:
        pid = (index_dir / ".lock").read_text().strip()
    except OSError:
        return None
    return int(pid) if pid.isdigit() else None


def _read_holder(path: Path) -> str:
    pid = lock_holder(path.parent)
    return f" (process {pid})" if pid is not None else ""
