"""Reading nginx access logs into a table of requests.

:func:`read_logs` takes files, directories of rotated logs (``access.log``, ``access.log.1``,
``access.log.2.gz``, ... read oldest first), compressed files and ``-`` for standard input, in any
nginx ``log_format``. Lines are read in blocks of tens of megabytes; a block is split into fields by
pyarrow's multi-threaded CSV tokenizer when the format allows it (the fast path) and by the format's
regular expression otherwise, or whenever a block holds anything the fast path could misread. Work
on strings is done once per distinct value (dictionary encoding), never once per line in Python.

Every line is accounted for (:class:`recsys.Accounting`): malformed lines are counted by kind and
the first few kept as examples.
"""

from __future__ import annotations

import bz2
import io
import logging
import lzma
import os
import re
import sys
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
from .errors import LogParseError, RecsysError
from .formats import PRESETS, LogFormat, resolve_log_format, unescape
from .progress import progress_bar

__all__ = ["read_logs", "iter_logs", "log_files", "detect_format", "STANDARD_COLUMNS"]

log = logging.getLogger(__name__)

#: Columns of :func:`read_logs`, whatever the log format (missing values where it lacks them).
STANDARD_COLUMNS = (
    "ts", "visitor", "ip", "method", "path", "query", "status", "bytes", "referer", "user_agent",
)
BLOCK_SIZE = 32 << 20
PROBE_LINES = 1000
_DICT = pa.dictionary(pa.int32(), pa.string())
_MISSING = pa.array(["-", ""])
_REQUEST = r"^(?P<method>[A-Z][A-Z0-9_-]*) (?P<target>[^ ]+)(?: HTTP/\d(?:\.\d)?)?$"
_ROTATED = re.compile(
    r"^(?P<stem>.+?)(?:\.(?P<num>\d+)|-(?P<date>\d{8}(?:\d{2})?))?(?P<comp>\.gz|\.bz2|\.xz)?$"
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


def _open(path: str) -> tuple[BinaryIO, Callable[[], int]]:
    """A binary stream of the decompressed file, and a function telling the raw bytes read."""
    if path == "-":
        return sys.stdin.buffer, lambda: 0
    raw = open(path, "rb")
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(b"\x1f\x8b"):
        return _Decompressed(raw, lambda: zlib.decompressobj(wbits=31)), raw.tell
    if magic.startswith(b"BZh"):
        return _Decompressed(raw, bz2.BZ2Decompressor), raw.tell
    if magic.startswith(b"\xfd7zXZ\x00"):
        return _Decompressed(raw, lzma.LZMADecompressor), raw.tell
    return raw, raw.tell


class _Prefixed(io.RawIOBase):
    """``head`` then the rest of ``stream``: lets the format probe look ahead on any stream."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self.head, self.pos, self.stream = head, 0, stream

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

    def count_lines(self) -> int:
        return int(np.count_nonzero(self.array() == 10))

    def newlines(self) -> np.ndarray:
        return np.flatnonzero(self.array() == 10)

    def text(self, start: int, end: int) -> str:
        return bytes(self.buf[start:end]).decode("utf-8", "backslashreplace")


def _blocks(stream: BinaryIO, size: int, warnings: list[str]) -> Iterator[_Chunk]:
    """Blocks of about ``size`` bytes of whole lines, read into one reused buffer.

    A block is valid until the next one is read; a newline is added after a last unterminated
    line. A line longer than the buffer makes the buffer grow. Read errors of a damaged archive
    end the stream early and are appended to ``warnings``.
    """
    buf = bytearray(size)
    end = 0  # bytes held in buf
    eof = False
    while not eof:
        with memoryview(buf) as mv:
            try:
                n = stream.readinto(mv[end:]) if end < len(buf) else 0
            except (OSError, EOFError, lzma.LZMAError) as e:  # a truncated or corrupt archive
                warnings.append(f"stopped reading early: {e}")
                n = 0
        if not n:
            eof = True
            if not end:
                break
            if buf[end - 1] != 10:
                if end == len(buf):
                    buf = buf + bytearray(1)
                buf[end] = 10
                end += 1
            yield _Chunk(buf, end)
            break
        end += n
        cut = buf.rfind(b"\n", 0, end)
        if cut < 0:
            if end == len(buf):
                buf = buf + bytearray(len(buf))  # a new, larger buffer; the old one may be in use
            continue
        yield _Chunk(buf, cut + 1)
        tail = end - cut - 1
        buf[:tail] = buf[cut + 1 : end]
        end = tail


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


def _match_rate(fmt: LogFormat, lines: list[str]) -> tuple[int, int | None]:
    """How many of ``lines`` match, and the index of the first that does not."""
    rx = re.compile(fmt.regex)
    ok, first_bad = 0, None
    for i, line in enumerate(lines):
        if rx.match(line):
            ok += 1
        elif first_bad is None:
            first_bad = i
    return ok, first_bad


def detect_format(lines: list[str]) -> LogFormat | None:
    """The preset that parses most of ``lines`` (more than half of them), or ``None``.

    >>> detect_format(['::1 - - [01/Feb/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl" "-"']).name
    'combined_ut'
    """
    best, best_ok = None, 0
    for name in PRESETS:
        fmt = LogFormat.preset(name)
        ok, _ = _match_rate(fmt, lines)
        if ok > best_ok:
            best, best_ok = fmt, ok
    return best if lines and 2 * best_ok > len(lines) else None


def _choose_format(fmt: LogFormat | None, head: bytes, path: str) -> LogFormat:
    lines = _probe_lines(head)
    tried = fmt
    if fmt is None:
        fmt = detect_format(lines)
        if fmt is not None:
            log.info("%s: detected log format %s", path, fmt.name)
            return fmt
    else:
        ok, _ = _match_rate(fmt, lines)
        if 2 * ok > len(lines):
            return fmt
    shown = (
        f"the log format {tried.name or 'given'} ({tried.template!r})"
        if tried
        else f"any preset ({', '.join(PRESETS)})"
    )
    first_bad = _match_rate(tried, lines)[1] if tried else 0
    line = lines[first_bad or 0]
    raise LogParseError(
        f"{path}: most of the first {len(lines)} lines do not match {shown}; "
        f"line {(first_bad or 0) + 1} is: {line[:300]!r}. Pass the log_format your nginx writes, "
        "as in nginx.conf: --log-format '$remote_addr - $remote_user [$time_local] \"$request\" ...' "
        "(or --nginx-conf /etc/nginx/nginx.conf --format-name NAME)",
        path=path,
        line_number=(first_bad or 0) + 1,
        line=line,
    )


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


def _missing_to_null(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.is_in(values, _MISSING), pa.scalar(None, values.type), values)


def _unescaper(mode: str) -> Callable[[pa.Array], pa.Array]:
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
    """A parsed block: raw group values per row, and where each row came from."""

    columns: dict[str, pa.Array]
    n_lines: int
    row_lines: np.ndarray | None  # line index of each row; None means row i is line i
    bad_lines: list[tuple[int, str, str]]  # (line index, kind, text) of malformed lines


def _line_text(chunk: _Chunk, nl: np.ndarray, i: int) -> str:
    return chunk.text(0 if i == 0 else int(nl[i - 1]) + 1, int(nl[i]))


def _trivial(field) -> bool:
    return len(field.items) == 1 and field.quoted and field.regex == '^(?P<%s>[^"]*)$' % field.items[0][1]


@lru_cache(maxsize=64)
def _accepts_empty_line(fmt: LogFormat) -> bool:
    return all(re.match(f.regex, "") for f in fmt.fields)


def _fast_path(chunk: _Chunk, fmt: LogFormat) -> _Block | None:
    """Split ``chunk`` with pyarrow's CSV tokenizer; ``None`` when the regex must decide."""
    fields = fmt.fields
    if fields is None:
        return None
    if chunk.array().max() >= 0x80 or chunk.find(b"\r") >= 0:
        return None  # raw non-ASCII or CR: nginx never writes them with escape=default
    if _accepts_empty_line(fmt) and (chunk.buf[0] == 10 or chunk.find(b"\n\n") >= 0):
        return None  # the CSV reader would read an empty line as a row of empty fields
    invalid: list[str] = []

    def on_invalid(row) -> str:
        invalid.append(row.text)
        return "skip"

    names = [f"f{i}" for i in range(len(fields))]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(chunk.view())),
            read_options=pacsv.ReadOptions(column_names=names, block_size=4 << 20),
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
    table = table.unify_dictionaries().combine_chunks()
    # Rows and skipped lines count every line once, unless an unbalanced quote made the reader
    # join lines: then a quoted value, or a skipped text, holds a newline.
    if any("\n" in text for text in invalid):
        return None
    for name, field in zip(names, fields):
        if field.quoted and table.num_rows:
            col = table.column(name).chunk(0)
            values = col.dictionary if pa.types.is_dictionary(col.type) else col
            if pc.any(pc.match_substring(values, "\n")).as_py():
                return None
    n_lines = table.num_rows + len(invalid)
    columns: dict[str, pa.Array] = {}
    for name, field in zip(names, fields):
        arr = table.column(name).chunk(0) if table.num_rows else pa.array([], _DICT)
        if not _trivial(field):
            if field.regex == r"^(?P<%s>\d+)$" % field.items[0][1]:
                check = pc.ascii_is_decimal  # the same test, several times faster
            else:
                check = lambda v, rx=field.regex: pc.match_substring_regex(v, rx)
            if not _bool_rows(arr, check).all():
                return None  # a field that does not validate: the regex path classifies it
        if field.is_literal:
            continue
        (kind, _), (kind_last, _) = field.items[0], field.items[-1]
        if len(field.variables) == 1:
            prefix = len(field.items[0][1]) if kind == "lit" else 0
            suffix = len(field.items[-1][1]) if kind_last == "lit" else 0
            if prefix or suffix:
                cut = lambda v, a=prefix, b=suffix: pc.utf8_slice_codeunits(v, a, -b if b else None)
                arr = _apply(arr, cut, encode=not field.high_cardinality)
            columns[field.variables[0]] = arr
        else:
            structs = _apply(arr, lambda v, rx=field.regex: pc.extract_regex(v, rx), encode=False)
            for var in field.variables:
                if var not in columns:
                    child = pc.struct_field(structs, var)
                    columns[var] = child if field.high_cardinality else child.dictionary_encode()
    row_lines = None
    bad: list[tuple[int, str, str]] = []
    if invalid:
        nl = chunk.newlines()
        starts = np.concatenate([[0], nl[:-1] + 1])
        idx = []
        seen: dict[str, int] = {}
        for text in invalid:  # find each skipped line (identical lines in turn)
            needle = text.encode("utf-8", "surrogateescape") + b"\n"
            pos = chunk.find(needle, seen.get(text, 0))
            while pos > 0 and chunk.buf[pos - 1] != 10:
                pos = chunk.find(needle, pos + 1)
            seen[text] = pos + 1
            line = int(np.searchsorted(starts, pos, side="right") - 1) if pos >= 0 else -1
            idx.append(line)
            bad.append((line, "format", text))
        row_lines = np.delete(np.arange(n_lines), [i for i in idx if i >= 0])
    return _Block(columns, n_lines, row_lines, bad)


