"""One engine per state dir: an advisory lock on ``<state_dir>/lock`` (``flock``), held while the engine lives.

Two engines on one journal would hand out the same client order ids and each rebuild the other's positions; the
second is refused with the holder's pid. The kernel drops the lock when the process ends, ``kill -9`` included, so a
crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class StateDirBusy(RuntimeError):
    """Another engine holds the state dir."""


class StateDirLock:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / "lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StateDirBusy(
                f"state dir {state_dir} is in use by another bot4 engine (pid {holder}): stop that one, "
                "or pass another --state-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
