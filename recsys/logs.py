"""Reading nginx access logs into a table of requests.

:func:`read_logs` takes files, directories of rotated logs (``access.log``, ``access.log.1``,
``access.log.2.gz``, ... read oldest first), compressed files and ``-`` for standard input, in any
nginx ``log_format``. Lines are read in blocks of tens of megabytes; a block is split into fields by
pyarrow's multi-threaded CSV tokenizer when the format allows it (the fast path) and by the format's
regular expression otherwise, or whenever a block holds anything the fast path could misread. Work
on strings is done once per distinct value (dictionary encoding), never once per line in Python.

A file may hold several formats (``log_format`` edited and nginx reloaded, or two ``access_log``
directives writing one file): each line is read by the first of the file's formats that matches
it. With ``auto``, the presets are tried on the lines no format found so far matches, and only on
them, so a file in one format reads as fast as ever.

Every line is accounted for (:class:`recsys.Accounting`): malformed lines are counted by kind and
the first few kept as examples.
"""

from __future__ import annotations

import bz2
import copy
import io
import ipaddress
import logging
import lzma
import os
import queue
import re
import stat
import sys
import threading
import zlib
from functools import lru_cache
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .accounting import Accounting
from .errors import LogFormatError, LogParseError, RecsysError
from .formats import COUNT, HIGH_CARDINALITY, PRESETS, LogFormat, resolve_log_format, unescape
from .progress import progress_bar

__all__ = ["read_logs", "iter_logs", "log_files", "detect_format", "STANDARD_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns of :func:`read_logs`, whatever the log format (missing values where it lacks them).
STANDARD_COLUMNS = (
    "ts", "visitor", "ip", "method", "path", "query", "status", "bytes", "referer", "user_agent",
)
BLOCK_SIZE = 16 << 20
PROBE_LINES = 1000
_MAX_INVALID = 1000  # rows the CSV reader may set aside in a block before the regex takes over
_DICT = pa.dictionary(pa.int32(), pa.string())
_MISSING = pa.array(["-", ""])
#: A request line: the method, the target and, when the line ends with one, the protocol. The target
#: is what lies between the first space and the last (nginx logs the line as the client sent it:
#: ``GET /x.js type= HTTP/1.0`` asks for ``/x.js type=``). RE2, Java and Python read it alike.
_REQUEST = r"^(?P<method>[A-Z][A-Z0-9_-]*) (?P<target>[^ ].*?)(?: (?P<protocol>HTTP/\d(?:\.\d)?))?$"
#: A request target, origin-form (``/path?query``) or absolute-form (``http://host/path?query``, as
#: a front proxy sends it; user information before the host is dropped). ``//host/path`` is a path.
_TARGET = (r"^(?:[A-Za-z][A-Za-z0-9+.-]*://(?:[^/?#@]*@)?(?P<host>[^/?#]*))?"
           r"(?P<path>[^?]*)(?:\?(?P<query>.*))?$")
_ROTATED = re.compile(
    r"^(?P<stem>.+?)(?:\.(?P<num>\d+)|-(?P<date>\d{8}(?:\d{2})?))?(?P<comp>\.gz|\.bz2|\.xz)?$", re.DOTALL
)
_SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")),
        *[(c, _DICT) for c in ("visitor", "ip", "method", "path", "query")],
        ("status", pa.int16()),
        ("bytes", pa.int64()),
        ("referer", _DICT),
        ("user_agent", _DICT),
    ]
)


# files -----------------------------------------------------------------------------------------
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


class _Decompressed(io.RawIOBase):
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


_COMPRESSIONS = (
    (b"\x1f\x8b", lambda: zlib.decompressobj(wbits=31)),
    (b"BZh", bz2.BZ2Decompressor),
    (b"\xfd7zXZ\x00", lzma.LZMADecompressor),
)


def _open(path: str) -> tuple[BinaryIO, Callable[[], int]]:
    """A binary stream of the decompressed file, and a function telling the raw bytes read."""
    if path == "-":
        return sys.stdin.buffer, lambda: 0
    raw = open(path, "rb")
    head = raw.read(1 << 16)
    if raw.seekable():
        raw.seek(0)
        tell = raw.tell
    else:  # a named pipe: what was read goes first
        raw, tell = _Prefixed(head, raw, owns=True), (lambda: 0)
    for magic, new in _COMPRESSIONS:
        if head.startswith(magic):
            try:  # a text file may start with these bytes too: only an archive decodes
                new().decompress(head, 1)
            except (zlib.error, OSError, EOFError, lzma.LZMAError):
                log.warning("%s starts like a compressed file but is not one: read as text", path)
                break
            return _Decompressed(raw, new), tell
    return raw, tell


class _Prefixed(io.RawIOBase):
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


class _Chunk:
    """A block of whole lines held in a reused buffer: ``buf[:size]``, ending with a newline."""

    def __init__(self, buf: bytearray, size: int) -> None:
        self.buf, self.size = buf, size

    def array(self) -> np.ndarray:
        return np.frombuffer(self.buf, np.uint8, count=self.size)

    def view(self) -> memoryview:
        return memoryview(self.buf)[: self.size]

    def find(self, sub: bytes, start: int = 0) -> int:
        return self.buf.find(sub, start, self.size)

    def newlines(self) -> np.ndarray:
        return np.flatnonzero(self.array() == 10)

    def text(self, start: int, end: int) -> str:
        return bytes(self.buf[start:end]).decode("utf-8", "backslashreplace")