def _regex_path(chunk: _Chunk, fmt: LogFormat) -> _Block:
    """Split ``chunk`` into lines and match each against the format's regular expression."""
    nl = chunk.newlines()
    n = len(nl)
    offsets = np.concatenate([[0], nl + 1]).astype(np.int64)
    raw = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chunk.view())]
    )
    raw = pc.binary_slice(raw, 0, -1)  # drop the newline; a copy, free of the reused buffer
    bad: list[tuple[int, str, str]] = []
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
                bad.append((int(i), "encoding", text.decode("utf-8", "backslashreplace")))
        raw = pc.if_else(pa.array(keep), raw, pa.scalar(b"", pa.large_binary()))
        lines = raw.cast(pa.large_string())
    lines = pc.utf8_rtrim(lines, characters="\r")
    structs = pc.extract_regex(lines, fmt.regex)
    matched = structs.is_valid().to_numpy(zero_copy_only=False) & keep
    for i in np.flatnonzero(~matched & keep):
        bad.append((int(i), "format", lines[int(i)].as_py()))
    rows = np.flatnonzero(matched)
    structs = structs.take(pa.array(rows)) if len(rows) < n else structs
    columns = {}
    for name in fmt.groups:
        child = pc.struct_field(structs, name).cast(pa.string())
        high = name in ("msec", "body_bytes_sent", "bytes_sent", "request_length", "request_time")
        columns[name] = child if high else child.dictionary_encode()
    return _Block(columns, n, None if len(rows) == n else rows, bad)


