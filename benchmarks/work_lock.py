"""An exclusive lock on a file in a benchmark's shared work directory.

Parallel processes of one benchmark (`label_efficiency --only-seeds`, `ablation --rows`/`--seeds`) share one work
directory, and the first thing each does is build what they all reuse: the synthetic world and the self-supervised
depth model. Without a lock, processes started together each render the world and train the depth model into the
same file. Under the lock the first one builds while the others wait, then find the finished result and reuse it.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on `path` (created if missing) for the block. The lock belongs to the open
    file, so the kernel releases it when the block ends or the process dies: a crashed process never leaves a stale
    lock behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