def _blocks(stream: BinaryIO, size: int, warnings: list[str], buffers: int = 1) -> Iterator[_Chunk]:
    """Blocks of about ``size`` bytes of whole lines, read into reused buffers.

    A block is valid until ``buffers`` more blocks are read (one buffer: until the next), so a
    reader thread can work ahead; a newline is added after a last unterminated line. A line
    longer than the buffer makes it grow. Read errors of a damaged archive end the stream early
    and are appended to ``warnings``.
    """
    pool = [bytearray(size) for _ in range(buffers)]
    turn = 0
    buf = pool[0]
    end = 0  # bytes held in buf
    while True:
        with memoryview(buf) as mv:
            try:
                n = stream.readinto(mv[end:]) if end < len(buf) else 0
            except (OSError, EOFError, lzma.LZMAError) as e:  # a truncated or corrupt archive
                warnings.append(f"stopped reading early: {e}")
                n = 0
        if not n:
            if end:
                if buf[end - 1] != 10:
                    if end == len(buf):
                        buf = buf + bytearray(1)
                    buf[end] = 10
                    end += 1
                yield _Chunk(buf, end)
            return
        end += n
        cut = buf.rfind(b"\n", 0, end)
        if cut < 0:
            if end == len(buf):
                buf = pool[turn] = buf + bytearray(len(buf))  # a new, larger buffer
            continue
        yield _Chunk(buf, cut + 1)
        turn = (turn + 1) % buffers
        tail = end - cut - 1
        nxt = pool[turn]
        if len(nxt) < tail + size // 2:
            nxt = pool[turn] = bytearray(max(size, tail + size // 2))
        nxt[:tail] = buf[cut + 1 : end]
        buf, end = nxt, tail


def _in_background(items: Iterator, depth: int = 1) -> Iterator:
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


def _read_head(stream: BinaryIO, warnings: list[str], size: int = 1 << 20) -> bytes:
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


# format detection ------------------------------------------------------------------------------
def _probe_lines(head: bytes) -> list[str]:
    lines = head.split(b"\n", PROBE_LINES)[:PROBE_LINES]
    if len(lines) > 1 and not head.endswith(b"\n"):
        lines.pop()  # a partial line
    if lines and lines[-1] == b"":
        lines.pop()
    return [ln.rstrip(b"\r").decode("utf-8", "replace") for ln in lines]


def _matches(fmt: LogFormat, lines: pa.Array | list[str]) -> np.ndarray:
    """Which lines match the format's regular expression (RE2, as both parsers match them)."""
    if not len(lines):
        return np.zeros(0, bool)
    arr = lines if isinstance(lines, (pa.Array, pa.ChunkedArray)) else pa.array(lines, pa.string())
    return pc.fill_null(pc.match_substring_regex(arr, fmt.regex), False).to_numpy(zero_copy_only=False)


def _first_presets(lines, known: list[LogFormat] = ()) -> tuple[list[LogFormat], np.ndarray]:
    """The presets that ``lines`` not matching ``known`` are in, in the order they first appear.

    A line takes the first format that matches it: one already known, else the first preset (in
    :data:`PRESETS` order) that matches it, which becomes known from that line on. Returns the
    new presets and which lines match any format.
    """
    taken = np.zeros(len(lines), bool)
    for fmt in known:
        taken |= _matches(fmt, lines)
    found: list[LogFormat] = []
    candidates = [fmt for fmt in map(_preset, PRESETS) if fmt not in known]
    hits = {fmt: _matches(fmt, lines) & ~taken for fmt in candidates}
    while True:
        firsts = {fmt: int(np.argmax(m)) for fmt, m in hits.items() if m.any()}
        if not firsts:
            return found, taken
        new = min(firsts, key=lambda f: (firsts[f], candidates.index(f)))  # the earliest line; ties: preset order
        found.append(new)
        taken |= hits.pop(new)
        hits = {fmt: m & ~taken for fmt, m in hits.items()}


_preset = lru_cache(maxsize=None)(LogFormat.preset)  # one object each: its regex compiled once


def detect_format(lines: list[str]) -> LogFormat | None:
    """The preset that parses most of ``lines`` (at least half of them), or ``None``.

    >>> detect_format(['::1 - - [01/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl" "-"']).name
    'combined_ut'
    """
    counts = {name: int(_matches(_preset(name), lines).sum()) for name in PRESETS}
    best = max(PRESETS, key=lambda n: counts[n])  # the first of the best, in preset order
    return _preset(best) if lines and 2 * counts[best] >= len(lines) else None


def _fixed_formats(log_format, nginx_conf=None, format_name=None) -> list[LogFormat] | None:
    """The formats the caller names, in the order to try them; ``None`` for ``auto``."""
    if nginx_conf is not None:
        names = [format_name] if format_name is None or isinstance(format_name, str) else list(format_name)
        if not names:
            raise RecsysError("format_name (--format-name) is an empty list; give the names of log_format directives")
        return [LogFormat.from_nginx_conf(nginx_conf, n) for n in names]
    if format_name is not None:
        raise RecsysError("format_name (--format-name) needs nginx_conf (--nginx-conf)")
    if isinstance(log_format, (str, LogFormat)):
        fmt = resolve_log_format(log_format)
        return None if fmt is None else [fmt]
    specs = list(log_format) if isinstance(log_format, Iterable) else [log_format]
    if not specs or any(isinstance(s, str) and s == "auto" for s in specs):
        raise LogFormatError(
            f"log_format must be 'auto', one format, or a list of formats (presets, log_format strings) "
            f"to try in order; got {log_format!r}"
        )
    return list(dict.fromkeys(resolve_log_format(s) for s in specs))


def _start_formats(fixed: list[LogFormat] | None, head: bytes, path: str, *, known: list[LogFormat],
                   strict: bool, first_line: int = 0) -> list[LogFormat]:
    """The formats to read a file with, found on its first lines (the order they are tried in).

    ``known``: formats an earlier read of this file found. With ``strict`` (a file read from its
    start, the first of its family), a file whose first lines mostly match none of the formats
    stops the read with :class:`LogParseError`, unless only its beginning is junk.
    """
    lines = _probe_lines(head)
    if fixed is None:
        found, ok = _first_presets(lines, known)
        formats = [*known, *found]
        for fmt in found:
            log.info("%s: detected log format %s", path, fmt.name)
    else:
        formats = fixed
        ok = np.zeros(len(lines), bool)
        for fmt in fixed:
            ok |= _matches(fmt, lines)
    if not strict or _most(ok):
        return formats
    first = int(np.argmax(ok)) if ok.any() else None
    if first is not None and _most(ok[first:]):
        log.warning("%s: lines %d to %d match no log format; the lines after them do", path,
                    first_line + 1, first_line + first)
        return formats
    if fixed is None:
        shown = f"any preset ({', '.join(PRESETS)})"
    elif len(fixed) == 1:
        shown = f"the log format {fixed[0].name or 'given'} ({fixed[0].template!r})"
    else:
        shown = f"any of the {len(fixed)} log formats given"
    bad = int(np.argmin(ok)) if len(ok) else 0
    line = lines[bad] if lines else ""
    raise LogParseError(
        f"{path}: most of the first {len(lines)} lines do not match {shown}; "
        f"line {first_line + bad + 1} is: {line[:300]!r}. Pass the log_format your nginx writes, "
        "as in nginx.conf: --log-format '$remote_addr - $remote_user [$time_local] \"$request\" ...' "
        "(or --nginx-conf /etc/nginx/nginx.conf --format-name NAME); "
        "a file holding several formats takes --log-format once for each",
        path=path,
        line_number=first_line + bad + 1,
        line=line,
    )


def _most(ok: np.ndarray) -> bool:
    """At least half of the probed lines parse (an error needs *most* of them to fail)."""
    return bool(len(ok)) and 2 * int(ok.sum()) >= len(ok)


# per-value helpers -----------------------------------------------------------------------------
def _apply(arr: pa.Array, fn: Callable[[pa.Array], pa.Array], *, encode: bool = True) -> pa.Array:
    """``fn`` applied once per distinct value of a dictionary array (per row otherwise).

    A string result is dictionary-encoded again (``encode``), with a dictionary free of duplicates.
    """
    if not pa.types.is_dictionary(arr.type):
        out = fn(arr)
        return out.dictionary_encode() if encode and pa.types.is_string(out.type) else out
    values = fn(arr.dictionary)
    if not (encode and (pa.types.is_string(values.type) or pa.types.is_large_string(values.type))):
        return values.take(arr.indices)
    enc = pc.dictionary_encode(values.cast(pa.string()))
    return pa.DictionaryArray.from_arrays(enc.indices.take(arr.indices), enc.dictionary)


def _is_count(values: pa.Array) -> pa.Array:
    """:data:`recsys.formats.COUNT` without a regex: at most 18 digits, ``-`` or empty."""
    digits = pc.ascii_is_decimal(values)
    if pc.all(digits).as_py() is not False:  # the usual case: only numbers
        return pc.less_equal(pc.binary_length(values), 18)
    return pc.or_(pc.and_(digits, pc.less_equal(pc.binary_length(values), 18)), pc.is_in(values, _MISSING))


def _missing_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_in(values, _MISSING), pa.scalar(None, values.type), values)


def _unescaper(mode: str) -> Callable[[pa.Array], pa.Array]:
    if mode == "none":  # nothing was escaped
        return _missing_to_null
    marker = "\\" if mode == "json" else "\\x"

    def fn(values: pa.Array) -> pa.Array:
        values = _missing_to_null(values)
        mask = pc.fill_null(pc.match_substring(values, marker), False)
        if not pc.any(mask).as_py():
            return values
        sub = values.filter(mask).to_pylist()
        return pc.replace_with_mask(values, mask, pa.array([unescape(s, mode) for s in sub], values.type))

    return fn


def _bool_rows(arr: pa.Array, fn: Callable[[pa.Array], pa.Array]) -> np.ndarray:
    """A numpy bool per row: ``fn`` evaluated per distinct value when ``arr`` is a dictionary."""
    if pa.types.is_dictionary(arr.type):
        per_value = pc.fill_null(fn(arr.dictionary), False).to_numpy(zero_copy_only=False)
        indices = arr.indices
        if indices.null_count:  # a missing value reads the extra last slot: False
            per_value = np.append(per_value, False)
            indices = pc.fill_null(indices, len(per_value) - 1)
        return per_value[indices.to_numpy(zero_copy_only=False)]
    return pc.fill_null(fn(arr), False).to_numpy(zero_copy_only=False)


# the two parsers of a block ---------------------------------------------------------------------
@dataclass
class _Block:
    """A parsed block: raw values per row, and the lines that gave no row.

    Rows are the block's lines in order, without the ``skipped`` ones.
    """

    columns: dict[str, pa.Array]
    n_lines: int
    skipped: list[tuple[int, str, str | None]]  # (offset of the line in the chunk, kind, text or None)


def _trivial(field) -> bool:
    return len(field.items) == 1 and field.quoted and field.regex == '^(?P<%s>[^"]*)$' % field.items[0][1]


@lru_cache(maxsize=64)
def _accepts_empty_line(fmt: LogFormat) -> bool:
    return all(re.match(f.regex, "") for f in fmt.fields)


def _invalid_utf8_lines(chunk: _Chunk, most: int = 2000) -> list[tuple[int, int, str]] | None:
    """``(start, end, "encoding")`` of lines that are not UTF-8; ``None`` if too many to check."""
    arr = chunk.array()
    stripe = 1 << 16
    whole = len(arr) // stripe * stripe
    hot = np.flatnonzero(arr[:whole].reshape(-1, stripe).max(axis=1) >= 0x80) if whole else np.zeros(0, np.int64)
    if not len(hot) and (whole == len(arr) or arr[whole:].max() < 0x80):
        return []  # pure ASCII, as nginx writes with escape=default: nothing to check
    parts = [np.flatnonzero(arr[a * stripe : (a + 1) * stripe] >= 0x80) + a * stripe for a in hot.tolist()]
    parts.append(np.flatnonzero(arr[whole:] >= 0x80) + whole)
    high = np.concatenate(parts)
    bad: list[tuple[int, int, str]] = []
    i = checked = 0
    while i < len(high):
        checked += 1
        if checked > most:
            return None  # much non-ASCII text (escape=none): the regex path checks every line
        p = int(high[i])
        start = chunk.buf.rfind(b"\n", 0, p) + 1
        end = chunk.find(b"\n", p)
        try:
            bytes(chunk.buf[start:end]).decode("utf-8")
        except UnicodeDecodeError:
            bad.append((start, end, "encoding"))
        i = int(np.searchsorted(high, end, side="right"))
    return bad


class _Without:
    """The chunk's bytes without some lines, and the way back to offsets in the chunk."""

    def __init__(self, chunk: _Chunk, aside: list[tuple[int, int, str]]) -> None:
        if not aside:
            self.data, self.size = chunk.buf, chunk.size
            self.buffer = pa.py_buffer(chunk.view())
            self.cut_at = self.cut_len = np.zeros(0, np.int64)
            return
        src = memoryview(chunk.buf)
        out = bytearray(chunk.size)  # its own: readers in other threads set lines aside too
        pos = got = 0
        for start, end, _ in aside + [(chunk.size, chunk.size - 1, "")]:
            out[got : got + start - pos] = src[pos:start]
            got += start - pos
            pos = end + 1
        self.data, self.size = out, got
        self.buffer = pa.py_buffer(memoryview(out)[:got])
        self.cut_len = np.array([end + 1 - start for start, end, _ in aside], np.int64)
        at = np.array([start for start, _, _ in aside], np.int64)
        self.cut_at = at - np.concatenate([[0], np.cumsum(self.cut_len)[:-1]])

    def original(self, q: int) -> int:
        return q + int(self.cut_len[: np.searchsorted(self.cut_at, q, side="right")].sum())

    def line_of(self, pos: int) -> tuple[int, int]:
        """The original (start, end) of the line holding position ``pos`` of the data."""
        start = self.data.rfind(b"\n", 0, pos) + 1
        end = self.data.find(b"\n", pos, self.size)
        return self.original(start), self.original(start) + (end - start)

    def text(self, start: int, end: int) -> str:
        return bytes(self.data[start:end]).decode("utf-8", "backslashreplace")

    def find_line(self, text: str, after: int = 0) -> int:
        """Where a whole line ``text`` starts in the data (from ``after``), or -1."""
        needle = text.encode("utf-8", "surrogateescape") + b"\n"
        pos = self.data.find(needle, after, self.size)
        while pos > 0 and self.data[pos - 1] != 10:
            pos = self.data.find(needle, pos + 1, self.size)
        return pos


def _read_fields(buffer, fmt: LogFormat) -> tuple[pa.Table, list[str]] | None:
    invalid: list[str] = []

    def on_invalid(row) -> str:
        invalid.append(row.text)
        # many lines of another layout (a format change): let the regex tell them apart at once
        return "error" if len(invalid) > _MAX_INVALID else "skip"

    fields = fmt.fields
    names = [f"f{i}" for i in range(len(fields))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(buffer),
            read_options=pacsv.ReadOptions(column_names=names, block_size=2 << 20),
            parse_options=pacsv.ParseOptions(
                delimiter=fmt.delimiter,
                quote_char='"' if any(f.quoted for f in fields) else False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=False,
                invalid_row_handler=on_invalid,
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() if f.high_cardinality else _DICT for n, f in zip(names, fields)},
                check_utf8=False,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:  # e.g. a quote left open at the end of the block
        return None
    return table.unify_dictionaries().combine_chunks(), invalid


def _joined_lines(table: pa.Table, invalid: list[str], fmt: LogFormat, kept: _Without) -> list[tuple[int, int, str]] | None:
    """First lines of the spans the CSV reader joined (a quote left open), or None if unfound.

    A line with a quote left open cannot match the format (values hold no quote), so it is
    malformed; the lines after it were swallowed into its row and must be read again.
    """
    found = []
    cursor = 0
    for text in invalid:
        if "\n" in text:
            pos = kept.find_line(text, cursor)
            if pos < 0:
                pos = kept.find_line(text)
            if pos < 0:
                return None
            cursor = pos + 1
            found.append((*kept.line_of(pos), "format"))
    for name, field in zip(table.column_names, fmt.fields):
        if field.quoted and table.num_rows:
            col = table.column(name).chunk(0)
            values = col.dictionary if pa.types.is_dictionary(col.type) else col
            for v in values.filter(pc.match_substring(values, "\n")).to_pylist():
                pos = kept.data.find(b'"' + v.encode("utf-8", "surrogateescape"), 0, kept.size)
                if pos < 0:
                    return None
                found.append((*kept.line_of(pos), "format"))
    return found


def _wrong_length(table: pa.Table, fields, kept: "_Without", invalid: list[str], invalid_at: list[int]):
    """Rows whose line is not exactly their values, delimiters and quotes: ``(rows, starts, ends)``.

    The CSV reader cannot tell a quoted value from an unquoted one (``""`` from nothing at the
    end of a cut line), so a row is checked against the length of its line. The total over the
    block is compared first; lines are looked at one by one only if it differs.
    """
    n = table.num_rows
    quotes = 2 * sum(f.quoted for f in fields)
    expected = np.full(n, len(fields) - 1 + quotes, np.int64)
    for name in table.column_names:
        col = table.column(name).chunk(0) if n else None
        if col is None:
            break
        if pa.types.is_dictionary(col.type):
            lengths = pc.binary_length(col.dictionary).to_numpy(zero_copy_only=False)
            expected += lengths[col.indices.to_numpy(zero_copy_only=False)]
        else:
            expected += pc.binary_length(col).to_numpy(zero_copy_only=False)
    invalid_bytes = sum(len(t.encode("utf-8", "surrogateescape")) + 1 for t in invalid)
    if int(expected.sum()) == kept.size - invalid_bytes - n:
        return ()
    nl = np.flatnonzero(np.frombuffer(kept.data, np.uint8, count=kept.size) == 10)
    starts = np.concatenate([[0], nl[:-1] + 1])
    row_lines = np.delete(np.arange(len(nl)), np.searchsorted(starts, invalid_at))
    rows = np.flatnonzero(nl[row_lines] - starts[row_lines] != expected)
    return rows, starts[row_lines[rows]], nl[row_lines[rows]]


@dataclass
class _Tokens:
    """A block split into fields by the CSV tokenizer: one row per well-formed line."""

    table: pa.Table
    n_lines: int
    skipped: list[tuple[int, str, str]]


def _fast_path(chunk: _Chunk, fmt: LogFormat) -> _Block | None:
    """Split ``chunk`` with pyarrow's CSV tokenizer; ``None`` when the regex must decide."""
    tokens = _tokenize(chunk, fmt)
    return None if tokens is None else _fields_to_columns(tokens, fmt)


def _tokenize(chunk: _Chunk, fmt: LogFormat) -> _Tokens | None:
    """The fields of each line, by pyarrow's multi-threaded CSV tokenizer (None: use the regex).

    Lines the tokenizer would misread are set aside first (invalid UTF-8), or after a first read
    (a quote left open joins lines; a quote missing), as malformed; the rest is read again. Only
    ``chunk`` is read: this runs in a thread of its own, ahead of the rest.
    """
    fields = fmt.fields
    if fields is None or chunk.find(b"\r") >= 0:
        return None  # CR: the CSV reader would end a row there
    if _accepts_empty_line(fmt) and (chunk.buf[0] == 10 or chunk.find(b"\n\n") >= 0):
        return None  # the CSV reader would read an empty line as a row of empty fields
    aside = _invalid_utf8_lines(chunk)
    if aside is None:
        return None
    for _ in range(8):
        kept = _Without(chunk, aside)
        read = _read_fields(kept.buffer, fmt)
        if read is None:
            return None
        table, invalid = read
        joined = _joined_lines(table, invalid, fmt, kept)
        if joined is None:
            return None
        if not joined:
            break
        aside = sorted(set(aside) | set(joined))
    else:
        return None
    skipped = [(start, kind, chunk.text(start, end)) for start, end, kind in aside]
    seen: dict[str, int] = {}
    cursor = 0
    invalid_at = []
    for text in invalid:  # where each skipped line is: mostly in order, identical lines in turn
        pos = kept.find_line(text, max(cursor, seen.get(text, 0)))
        if pos < 0:
            pos = kept.find_line(text, seen.get(text, 0))
        if pos < 0:
            return None
        seen[text] = cursor = pos + 1
        invalid_at.append(pos)
        skipped.append((kept.original(pos), "format", text))
    wrong = _wrong_length(table, fields, kept, invalid, invalid_at)
    if len(wrong):  # rows the CSV reader read leniently (a quote missing): malformed
        rows, starts, ends = wrong
        skipped += [(kept.original(int(a)), "format", kept.text(int(a), int(b))) for a, b in zip(starts, ends)]
        keep = np.ones(table.num_rows, bool)
        keep[rows] = False
        table = table.filter(pa.array(keep))
        # dictionaries keep the values of the dropped rows: encode again, with only those in use
        table = pa.table({
            name: c.chunk(0).dictionary_decode().dictionary_encode()
            if table.num_rows and pa.types.is_dictionary(c.type) else c
            for name, c in zip(table.column_names, table.columns)
        })
    n_wrong = len(wrong[0]) if wrong else 0
    return _Tokens(table, table.num_rows + len(invalid) + len(aside) + n_wrong, skipped)


def _fields_to_columns(tokens: _Tokens, fmt: LogFormat) -> _Block | None:
    """Validate each field (once per distinct value) and take the variables out of it."""
    table = tokens.table
    columns: dict[str, pa.Array] = {}
    for name, field in zip(table.column_names, fmt.fields):
        arr = table.column(name).chunk(0) if table.num_rows else pa.array([], _DICT)
        if field.variables == ("time_local__date",) and field.items[-1][0] == "var":
            # read the time at once, every character checked: no regex needed (an impossible
            # date goes to the regex path, which counts it as a time error)
            prefix = field.items[0][1] if field.items[0][0] == "lit" else ""
            seconds = _local_seconds(_TEMPLATES["time_local"], prefix)(arr)
            if seconds.null_count:
                return None
            columns["time_local__date"] = seconds
            continue
        if not _trivial(field):
            if field.regex == "^(?P<%s>%s)$" % (field.items[0][1], COUNT):
                check = _is_count  # the same test, several times faster
            else:
                check = lambda v, rx=field.regex: pc.match_substring_regex(v, rx)
            if not _bool_rows(arr, check).all():
                return None  # a field that does not validate: the regex path classifies it
        if field.is_literal:
            continue
        (kind, _), (kind_last, _) = field.items[0], field.items[-1]
        groups = field.groups  # $time_local inside a field (LTSV's "time:$time_local") is two
        if len(groups) == 1:
            prefix = len(field.items[0][1]) if kind == "lit" else 0
            suffix = len(field.items[-1][1]) if kind_last == "lit" else 0
            if prefix or suffix:
                cut = lambda v, a=prefix, b=suffix: pc.utf8_slice_codeunits(v, a, -b if b else None)
                arr = _apply(arr, cut, encode=not field.high_cardinality)
            columns[groups[0]] = arr
        else:
            structs = _apply(arr, lambda v, rx=field.regex: pc.extract_regex(v, rx), encode=False)
            for var in groups:
                if var not in columns:
                    child = pc.struct_field(structs, var)
                    columns[var] = child if field.high_cardinality else child.dictionary_encode()
    return _Block(columns, tokens.n_lines, tokens.skipped)


def _regex_path(chunk: _Chunk, fmt: LogFormat) -> _Block:
    """Split ``chunk`` into lines and match each against the format's regular expression."""
    nl = chunk.newlines()
    n = len(nl)
    offsets = np.concatenate([[0], nl + 1]).astype(np.int64)
    raw = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chunk.view())]
    )
    raw = pc.binary_slice(raw, 0, -1)  # drop the newline; a copy, free of the reused buffer
    skipped: list[tuple[int, str, str]] = []
    keep = np.ones(n, bool)
    try:
        lines = raw.cast(pa.large_string())
    except pa.ArrowInvalid:
        high = np.flatnonzero(chunk.array() >= 0x80)
        for i in np.unique(np.searchsorted(nl, high)):
            text = bytes(chunk.buf[int(offsets[i]) : int(nl[i])])
            try:
                text.decode("utf-8")
            except UnicodeDecodeError:
                keep[i] = False
                skipped.append((int(offsets[i]), "encoding", text.decode("utf-8", "backslashreplace")))
        raw = pc.if_else(pa.array(keep), raw, pa.scalar(b"", pa.large_binary()))
        lines = raw.cast(pa.large_string())
    lines = pc.utf8_rtrim(lines, characters="\r")
    structs = pc.extract_regex(lines, fmt.regex)
    matched = structs.is_valid().to_numpy(zero_copy_only=False) & keep
    # the text of a line is read only if it is kept as an example (after a format change, most are not)
    skipped += [(o, "format", None) for o in offsets[:-1][~matched & keep].tolist()]
    rows = np.flatnonzero(matched)
    structs = structs.take(pa.array(rows)) if len(rows) < n else structs
    columns = {}
    for name in fmt.groups:
        child = pc.struct_field(structs, name).cast(pa.string())
        high = name in HIGH_CARDINALITY
        columns[name] = child if high else child.dictionary_encode()
    return _Block(columns, n, skipped)