# from raw values to the standard columns --------------------------------------------------------
def _strict_time(fmt: str) -> Callable[[pa.Array], pa.Array]:
    """Parse local times strictly: 31/Feb is an error, not 2 March (pyarrow is lenient)."""

    def parse(values: pa.Array) -> pa.Array:
        t = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
        same = pc.equal(pc.strftime(t, format=fmt), values)
        return pc.if_else(pc.fill_null(same, False), t, pa.scalar(None, t.type)).cast(pa.int64())

    return parse


def _zone_seconds(values: pa.Array) -> pa.Array:
    """UTC offsets in seconds from ``+0100``, ``-07:00`` or ``Z``."""
    out = []
    for z in values.to_pylist():
        digits = z.replace(":", "")
        sign = -1 if digits.startswith("-") else 1
        out.append(0 if z == "Z" else sign * (int(digits[1:3]) * 3600 + int(digits[3:5]) * 60))
    return pa.array(out, pa.int64())


def _timestamps(cols: dict[str, pa.Array], n: int) -> tuple[pa.Array, np.ndarray]:
    """The ``ts`` column (UTC) and a mask of rows whose time is impossible."""
    ms_type = pa.timestamp("ms", tz="UTC")
    if "msec" in cols:
        ms = pc.round(pc.multiply(pc.cast(cols["msec"], pa.float64()), 1000.0))
        ts = pc.cast(pc.cast(ms, pa.int64()), ms_type)
        return ts, ts.is_null().to_numpy(zero_copy_only=False)
    if "time_iso8601" in cols:
        iso = cols["time_iso8601"]
        local = _apply(iso, lambda v: _strict_time("%Y-%m-%dT%H:%M:%S")(pc.utf8_slice_codeunits(v, 0, 19)), encode=False)
        offset = _apply(iso, lambda v: _zone_seconds(pc.utf8_slice_codeunits(v, 19)), encode=False)
    elif "time_local__date" in cols:
        local = _apply(cols["time_local__date"], _strict_time("%d/%b/%Y:%H:%M:%S"), encode=False)
        offset = _apply(cols["time_local__zone"], _zone_seconds, encode=False)
    else:
        return pa.nulls(n, ms_type), np.zeros(n, bool)
    seconds = pc.subtract(local, offset)
    ts = pc.cast(pc.multiply(seconds, 1000), pa.int64()).cast(ms_type)
    return ts, ts.is_null().to_numpy(zero_copy_only=False)


