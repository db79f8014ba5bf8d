"""Log files: which to read and in what order, how to open them, and their bytes in blocks of lines.

:func:`log_files` expands directories into their access-log families, oldest first, as logrotate
names them. A file is opened as plain, gzip, bzip2 or xz by its first bytes; a damaged archive
yields what it holds before the damage. :func:`read_blocks` cuts a stream into blocks of whole
lines in reused buffers (:class:`Chunk`), and :func:`in_background` reads them in a thread of its own.
"""

from __future__ import annotations

import bz2
import collections
import io
import logging
import lzma
import os
import queue
import re
import stat
import sys
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import RecsysError

__all__ = [
    "log_files", "family_of", "open_log", "COMPRESSIONS", "Decompressed", "Prefixed", "Chunk", "read_blocks", "Buffers",
    "in_background", "read_head",
]

log = logging.getLogger(__name__)

_ROTATED = re.compile(
    r"^(?P<stem>.+?)(?:\.(?P<num>\d+)|-(?P<date>\d{8}(?:\d{2})?))?(?P<comp>\.gz|\.bz2|\.xz)?$", re.DOTALL
)


def log_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """The files to read, in order: directories expanded into their access-log families.

    In a directory, each family (``access.log``, ``access.log.1``, ``access.log.2.gz``, or
    ``access.log-20240102.gz`` with ``dateext``) is read oldest first. Files whose name does not
    look like an access log (``error.log``, hidden files, anything not ending in ``.log`` or naming
    ``access``) are skipped, with a log message.

    >>> log_files([])
    []
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[str] = []
    for p in map(os.fspath, paths):
        if p == "-":
            out.append(p)
        elif os.path.isdir(p):
            out += _family_order(p)
        elif os.path.exists(p):
            mode = os.stat(p).st_mode
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                raise RecsysError(f"{p} is a device, not a log file; give log files, directories of them, or -")
            out.append(p)
        else:
            raise RecsysError(f"{p}: no such file or directory")
    return out


def _family_order(directory: str) -> list[str]:
    keyed = []
    for name in sorted(os.listdir(directory)):
        full = os.path.join(directory, name)
        m = _ROTATED.match(name)
        stem = m.group("stem") if m else name
        if (
            name.startswith(".")
            or not os.path.isfile(full)
            or "error" in stem
            or not (stem.endswith(".log") or "access" in stem)
        ):
            log.info("skipping %s: not an access log", full)
            continue
        if m.group("num"):
            age = (0, -int(m.group("num")), "")
        elif m.group("date"):
            age = (1, 0, m.group("date"))
        else:
            age = (2, 0, "")
        keyed.append(((stem, age), full))
    return [full for _, full in sorted(keyed)]


class Decompressed(io.RawIOBase):
    """A gzip, bzip2 or xz stream, decoded as far as the data allows.

    Unlike ``gzip.open``, a truncated or damaged archive yields everything before the damage
    (the last lines of a log that was being rotated when the machine crashed), then ends with a
    message in ``self.warning``. Concatenated members are read one after the other.
    """

    def __init__(self, raw: BinaryIO, new: Callable[[], object]) -> None:
        self.raw, self.new, self.dec = raw, new, new()
        self.pending = b""  # compressed bytes not yet given to the decompressor
        self.out = b""
        self.warning: str | None = None
        self.done = False

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self.out and not self.done:
            self._fill(len(b))
        n = min(len(b), len(self.out))
        b[:n] = self.out[:n]
        self.out = self.out[n:]
        return n

    def _fill(self, want: int) -> None:
        dec = self.dec
        if getattr(dec, "eof", False):
            rest = dec.unused_data + self.pending
            self.pending = b""
            if not rest:
                rest = self.raw.read(1 << 20)
            if not rest.strip(b"\x00"):  # end, or padding after the last member
                self.done = True
                return
            self.dec, self.pending = self.new(), rest
            return
        data = self.pending
        self.pending = b""
        if not data and getattr(dec, "needs_input", True) and not getattr(dec, "unconsumed_tail", b""):
            data = self.raw.read(1 << 20)
            if not data:
                self.done = True
                self.warning = "the compressed file ends early (truncated); read up to the damage"
                return
        try:
            if hasattr(dec, "unconsumed_tail"):  # zlib
                self.out = dec.decompress(dec.unconsumed_tail + data, max(want, 1 << 16))
            else:
                self.out = dec.decompress(data, max(want, 1 << 16))
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as e:
            self.done = True
            self.warning = f"the compressed file is damaged ({e}); read up to the damage"


#: The archives :func:`open_log` decompresses: their first bytes, and a new decompressor.
COMPRESSIONS = (
    (b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),
    (b"BZh", bz2.BZ2Decompressor),
    (b"\xfd7zXZ\x00", lzma.LZMADecompressor),
)


def open_log(path: str) -> tuple[BinaryIO, Callable[[], int]]:
    """A binary stream of the decompressed file, and a function telling the raw bytes read."""
    if path == "-":
        return sys.stdin.buffer, lambda: 0
    raw = open(path, "rb")
    head = raw.read(1 << 16)
    if raw.seekable():
        raw.seek(0)
        tell = raw.tell
    else:  # a named pipe: what was read goes first
        raw, tell = Prefixed(head, raw, owns=True), (lambda: 0)
    for magic, new in COMPRESSIONS:
        if head.startswith(magic):
            try:  # a text file may start with these bytes too: only an archive decodes
                new().decompress(head, 1)
            except (zlib.error, OSError, EOFError, lzma.LZMAError):
                log.warning("%s starts like a compressed file but is not one: read as text", path)
                break
            return Decompressed(raw, new), tell
    return raw, tell


class Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: lets the format probe look ahead on any stream."""

    def __init__(self, head: bytes, stream: BinaryIO, *, owns: bool = False) -> None:
        self.head, self.pos, self.stream, self.owns = head, 0, stream, owns

    def close(self) -> None:
        if self.owns and not self.closed:
            self.stream.close()
        super().close()

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self.pos < len(self.head):
            n = min(len(b), len(self.head) - self.pos)
            b[:n] = self.head[self.pos : self.pos + n]
            self.pos += n
            return n
        return self.stream.readinto(b)