# from raw values to the standard columns --------------------------------------------------------
_MONTHS = {m.encode(): i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
# Fixed-width local times, one letter per character: Y year, N month digit, L month letter, D day,
# h hour, m minute, s second; anything else must be that very character.
_TEMPLATES = {"time_local": "DD/LLL/YYYY:hh:mm:ss", "iso8601": "YYYY-NN-DDThh:mm:ss"}


def _local_seconds(template: str, prefix: str = "") -> Callable[[pa.Array], pa.Array]:
    """Seconds since the epoch of fixed-width local times, read from their bytes.

    Every character is checked against ``template`` (digits, month letters, separators) after
    the literal ``prefix``, and the date must exist: 31/Feb gives null, where pyarrow's lenient
    ``strptime`` gives 2 March. Values of another width are null too.
    """
    skip = len(prefix.encode())
    width = skip + len(template)
    where = lambda c: [skip + i for i, t in enumerate(template) if t == c]
    digits_at = np.array([skip + i for i, t in enumerate(template) if t in "YNDhms"])
    literal_at = np.array(list(range(skip)) + [skip + i for i, t in enumerate(template) if t not in "YNDhmsL"])
    literal = np.frombuffer(prefix.encode() + "".join(t for t in template if t not in "YNDhmsL").encode(), np.uint8)

    def parse(values: pa.Array) -> pa.Array:
        values = values.cast(pa.string())
        n = len(values)
        lengths = pc.fill_null(pc.binary_length(values), 0).to_numpy(zero_copy_only=False)
        ok = lengths == width
        raw = np.zeros((n, width), np.uint8)
        if ok.any():
            fixed = values.filter(pa.array(ok)) if not ok.all() else values
            offsets = np.frombuffer(fixed.buffers()[1], np.int32)[fixed.offset : fixed.offset + len(fixed) + 1]
            data = np.frombuffer(fixed.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
            raw[ok] = data.reshape(-1, width)
        d = raw.astype(np.int32) - 48
        ok &= (d[:, digits_at] >= 0).all(axis=1) & (d[:, digits_at] <= 9).all(axis=1)
        ok &= (raw[:, literal_at] == literal).all(axis=1)

        def num(c: str) -> np.ndarray:  # the number written at the positions of letter c
            v = np.zeros(n, np.int64)
            for i in where(c):
                v = v * 10 + d[:, i]
            return v

        if "L" in template:
            month = _month_numbers(raw[:, where("L")])
        else:
            month = num("N")
        year, day, hour, minute, second = num("Y"), num("D"), num("h"), num("m"), num("s")
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        mdays = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(month, 0, 12)]
        mdays = mdays + ((month == 2) & leap)
        ok &= (month >= 1) & (month <= 12) & (day >= 1) & (day <= mdays)
        ok &= (hour < 24) & (minute < 60) & (second < 60)  # Linux never logs a leap second
        # days since 1970-01-01 (Howard Hinnant's days_from_civil)
        y = year - (month <= 2)
        era = y // 400
        yoe = y - era * 400
        doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
        days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
        return pa.array(days * 86400 + hour * 3600 + minute * 60 + second, pa.int64(), mask=~ok)

    return parse


def _month_numbers(names: np.ndarray) -> np.ndarray:
    """Month numbers (0 when unknown) of rows of 3 letters, vectorized."""
    code = names[:, 0].astype(np.int64) << 16 | names[:, 1].astype(np.int64) << 8 | names[:, 2]
    known = np.array([int.from_bytes(m, "big") for m in _MONTHS])
    order = np.argsort(known)
    pos = np.clip(np.searchsorted(known[order], code), 0, 11)
    hit = known[order][pos] == code
    return np.where(hit, order[pos] + 1, 0)


#: Seconds since the epoch of 10000-01-01: a later ``$msec`` is an impossible time, as a 5-digit
#: year is for ``$time_local`` (a 20-digit value would overflow the timestamp, not stop the run).
MAX_SECONDS = 253_402_300_800

_ZONE = re.compile(r"^([+-])(\d\d):?(\d\d)$")


def _zone_seconds(values: pa.Array) -> pa.Array:
    """UTC offsets in seconds from ``+0100``, ``-07:00`` or ``Z`` (null for anything else)."""
    out = []
    for z in values.to_pylist():
        m = _ZONE.match(z or "")
        if m:
            out.append((-1 if m[1] == "-" else 1) * (int(m[2]) * 3600 + int(m[3]) * 60))
        else:
            out.append(0 if z == "Z" else None)
    return pa.array(out, pa.int64())


def _timestamps(cols: dict[str, pa.Array], n: int) -> tuple[pa.Array, np.ndarray]:
    """The ``ts`` column (UTC) and a mask of rows whose time is impossible."""
    ms_type = pa.timestamp("ms", tz="UTC")
    if "msec" in cols:
        seconds = pc.cast(cols["msec"], pa.float64())
        seconds = pc.if_else(pc.less(seconds, MAX_SECONDS), seconds, pa.scalar(None, pa.float64()))
        ms = pc.round(pc.multiply(seconds, 1000.0))
        ts = pc.cast(pc.cast(ms, pa.int64()), ms_type)
        return ts, ts.is_null().to_numpy(zero_copy_only=False)
    if "time_iso8601" in cols:
        iso = cols["time_iso8601"]
        local = _apply(iso, lambda v: _local_seconds(_TEMPLATES["iso8601"])(pc.utf8_slice_codeunits(v, 0, 19)), encode=False)
        zone = _apply(iso, lambda v: pc.utf8_slice_codeunits(v, 19))  # a few distinct zones: each parsed once
        offset = _apply(zone, _zone_seconds, encode=False)
    elif "time_local__date" in cols:
        date = cols["time_local__date"]
        if pa.types.is_integer(date.type):  # read by the fast path already
            local = date
        else:
            local = _apply(date, _local_seconds(_TEMPLATES["time_local"]), encode=False)
        offset = _apply(cols["time_local__zone"], _zone_seconds, encode=False)
    else:
        return pa.nulls(n, ms_type), np.zeros(n, bool)
    seconds = pc.subtract(local, offset)
    ts = pc.cast(pc.multiply(seconds, 1000), pa.int64()).cast(ms_type)
    return ts, ts.is_null().to_numpy(zero_copy_only=False)


def _apply_struct(arr: pa.Array, fn: Callable[[pa.Array], pa.Array], names, post=None) -> dict[str, pa.Array]:
    """Children of the struct ``fn`` makes, computed once per distinct value of ``arr``.

    ``_valid`` holds a numpy bool per row: the struct is not null (a regex matched).
    """
    values = arr.dictionary if pa.types.is_dictionary(arr.type) else arr
    structs = fn(values)
    out = {}
    for name in names:
        child = pc.struct_field(structs, name)
        child = post(child) if post else child
        if child.null_count == len(child):  # e.g. no absolute target: no work per row
            out[name] = pa.nulls(len(arr), _DICT)
        elif pa.types.is_dictionary(arr.type):
            enc = pc.dictionary_encode(child)
            out[name] = pa.DictionaryArray.from_arrays(enc.indices.take(arr.indices), enc.dictionary)
        else:
            out[name] = child.dictionary_encode()
    valid = structs.is_valid()
    out["_valid"] = _bool_rows(arr, lambda v: valid)
    return out


def _split_target(values: pa.Array) -> pa.Array:
    """Host, path and query of request targets (``/`` is the path of ``http://host``)."""
    parts = pc.extract_regex(values, _TARGET)
    host, path, query = (pc.struct_field(parts, k) for k in ("host", "path", "query"))
    path = pc.if_else(pc.and_(pc.not_equal(host, ""), pc.equal(path, "")), pa.scalar("/"), path)
    return pa.StructArray.from_arrays([host, path, query], ["host", "path", "query"], mask=parts.is_null())


def _request_parts(cols: dict[str, pa.Array], mode: str, n: int) -> tuple[dict, np.ndarray]:
    """``method``, ``path``, ``query`` (and ``request_host``, ``protocol`` when the format can log
    them), and a mask of rows whose request line is not valid.

    A request line logged as ``-`` or empty (a connection that sent none) is valid, with every part
    missing; one that is present but not ``METHOD TARGET [HTTP/x]`` is not.
    """
    unesc = _unescaper(mode)
    bad = np.zeros(n, bool)
    out: dict[str, pa.Array | None] = {}
    if "request" in cols:
        req = cols["request"]
        parts = _apply_struct(req, lambda v: pc.extract_regex(v, _REQUEST), ["method", "target", "protocol"])
        method, target = parts["method"], parts["target"]
        out["protocol"] = _apply(parts["protocol"], _missing_to_null)
        bad = ~(parts["_valid"] | _bool_rows(req, lambda v: pc.is_in(v, _MISSING)))
    else:
        method = cols.get("request_method")
        target = cols.get("request_uri")
        if target is None and "uri" in cols:
            uri, args = cols["uri"].cast(pa.string()), cols.get("args")
            if args is not None:
                args = pc.fill_null(_missing_to_null(args.cast(pa.string())), "")
                uri = pc.if_else(pc.equal(args, ""), uri, pc.binary_join_element_wise(uri, args, "?"))
            target = uri.dictionary_encode()
    out["method"] = None if method is None else _apply(method, _missing_to_null)
    if target is None:
        out["path"] = out["query"] = None
        return out, bad
    parts = _apply_struct(target, _split_target, ["host", "path", "query"], post=unesc)
    out["path"], out["query"] = parts["path"], parts["query"]
    if "request" in cols or "request_uri" in cols:  # targets that can be absolute ($uri never is)
        out["request_host"] = parts["host"]
    return out, bad


# address chains -----------------------------------------------------------------------------------
#: Variables holding a chain of addresses, client first. ``$proxy_add_x_forwarded_for`` ends with
#: ``$remote_addr`` already; ``$http_x_forwarded_for`` is followed by it.
_CHAINS = ("proxy_add_x_forwarded_for", "http_x_forwarded_for")
#: Addresses that are not a client's on the Internet: private, loopback and link-local.
_NOT_PUBLIC = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8", "169.254.0.0/16",
    "fc00::/7", "::1/128", "fe80::/10",
))