def _apply_struct(arr: pa.Array, fn: Callable[[pa.Array], pa.Array], names, post=None) -> dict[str, pa.Array]:
    """Children of the struct ``fn`` makes, computed once per distinct value of ``arr``."""
    values = arr.dictionary if pa.types.is_dictionary(arr.type) else arr
    structs = fn(values)
    out = {}
    for name in names:
        child = pc.struct_field(structs, name)
        child = post(child) if post else child
        if pa.types.is_dictionary(arr.type):
            enc = pc.dictionary_encode(child)
            out[name] = pa.DictionaryArray.from_arrays(enc.indices.take(arr.indices), enc.dictionary)
        else:
            out[name] = child.dictionary_encode()
    out["_valid"] = _bool_rows(arr, lambda v: fn(v).is_valid())
    return out


def _request_parts(cols: dict[str, pa.Array], mode: str, n: int):
    """``method``, ``path``, ``query`` and a mask of rows whose request line is not valid."""
    unesc = _unescaper(mode)
    bad = np.zeros(n, bool)
    method = target = None
    if "request" in cols:
        parts = _apply_struct(cols["request"], lambda v: pc.extract_regex(v, _REQUEST), ["method", "target"])
        method, target, bad = parts["method"], parts["target"], ~parts["_valid"]
    else:
        method = cols.get("request_method")
        target = cols.get("request_uri")
        if target is None and "uri" in cols:
            uri, args = cols["uri"].cast(pa.string()), cols.get("args")
            if args is not None:
                args = pc.fill_null(_missing_to_null(args.cast(pa.string())), "")
                uri = pc.if_else(pc.equal(args, ""), uri, pc.binary_join_element_wise(uri, args, "?"))
            target = uri.dictionary_encode()
    if target is None:
        return method, None, None, bad
    split = lambda v: pc.extract_regex(v, r"^(?P<path>[^?]*)(?:\?(?P<query>.*))?$")
    parts = _apply_struct(target, split, ["path", "query"], post=unesc)
    if method is not None:
        method = _apply(method, _missing_to_null)
    return method, parts["path"], parts["query"], bad


