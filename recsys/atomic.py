"""Writing files atomically: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import os
import re
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator

__all__ = ["atomic_write", "remove_stale_temps"]


#: The names :func:`atomic_write` gives its temporary files: ``.<name>.<8 random characters>.tmp``.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


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


def remove_stale_temps(directory: str | os.PathLike) -> list[str]:
    """Remove the temporary files :func:`atomic_write` left under ``directory`` when killed.

    A SIGKILL or a power cut gives ``atomic_write`` no chance to clean up. Only names of its
    pattern (``.<name>.<8 characters>.tmp``) are removed, in ``directory`` and below; call it
    only while no other writer works there (the command line holds a lock on its output folder).

    >>> import pathlib, tempfile
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for name in (".related.json.k2x_9abc.tmp", "notes.tmp", "related.json"):
    ...     _ = (d / name).write_text("")
    >>> [pathlib.Path(p).name for p in remove_stale_temps(d)], sorted(p.name for p in d.iterdir())
    (['.related.json.k2x_9abc.tmp'], ['notes.tmp', 'related.json'])
    """
    removed = []
    for root, _, names in os.walk(directory):
        for name in names:
            if _TEMP_NAME.fullmatch(name):
                path = os.path.join(root, name)
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    continue
                removed.append(path)
    return removed