@lru_cache(maxsize=1 << 16)
def _address(entry: str) -> tuple[str, bool]:
    """An entry of a chain without brackets or port, and whether it is a public address."""
    host = entry
    if host.startswith("[") and "]" in host:  # [2001:db8::1]:443
        host = host[1 : host.index("]")]
    elif host.count(":") == 1:  # 203.0.113.5:443
        host = host.split(":")[0]
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:  # a name, "unknown", "unix:": kept as written, never chosen first
        return entry, False
    if addr.version == 6 and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return host, not any(addr in net for net in _NOT_PUBLIC if net.version == addr.version)


def client_of(chain: str | None, peer: str | None = None) -> tuple[str | None, str | None]:
    """The client of an address chain, as Elastic's nginx pipeline picks it, and the chain.

    The chain is ``chain`` (``X-Forwarded-For`` as logged, client first) followed by ``peer``
    (``$remote_addr``); the client is its first public address (not private, loopback or
    link-local), else its first entry. The chain comes back comma-joined.

    >>> client_of("10.0.0.2, 192.0.2.7, 10.0.0.1", "127.0.0.1")
    ('192.0.2.7', '10.0.0.2,192.0.2.7,10.0.0.1,127.0.0.1')
    >>> client_of(None, "10.0.0.1")
    ('10.0.0.1', '10.0.0.1')
    """
    entries = [e for e in (x.strip() for x in (chain or "").split(",")) if e and e != "-"]
    if peer:
        entries.append(peer)
    if not entries:
        return None, None
    picked = next((host for host, public in map(_address, entries) if public), None)
    return picked or _address(entries[0])[0], ",".join(entries)