def _standardize(cols: dict[str, pa.Array], fmt: LogFormat, cookie: str, n: int):
    """The request table from raw values; also masks of rows malformed by time and by request."""
    mode = fmt.escape
    unesc = _unescaper(mode)
    ts, bad_time = _timestamps(cols, n)
    method, path, query, bad_request = _request_parts(cols, mode, n)
    out: dict[str, pa.Array] = {"ts": ts}
    visitor = None
    for name in ("ut_id", f"cookie_{cookie}"):
        if name in cols:
            v = _apply(cols[name], unesc)
            visitor = v if visitor is None else pc.coalesce(visitor.cast(pa.string()), v.cast(pa.string())).dictionary_encode()
    out["visitor"] = visitor
    out["ip"] = _apply(cols["remote_addr"], unesc) if "remote_addr" in cols else None
    out["method"], out["path"], out["query"] = method, path, query
    status = cols.get("status")
    out["status"] = None if status is None else _apply(status, lambda v: pc.cast(v, pa.int16()), encode=False)
    size = cols.get("body_bytes_sent", cols.get("bytes_sent"))
    out["bytes"] = None if size is None else pc.cast(_missing_to_null(size.cast(pa.string())), pa.int64())
    out["referer"] = _apply(cols["http_referer"], unesc) if "http_referer" in cols else None
    out["user_agent"] = _apply(cols["http_user_agent"], unesc) if "http_user_agent" in cols else None
    consumed = {
        "msec", "time_iso8601", "time_local__date", "time_local__zone", "request", "request_method",
        "request_uri", "uri", "args", "status", "body_bytes_sent", "bytes_sent", "remote_addr",
        "http_referer", "http_user_agent", "ut_id", f"cookie_{cookie}",
    }
    arrays, fields = [], []
    for name in _SCHEMA.names:
        arr = out[name]
        typ = _SCHEMA.field(name).type
        arrays.append(pa.nulls(n, typ) if arr is None else arr.cast(typ))
        fields.append(pa.field(name, typ))
    for name in cols:
        if name in consumed or name in out:
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
    log_format: str | LogFormat = "auto",
    nginx_conf: str | os.PathLike | None = None,
    format_name: str | None = None,
    cookie: str = "UT_ID",
    parser: str = "auto",
    accounting: Accounting,
    progress: bool | None = None,
    block_size: int = BLOCK_SIZE,
) -> Iterator[pa.Table]:
    """Parse ``paths`` block by block into Arrow tables of requests, counting into ``accounting``."""
    if parser not in ("auto", "regex"):
        raise ValueError(f"parser must be 'auto' or 'regex'; got {parser!r}")
    if nginx_conf is not None:
        fixed = LogFormat.from_nginx_conf(nginx_conf, format_name)
    elif format_name is not None:
        raise RecsysError("format_name (--format-name) needs nginx_conf (--nginx-conf)")
    else:
        fixed = resolve_log_format(log_format)
    files = log_files(paths)
    if not files:
        named = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
        raise RecsysError(
            f"no access logs found in {', '.join(map(os.fspath, named)) or 'an empty list of paths'}; "
            "give log files or directories holding access.log files"
        )
    sizes = [os.path.getsize(f) if f != "-" else 0 for f in files]
    with progress_bar(total=sum(sizes) or None, unit="B", desc="reading logs", enable=progress) as bar:
        for path in files:
            stream, tell = _open(path)
            stats = {"path": path, "lines": 0, "malformed": 0, "format": None, "warnings": []}
            done = 0
            try:
                head = _read_head(stream, stats["warnings"])
                if not head:
                    accounting.files.append(stats)
                    continue
                fmt = _choose_format(fixed, head, path)
                stats["format"] = fmt.name or fmt.template
                for block in _blocks(_Prefixed(head, stream), block_size, stats["warnings"]):
                    table = _parse_block(block, fmt, cookie, parser, path, stats, accounting)
                    if table.num_rows:
                        yield table
                    now = tell()
                    bar.update(max(now - done, 0))
                    done = now
            finally:
                if path != "-":
                    stream.close()
                    getattr(stream, "raw", stream).close()
            if getattr(stream, "warning", None):
                stats["warnings"].append(stream.warning)
            accounting.files.append(stats)
            for w in stats["warnings"]:
                log.warning("%s: %s", path, w)
            log.info("%s: %d lines, %d malformed", path, stats["lines"], stats["malformed"])


