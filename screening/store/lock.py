"""One run per campaign at a time: an advisory ``flock`` held for the run's lifetime.

The kernel releases the lock when the holding process dies (even by SIGKILL), so a killed campaign never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class CampaignLockedError(RuntimeError):
    """Another process is running the same campaign."""


@contextmanager
def campaign_lock(path: Path) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` (created if missing) for the ``with`` body.

    Raises
    ------
    CampaignLockedError
        At once (never waits) when another process holds it; the message names that process.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Path(path).read_text().strip() or "another process"
            raise CampaignLockedError(
                f"campaign {path.stem!r} is already running ({holder}); wait for it to finish or stop it"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def probe_campaign_lock(path: Path) -> None:
    """Raise :class:`CampaignLockedError` at once if another process holds the lock at ``path`` now.

    Takes the lock and lets it go: a command checks this before it starts servers or clusters, so a running
    campaign is refused in a moment; the run itself still holds :func:`campaign_lock` for its lifetime (a run
    that starts between the probe and that lock is refused there).
    """
    with campaign_lock(path):
        pass