def _codes(arr: pa.Array) -> tuple[np.ndarray, list]:
    """Codes (-1 for missing) and values of a dictionary array."""
    codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    return codes, arr.dictionary.to_pylist()


def _client_address(cols: dict[str, pa.Array], unesc) -> tuple[pa.Array | None, pa.Array | None]:
    """The ``ip`` column and, when the format logs an address chain, the ``forwarded_for`` one.

    Computed once per distinct pair of chain and ``$remote_addr``; rows without a chain are
    their ``$remote_addr``, with no work per value.
    """
    peer = _apply(cols["remote_addr"], unesc) if "remote_addr" in cols else None
    name = next((v for v in _CHAINS if v in cols), None)
    if name is None:
        return peer, None
    chain = _apply(cols[name], unesc)
    if name == "proxy_add_x_forwarded_for":
        peer = None  # already the chain's last entry
    c, chains = _codes(chain)
    p, peers = _codes(peer) if peer is not None else (np.full(len(c), -1, np.int64), [])
    has = c >= 0  # the other rows are their $remote_addr (or nothing)
    keys, inverse = np.unique(c[has] * (len(peers) + 1) + p[has] + 1, return_inverse=True)
    picked, joined = list(peers), list(peers)
    for key in keys.tolist():
        ci, pi = divmod(key, len(peers) + 1)
        client, whole = client_of(chains[ci], peers[pi - 1] if pi else None)
        picked.append(client)
        joined.append(whole)
    idx = p.copy()
    idx[has] = len(peers) + inverse
    idx = pa.array(idx.astype(np.int32), mask=idx < 0)

    def column(values: list) -> pa.Array:  # a dictionary free of duplicates
        whole = pa.DictionaryArray.from_arrays(idx, pa.array(values, pa.string()))
        return whole.dictionary_decode().dictionary_encode()

    return column(picked), column(joined)