class Chunk:
    """A block of whole lines held in a reused buffer: ``buf[:size]``, ending with a newline."""

    def __init__(self, buf: bytearray, size: int, pool: collections.deque | None = None) -> None:
        self.buf, self.size, self.pool = buf, size, pool

    def release(self) -> None:
        """Give the buffer back to the :class:`Buffers` it is from: the block is read no more."""
        if self.pool is not None:
            self.pool.append(self.buf)
            self.pool = None

    def array(self) -> np.ndarray:
        return np.frombuffer(self.buf, np.uint8, count=self.size)

    def view(self) -> memoryview:
        return memoryview(self.buf)[: self.size]

    def find(self, sub: bytes, start: int = 0) -> int:
        return self.buf.find(sub, start, self.size)

    def newlines(self) -> np.ndarray:
        return np.flatnonzero(self.array() == 10)

    def line_starts(self) -> np.ndarray:
        """Where each line starts."""
        nl = self.newlines()
        return np.concatenate([[0], nl[:-1] + 1]).astype(np.int64)

    def raw_lines(self) -> tuple[np.ndarray, pa.Array]:
        """Where each line starts (then where the last ends), and the lines as bytes without their
        newline: a copy, free of the reused buffer."""
        offsets = np.concatenate([[0], self.newlines() + 1]).astype(np.int64)
        raw = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1,
                                               [None, pa.py_buffer(offsets), pa.py_buffer(self.view())])
        return offsets, pc.binary_slice(raw, 0, -1)

    def lines_at(self, starts: np.ndarray, n_lines: int) -> tuple[Chunk, np.ndarray]:
        """A block of only the lines starting at ``starts`` (all ``n_lines`` of them: this one), and
        where each starts in it."""
        if len(starts) == n_lines:
            return self, starts
        view = self.view()
        spans = [(s, self.find(b"\n", s) + 1) for s in starts.tolist()]
        data = bytearray(b"".join(view[a:b] for a, b in spans))
        lengths = np.array([b - a for a, b in spans], np.int64)
        return Chunk(data, len(data)), np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)

    def text(self, start: int, end: int) -> str:
        return bytes(self.buf[start:end]).decode("utf-8", "backslashreplace")


