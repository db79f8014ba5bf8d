"""Writing files atomically: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
from contextlib import contextmanager
from typing import IO, Iterator

from .errors import RecsysError

__all__ = ["atomic_write", "remove_stale_temps", "out_lock", "LOCK_NAME"]

log = logging.getLogger(__name__)
#: The lock a run holds on its output folder.
LOCK_NAME = ".recsys.lock"


#: The names :func:`atomic_write` gives its temporary files: ``.<name>.<8 random characters>.tmp``.
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")


@contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, permissions: int = 0o644, durable: bool = True, **kwargs
) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success it replaces ``path`` in one rename.

    On an exception (a crash, Ctrl-C) the temporary file is removed and ``path`` is untouched.
    ``mode`` is the open mode, ``permissions`` the file's mode bits (``0o600``: its owner's only;
    the temporary file is 0600 from the start, so others never see the data while it is written).
    ``durable`` waits for the data to reach the disk before the rename (``fsync``); a file whose
    readers check it (a cache entry with its checksum) can do without.

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
            if durable:
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


@contextmanager
def out_lock(out: str | os.PathLike) -> Iterator[None]:
    """Hold ``<out>/.recsys.lock`` for a run, and remove what runs killed before left there.

    Two runs writing into one folder at once would mix their files; a run killed by SIGKILL leaves
    the temporary files of :func:`atomic_write`, removed here once the lock is held.
    """
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RecsysError(f"another run of recsys is writing into {out} (it holds {path}); let it "
                              "finish, or give this one another --out") from None
        except OSError as e:  # a file system without locks: go on, but touch no temporary file
            log.warning("cannot lock %s (%s); make sure no other run writes into %s", path, e.strerror, out)
        else:
            for stale in remove_stale_temps(out):
                log.info("removed %s, left by a run that was killed", stale)
        yield
    finally:
        os.close(fd)
