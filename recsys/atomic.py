"""Writing files atomically: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["atomic_write"]


@contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, permissions: int = 0o644, **kwargs
) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` in one rename.

    On an exception (a crash, Ctrl-C) the temporary file is removed and ``path`` is untouched.
    ``mode`` is the open mode, ``permissions`` the file's mode bits (``0o600``: its owner's only;
    the temporary file is 0600 from the start, so others never see the data while it is written).

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write(d / "a.json") as f:
    ...     _ = f.write("{}")
    >>> (d / "a.json").read_text()
    '{}'
    """
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, mode, **kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
