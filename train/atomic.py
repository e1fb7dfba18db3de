"""Atomic file writes: a kill at any moment leaves the old file or the new one, never a part.

The new content goes to a temp file next to the target (same directory, so the rename stays on
one filesystem), is flushed and fsynced, then renamed over the target with `os.replace`; the
directory is fsynced last so the rename itself survives a power loss. Every writer of a file that
a reader may open while a run is alive (config.yaml, summary json, metrics.jsonl rewrites, the
checkpoints' `latest` pointer, pool dumps) goes through here.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

#: Temp files (and checkpoint temp dirs) start with this, so leftovers of a killed writer are
#: recognisable (`train.checkpoint.clear_leftovers` removes them).
TEMP_PREFIX = ".tmp-"


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[TextIO]:
    """A UTF-8 text file to write `path` through. It replaces `path` when the block ends; on an
    error the temp file is removed and `path` is left as it was."""
    path = Path(path)
    tmp = path.with_name(f"{TEMP_PREFIX}{path.name}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    """Write `text` to `path` atomically (UTF-8)."""
    with atomic_open(path) as f:
        f.write(text)


def fsync_dir(d: str | os.PathLike) -> None:
    """Flush a directory's entries: a rename is durable only once that is done. A no-op where
    directories cannot be opened (Windows)."""
    if os.name != "posix":
        return
    fd = os.open(d, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