def _standardize(cols: dict[str, pa.Array], fmt: LogFormat, cookie: str, n: int):
    """The request table from raw values; also masks of rows malformed by time and by request."""
    mode = fmt.escape
    unesc = _unescaper(mode)
    ts, bad_time = _timestamps(cols, n)
    request, bad_request = _request_parts(cols, mode, n)
    out: dict[str, pa.Array] = {"ts": ts}
    visitor = None
    for name in ("ut_id", f"cookie_{cookie}"):
        if name in cols:
            v = _apply(cols[name], unesc)
            visitor = v if visitor is None else pc.coalesce(visitor.cast(pa.string()), v.cast(pa.string())).dictionary_encode()
    out["visitor"] = visitor
    out["ip"], chain = _client_address(cols, unesc)
    for name in ("method", "path", "query"):
        out[name] = request.pop(name)
    status = cols.get("status")
    out["status"] = None if status is None else _apply(status, lambda v: pc.cast(v, pa.int16()), encode=False)
    size = cols.get("body_bytes_sent", cols.get("bytes_sent"))
    out["bytes"] = None if size is None else pc.cast(_missing_to_null(size.cast(pa.string())), pa.int64())
    out["referer"] = _apply(cols["http_referer"], unesc) if "http_referer" in cols else None
    out["user_agent"] = _apply(cols["http_user_agent"], unesc) if "http_user_agent" in cols else None
    derived = {k: request[k] for k in ("request_host", "protocol") if k in request}  # after the standard columns
    if chain is not None:
        derived["forwarded_for"] = chain
    consumed = {
        "msec", "time_iso8601", "time_local__date", "time_local__zone", "request", "request_method",
        "request_uri", "uri", "args", "status", "body_bytes_sent", "bytes_sent", "remote_addr",
        "http_referer", "http_user_agent", "ut_id", f"cookie_{cookie}", *_CHAINS,
    }
    arrays, fields = [], []
    for name in _SCHEMA.names:
        arr = out[name]
        typ = _SCHEMA.field(name).type
        arrays.append(pa.nulls(n, typ) if arr is None else arr.cast(typ))
        fields.append(pa.field(name, typ))
    for name, arr in derived.items():
        arrays.append(arr.cast(_DICT))
        fields.append(pa.field(name, _DICT))
    for name in cols:
        if name in consumed or name in out or name in derived:
            continue
        arr = cols[name]
        if name == "request_time":
            arr = pc.cast(_missing_to_null(arr.cast(pa.string())), pa.float64())
        elif name in ("request_length", "bytes_sent", "connection", "connection_requests"):
            arr = pc.cast(_missing_to_null(arr.cast(pa.string())), pa.int64())
        else:
            arr = _apply(arr, unesc) if pa.types.is_dictionary(arr.type) else unesc(arr.cast(pa.string()))
        arrays.append(arr)
        fields.append(pa.field(name, arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)), bad_time, bad_request


# reading ---------------------------------------------------------------------------------------
def _iter_tables(
    paths,
    *,
    log_format: str | LogFormat | Iterable[str | LogFormat] = "auto",
    nginx_conf: str | os.PathLike | None = None,
    format_name: str | Iterable[str] | None = None,
    cookie: str = "UT_ID",
    parser: str = "auto",
    accounting: Accounting,
    progress: bool | None = None,
    block_size: int = BLOCK_SIZE,
    resume: dict[str, tuple] | None = None,
    families: set | None = None,
) -> Iterator[pa.Table]:
    """Parse ``paths`` block by block into Arrow tables of requests, counting into ``accounting``.

    ``resume`` maps a plain (uncompressed) file to ``(offset, lines)`` or ``(offset, lines,
    record)``: the byte offset and line number where to go on reading it (the part an earlier run
    has read is skipped), and that run's record of the file (its entry in
    :attr:`Accounting.files`). With the record, the read goes on as the read of the whole file
    would: with the formats found so far, and the record it gives covers the whole file.
    ``families`` holds the rotated families (:func:`family_of`) read already, whose format is known
    (a file of one of them is not refused for beginning with junk); it is updated.
    """
    if parser not in ("auto", "regex"):
        raise ValueError(f"parser must be 'auto' or 'regex'; got {parser!r}")
    fixed = _fixed_formats(log_format, nginx_conf, format_name)
    files = log_files(paths)
    if not files:
        named = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        raise RecsysError(
            f"no access logs found in {', '.join(map(os.fspath, named)) or 'an empty list of paths'}; "
            "give log files or directories holding access.log files"
        )
    sizes = [os.path.getsize(f) if f != "-" else 0 for f in files]
    families = set() if families is None else families  # families with a file read already: format known
    with progress_bar(total=sum(sizes) or None, unit="B", desc="reading logs", enable=progress) as bar:
        for path in files:
            stream, tell = _open(path)
            offset, first_line, *earlier = (resume or {}).get(path, (0, 0))
            if offset:
                stream.seek(offset)
            reader = _Formats(path, first_line, earlier[0] if earlier else None, detect=fixed is None)
            stats = reader.stats
            family = family_of(path)
            done = offset
            try:
                head = _read_head(stream, stats["warnings"])
                if not head:
                    accounting.files.append(stats)
                    continue
                strict = not offset and family not in families
                reader.known = _start_formats(fixed, head, path, known=reader.known, strict=strict,
                                              first_line=first_line)
                first = reader.known[0] if reader.known else None
                fast = parser == "auto"
                # the tokenizer reads block k+1 in a thread while block k is converted here
                chunks = _blocks(_Prefixed(head, stream), block_size, stats["warnings"], buffers=3)
                work = ((c, _tokenize(c, first) if fast and first is not None and not reader.switched else None)
                        for c in chunks)
                for block, tokens in _in_background(work):
                    table = _parse_block(block, tokens, reader, cookie, path, accounting, fast)
                    if table.num_rows:
                        yield table
                    now = tell()
                    bar.update(max(now - done, 0))
                    done = now
                families.add(family)
            finally:
                if path != "-":
                    stream.close()
                    getattr(stream, "raw", stream).close()
            if getattr(stream, "warning", None):
                stats["warnings"].append(stream.warning)
            accounting.files.append(stats)
            for w in stats["warnings"][len(reader.earlier_warnings):]:
                log.warning("%s: %s", path, w)
            log.info("%s: %d lines, %d malformed", path, stats["lines"], stats["malformed"])