def read_blocks(stream: BinaryIO, size: int, warnings: list[str], buffers: int = 1) -> Iterator[Chunk]:
    """Blocks of about ``size`` bytes of whole lines, read into reused buffers.

    A buffer is filled before its block is cut (a decompressor or a pipe gives less at a time),
    so only a stream's last block is short. A block is valid until ``buffers`` more blocks are
    read (one buffer: until the next), so a reader thread can work ahead; a newline is added after
    a last unterminated line. A line longer than the buffer makes it grow. Read errors of a
    damaged archive end the stream early and are appended to ``warnings``.
    """
    pool = [bytearray(0)] * buffers
    turn = [0]

    def take(at_least: int) -> bytearray:  # the next buffer in turn
        turn[0] = (turn[0] + 1) % buffers
        if len(pool[turn[0]]) < at_least:
            pool[turn[0]] = bytearray(at_least)
        return pool[turn[0]]

    return _cut(stream, size, warnings, take, None)


class Buffers:
    """Buffers for the blocks of files read one after the other: a block's buffer is reused once
    the block is released (:meth:`Chunk.release`, from any thread), and a new one is made while
    none is free (as many as blocks are held at once)."""

    def __init__(self, size: int) -> None:
        self.size, self.free = size, collections.deque()

    def take(self, at_least: int) -> bytearray:
        while self.free:
            buf = self.free.pop()
            if len(buf) >= at_least:
                return buf
        return bytearray(at_least)

    def blocks(self, stream: BinaryIO, warnings: list[str]) -> Iterator[Chunk]:
        """:func:`read_blocks` of ``stream``, each block valid until released."""
        return _cut(stream, self.size, warnings, self.take, self.free)


def _cut(stream: BinaryIO, size: int, warnings: list[str], take: Callable[[int], bytearray],
         pool: collections.deque | None) -> Iterator[Chunk]:
    """The blocks of :func:`read_blocks`, read into buffers from ``take`` (released into ``pool``)."""
    buf = take(size)
    end = 0  # bytes held in buf
    while True:
        n = 0
        while end < len(buf):
            with memoryview(buf) as mv:
                try:
                    n = stream.readinto(mv[end:])
                except (OSError, EOFError, lzma.LZMAError) as e:  # a truncated or corrupt archive
                    warnings.append(f"stopped reading early: {e}")
                    n = 0
            if not n:
                break
            end += n
        if not n:
            if end:
                if buf[end - 1] != 10:
                    if end == len(buf):
                        buf = buf + bytearray(1)
                    buf[end] = 10
                    end += 1
                yield Chunk(buf, end, pool)
            return
        cut = buf.rfind(b"\n", 0, end)
        if cut < 0:
            buf = buf + bytearray(len(buf))  # a new, larger buffer
            continue
        yield Chunk(buf, cut + 1, pool)
        tail = end - cut - 1
        nxt = take(max(size, tail + size // 2))
        nxt[:tail] = buf[cut + 1 : end]
        buf, end = nxt, tail


def in_background(items: Iterator, depth: int = 1) -> Iterator:
    """Iterate ``items`` in a thread of its own, ``depth`` items ahead of the consumer."""
    done = object()
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as e:  # handed to the consumer
            q.put((done, e))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator stopped early: its files are closed here
                close()

    worker = threading.Thread(target=produce, name="recsys-reader", daemon=True)
    worker.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # let a blocked producer see the stop
            try:
                q.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=0.05)


def read_head(stream: BinaryIO, warnings: list[str], size: int = 1 << 20) -> bytes:
    """The first ``size`` bytes (fewer at the end of the stream), for the format probe."""
    parts, got = [], 0
    while got < size:
        try:
            part = stream.read(size - got)
        except (OSError, EOFError, lzma.LZMAError) as e:
            warnings.append(f"stopped reading early: {e}")
            part = b""
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def family_of(path: str) -> tuple[str, str]:
    """A rotated family: the directory and the name without rotation suffixes."""
    m = _ROTATED.match(os.path.basename(path))
    return os.path.dirname(os.path.abspath(path)) if path != "-" else "-", m.group("stem") if m else path