def _parse_block(block, fmt, cookie, parser, path, stats, accounting) -> pa.Table:
    first_line = stats["lines"]
    parsed = _fast_path(block, fmt) if parser == "auto" else None
    if parsed is None:
        parsed = _regex_path(block, fmt)
    n_rows = len(next(iter(parsed.columns.values()))) if parsed.columns else 0
    table, bad_time, bad_request = _standardize(parsed.columns, fmt, cookie, n_rows)
    bad = list(parsed.bad_lines)
    drop = bad_time | bad_request
    if drop.any():
        rows = np.flatnonzero(drop)
        lines = rows if parsed.row_lines is None else parsed.row_lines[rows]
        nl = None
        for r, ln in zip(rows, lines):
            kind = "time" if bad_time[r] else "request"
            text = ""
            if accounting.wants_example(kind):
                nl = block.newlines() if nl is None else nl
                text = _line_text(block, nl, int(ln))
            bad.append((int(ln), kind, text))
        table = table.filter(pa.array(~drop))
    for ln, kind, text in sorted(bad, key=lambda b: b[0]):
        accounting.add_malformed(kind)
        accounting.add_example(path, first_line + ln + 1, kind, text)
    accounting.lines += parsed.n_lines
    stats["lines"] += parsed.n_lines
    stats["malformed"] += len(bad)
    return table


def _to_pandas(table: pa.Table) -> pd.DataFrame:
    mapping = {pa.int16(): pd.Int16Dtype(), pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype()}
    return table.to_pandas(types_mapper=mapping.get)


def _concat(tables: list[pa.Table]) -> pa.Table:
    if not tables:
        return _SCHEMA.empty_table()
    return pa.concat_tables(tables, promote_options="default").unify_dictionaries().combine_chunks()


def read_logs(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    log_format: str | LogFormat = "auto",
    nginx_conf: str | os.PathLike | None = None,
    format_name: str | None = None,
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
    log_format : str or LogFormat, default "auto"
        ``"auto"`` (the preset that parses the first lines of each file), a preset name
        (``combined``, ``combined_ut``, ``tsv``, ``json``) or an nginx ``log_format`` string.
    nginx_conf, format_name : optional
        Read the ``log_format`` named ``format_name`` out of this nginx configuration instead.
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
        ``referer``, ``user_agent``, then any other variable of the format, named after it. Strings
        are categoricals; missing values (``-`` or empty in the log) are missing.

    Raises
    ------
    LogParseError
        When most of the first lines of a file do not match the format.
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