def family_of(path: str) -> tuple[str, str]:
    """A rotated family: the directory and the name without rotation suffixes."""
    m = _ROTATED.match(os.path.basename(path))
    return os.path.dirname(os.path.abspath(path)) if path != "-" else "-", m.group("stem") if m else path


class _Formats:
    """The log formats of one file: the order its lines try them in, and what each took.

    ``stats`` is the file's record in :attr:`Accounting.files`: ``path``, ``lines``,
    ``malformed``, ``format`` and ``escape`` (those of its first lines), ``formats`` (one entry
    per format found, in the order they first appear: ``format``, ``escape``, ``template``,
    ``first_line``, ``last_line``, ``lines``) and ``warnings``.
    """

    def __init__(self, path: str, first_line: int, record: dict | None, *, detect: bool) -> None:
        self.path, self.detect = path, detect
        if record is None:
            self.stats = {"path": path, "lines": first_line, "malformed": 0, "format": None, "formats": [],
                          "warnings": []}
        else:  # the record of the part read already: go on with it
            self.stats = copy.deepcopy(record)
            self.stats.update(path=path, lines=first_line)
            self.stats.setdefault("formats", [])
        self.earlier_warnings = list(self.stats["warnings"])
        self.known: list[LogFormat] = [_format_of(e) for e in self.stats["formats"]] if detect else []
        self.switched = False  # the first format took no line of the last block: skip its tokenizer

    def add(self, parts: list[_Part], before: int) -> None:
        """Count what each format took in a block whose first line follows line ``before``."""
        entries = {(e["template"], e["escape"]): e for e in self.stats["formats"]}
        new = []
        for part in parts:
            entry = entries.get((part.fmt.template, part.fmt.escape))
            if not part.lines:
                continue
            if entry is None:
                new.append((part.line_of(int(part.rows()[0]), before), part))
            else:
                entry["lines"] += part.lines
                entry["last_line"] = part.last_line(before)
        for first, part in sorted(new, key=lambda fp: fp[0]):  # the record lists them as they appear
            fmt = part.fmt
            name = fmt.name or fmt.template
            if self.stats["formats"]:
                log.warning("%s: line %d is the first in log format %s (the lines before are in %s)", self.path,
                            first, name, ", ".join(e["format"] for e in self.stats["formats"]))
            else:
                self.stats["format"], self.stats["escape"] = name, fmt.escape
            self.stats["formats"].append({"format": name, "escape": fmt.escape, "template": fmt.template,
                                          "first_line": first, "last_line": part.last_line(before),
                                          "lines": part.lines})


def _format_of(entry: dict) -> LogFormat:
    """The format a record's entry names (a preset by its name)."""
    if entry["format"] in PRESETS and _preset(entry["format"]).template == entry.get("template", entry["format"]):
        return _preset(entry["format"])
    return LogFormat(entry.get("template", entry["format"]), entry.get("escape", "default"), entry["format"])


def _line_starts(chunk: _Chunk) -> np.ndarray:
    nl = chunk.newlines()
    return np.concatenate([[0], nl[:-1] + 1]).astype(np.int64)


class _Part:
    """What one format made of lines of a block: its rows, the malformed lines among them, the
    lines it does not match (``failed``, offsets of line starts, in order)."""

    def __init__(self, chunk: _Chunk, parsed: _Block, fmt: LogFormat, cookie: str, accounting: Accounting) -> None:
        self.chunk, self.fmt, self.n_lines = chunk, fmt, parsed.n_lines
        self.lines = parsed.n_lines - len(parsed.skipped)  # lines the format matched
        self._gone = np.array(sorted(o for o, _, _ in parsed.skipped), np.int64)
        self._rows: np.ndarray | None = None
        self.failed = np.array(sorted(o for o, k, _ in parsed.skipped if k == "format"), np.int64)
        self.skipped = [s for s in parsed.skipped if s[1] != "format"]
        table, bad_time, bad_request = _standardize(parsed.columns, fmt, cookie, self.lines)
        drop = bad_time | bad_request
        self.keep = ~drop
        if drop.any():
            rows = np.flatnonzero(drop)
            want = (bad_time.any() and accounting.wants_example("time")) or (
                (bad_request & ~bad_time).any() and accounting.wants_example("request"))
            starts = self.rows()[rows].tolist() if want else [-1] * len(rows)
            self.skipped += [(s, "time" if bad_time[r] else "request", None) for s, r in zip(starts, rows)]
            table = table.filter(pa.array(self.keep))
        self.table = table

    def rows(self) -> np.ndarray:
        """Offsets of the lines the format matched: one per row, before malformed ones are dropped."""
        if self._rows is None:
            starts = _line_starts(self.chunk)
            self._rows = starts[~np.isin(starts, self._gone)] if len(self._gone) else starts
        return self._rows

    def line_of(self, offset: int, before: int) -> int:
        """The line number of the line at ``offset`` in a block whose first line follows ``before``."""
        return before + self.chunk.buf.count(b"\n", 0, offset) + 1

    def last_line(self, before: int) -> int:
        """The line number of the last line the format matched (cheap when it is the block's last)."""
        last = self.chunk.buf.rfind(b"\n", 0, self.chunk.size - 1) + 1
        if self._rows is None and not (len(self._gone) and self._gone[-1] == last):
            return before + self.n_lines
        return self.line_of(int(self.rows()[-1]), before)

    def relocate(self, chunk: _Chunk, starts: np.ndarray, sub_starts: np.ndarray) -> None:
        """Offsets in the block ``chunk``, for a part parsed from some of its lines."""
        where = lambda offsets: starts[np.searchsorted(sub_starts, offsets)]
        self._rows = where(self.rows())
        self._gone = where(self._gone)
        self.failed = where(self.failed)
        self.skipped = [(int(where(o)) if o >= 0 else -1, k, t) for o, k, t in self.skipped]
        self.chunk = chunk


def _parse_with(chunk: _Chunk, tokens, fmt: LogFormat, cookie: str, accounting: Accounting) -> _Part:
    parsed = None if tokens is None else _fields_to_columns(tokens, fmt)
    return _Part(chunk, _regex_path(chunk, fmt) if parsed is None else parsed, fmt, cookie, accounting)


def _lines_of(chunk: _Chunk, starts: np.ndarray, n_lines: int) -> tuple[_Chunk, np.ndarray]:
    """A block of only the lines starting at ``starts``, and where each starts in it."""
    if len(starts) == n_lines:
        return chunk, starts
    view = chunk.view()
    spans = [(s, chunk.find(b"\n", s) + 1) for s in starts.tolist()]
    data = bytearray(b"".join(view[a:b] for a, b in spans))
    lengths = np.array([b - a for a, b in spans], np.int64)
    return _Chunk(data, len(data)), np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)


def _line_array(chunk: _Chunk) -> pa.Array:
    """The lines of a block as strings, without newline and carriage returns."""
    nl = chunk.newlines()
    offsets = np.concatenate([[0], nl + 1]).astype(np.int64)
    raw = pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(nl), [None, pa.py_buffer(offsets),
                                                                       pa.py_buffer(chunk.view())])
    raw = pc.binary_slice(raw, 0, -1)
    try:
        lines = raw.cast(pa.large_string())
    except pa.ArrowInvalid:
        lines = pa.array([b.decode("utf-8", "replace") for b in raw.to_pylist()], pa.large_string())
    return pc.utf8_rtrim(lines, characters="\r")


def _parse_block(chunk, tokens, reader: _Formats, cookie, path, accounting, fast) -> pa.Table:
    """The block's rows, each line parsed by the first of the file's formats that matches it."""
    stats = reader.stats
    first_line = stats["lines"]
    parts: list[_Part] = []
    if reader.known:
        parts.append(_parse_with(chunk, tokens, reader.known[0], cookie, accounting))
        n_lines, failed = parts[0].n_lines, parts[0].failed
    else:
        failed = _line_starts(chunk)
        n_lines = len(failed)
    k = len(parts)  # the next format to try: none is known yet in a file that began with junk
    while len(failed) and (k < len(reader.known) or reader.detect):
        sub, sub_starts = _lines_of(chunk, failed, n_lines)
        if k == len(reader.known):  # lines in none of the formats found so far: in a preset?
            found, _ = _first_presets(_line_array(sub), reader.known)
            if not found:
                break
            reader.known.append(found[0])
        fmt = reader.known[k]
        k += 1
        part = _parse_with(sub, _tokenize(sub, fmt) if fast else None, fmt, cookie, accounting)
        if sub is not chunk:
            part.relocate(chunk, failed, sub_starts)
        parts.append(part)
        failed = part.failed
    reader.switched = bool(parts) and not parts[0].lines and len(parts) > 1
    skipped = [s for p in parts for s in p.skipped] + [(o, "format", None) for o in failed.tolist()]
    for offset, kind, text in sorted(skipped, key=lambda b: b[0]):
        accounting.add_malformed(kind)
        if accounting.wants_example(kind) and offset >= 0:
            line = first_line + chunk.buf.count(b"\n", 0, offset) + 1
            if text is None:
                text = chunk.text(offset, chunk.find(b"\n", offset)).rstrip("\r")
            accounting.add_example(path, line, kind, text)
    reader.add(parts, first_line)
    accounting.lines += n_lines
    stats["lines"] += n_lines
    stats["malformed"] += len(skipped)
    return _in_log_order(parts)


def _in_log_order(parts: list[_Part]) -> pa.Table:
    """The rows of all parts of a block in the order of their lines."""
    full = [p for p in parts if p.table.num_rows]
    if len(full) <= 1:
        return full[0].table if full else (parts[0].table if parts else _SCHEMA.empty_table())
    order = np.argsort(np.concatenate([p.rows()[p.keep] for p in full]), kind="stable")
    table = _concat_tables([p.table for p in full]).combine_chunks()
    return table.take(pa.array(order))


def _concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Tables of one or more formats as one: columns a format lacks are missing, types aligned."""
    types: dict[str, pa.DataType] = {}
    for t in tables:
        for f in t.schema:
            types.setdefault(f.name, f.type)
    aligned = []
    for t in tables:
        for i, f in enumerate(t.schema):
            want = types[f.name]
            if f.type != want:
                col = t.column(i)
                if pa.types.is_dictionary(want) and not pa.types.is_dictionary(f.type):
                    col = pc.cast(col, want.value_type).dictionary_encode()
                else:
                    col = pc.cast(col, want)
                t = t.set_column(i, f.name, col)
        aligned.append(t)
    return pa.concat_tables(aligned, promote_options="default").unify_dictionaries()


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    mapping = {pa.int16(): pd.Int16Dtype(), pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype()}
    return table.to_pandas(types_mapper=mapping.get)


def _concat(tables: list[pa.Table]) -> pa.Table:
    return _concat_tables(tables) if tables else _SCHEMA.empty_table()


def read_logs(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    log_format: str | LogFormat | Iterable[str | LogFormat] = "auto",
    nginx_conf: str | os.PathLike | None = None,
    format_name: str | Iterable[str] | None = None,
    cookie: str = "UT_ID",
    parser: str = "auto",
    accounting: Accounting | None = None,
    progress: bool | None = None,
    block_size: int = BLOCK_SIZE,
) -> pd.DataFrame:
    """Read nginx access logs into one row per request.

    Parameters
    ----------
    paths : path, directory, ``"-"`` or a list of them
        Log files (plain, gzip, bzip2 or xz), directories of rotated logs (read oldest first, see
        :func:`log_files`) and ``"-"`` for standard input.
    log_format : str, LogFormat or a list of them, default "auto"
        ``"auto"`` (the presets the lines are in: found on the first lines of each file, and on
        any later lines that match none of the formats found so far), a preset name
        (``combined``, ``combined_ut``, ``tsv``, ``json``), an nginx ``log_format`` string, or a
        list of those for files that hold several formats. Each line is read by the first of the
        file's formats that matches it (``auto``: in the order they first appear; a list: in its
        order); lines that match none are malformed.
    nginx_conf, format_name : optional
        Read the ``log_format`` named ``format_name`` (or each of a list of names) out of this
        nginx configuration instead.
    cookie : str, default "UT_ID"
        The cookie naming the visitor: ``$cookie_<cookie>`` (or ``$ut_id``) gives ``visitor``.
    parser : {"auto", "regex"}
        ``"regex"`` forces the reference parser (the fast path gives the same result).
    accounting : Accounting, optional
        Counts of lines and malformed lines are added to it; a new one is made otherwise. It is
        also stored in ``result.attrs["accounting"]`` for :func:`recsys.page_views`.
    progress : bool, optional
        Show a progress bar (default: when standard error is a terminal).
    block_size : int
        Bytes read at a time; memory use grows with it, not with the logs.

    Returns
    -------
    pandas.DataFrame
        ``ts`` (UTC), ``visitor``, ``ip``, ``method``, ``path``, ``query``, ``status``, ``bytes``,
        ``referer``, ``user_agent``; ``request_host`` (the host of an absolute request target) when
        the format logs ``$request`` or ``$request_uri``, ``protocol`` when it logs ``$request``,
        ``forwarded_for`` (the address chain; ``ip`` is then its client, see :func:`client_of`)
        when it logs ``$http_x_forwarded_for`` or ``$proxy_add_x_forwarded_for``; then any other
        variable of the format, named after it. Strings are categoricals; missing values (``-`` or
        empty in the log) are missing. Rows
        are in the order of the lines. The accounting's ``files`` say which formats each file held, from
        which line to which, and how many lines each read.

    Raises
    ------
    LogParseError
        When most of the first lines of a file do not match the formats (unless only its first
        lines are junk, or an earlier file of its rotated family was read).
    LogFormatError
        When the format cannot be compiled or found.

    Examples
    --------
    >>> import io, sys
    >>> line = '::1 - - [01/Feb/2024:10:00:00 +0100] "GET /archives/7?utm_source=x HTTP/1.1" 200 512 "-" "Firefox" "abc"'
    >>> sys.stdin = io.TextIOWrapper(io.BytesIO((line + "\\n").encode()))
    >>> read_logs("-").iloc[0][["ts", "visitor", "path", "query", "status"]].astype(str).tolist()
    ['2024-02-01 09:00:00+00:00', 'abc', '/archives/7', 'utm_source=x', '200']
    >>> sys.stdin = sys.__stdin__
    """
    accounting = Accounting() if accounting is None else accounting
    tables = list(
        _iter_tables(
            paths, log_format=log_format, nginx_conf=nginx_conf, format_name=format_name,
            cookie=cookie, parser=parser, accounting=accounting, progress=progress,
            block_size=block_size,
        )
    )
    df = _to_pandas(_concat(tables))
    df.attrs["accounting"] = accounting
    return df


def iter_logs(paths, *, block_size: int = BLOCK_SIZE, accounting: Accounting | None = None, **options) -> Iterator[pd.DataFrame]:
    """Like :func:`read_logs`, one DataFrame per block: for logs too large to hold at once.

    >>> list(iter_logs([]))
    Traceback (most recent call last):
    ...
    recsys.errors.RecsysError: no access logs found in an empty list of paths; ...
    """
    accounting = Accounting() if accounting is None else accounting
    for table in _iter_tables(paths, accounting=accounting, block_size=block_size, **options):
        df = _to_pandas(table)
        df.attrs["accounting"] = accounting
        yield df
