"""The two parsers of a block of lines: pyarrow's CSV tokenizer (the fast path) and the regex.

:func:`tokenize` splits a block into fields with pyarrow's multi-threaded CSV tokenizer, after
setting aside the lines it would misread (invalid UTF-8, a quote left open or missing), which are
malformed; :func:`fields_to_columns` then checks each field once per distinct value. When either
cannot decide, :func:`regex_path` matches every line against the format's regular expression (the
reference parser: both give the same rows and the same malformed lines).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from .columns import DICT, TIME_TEMPLATES, apply_per_value, bool_rows, is_count, local_seconds, one_chunk
from .files import Chunk
from .formats import COUNT, HIGH_CARDINALITY, LogFormat

__all__ = ["Block", "Tokens", "tokenize", "fields_to_columns", "regex_path"]

_MAX_INVALID = 1000  # rows the CSV reader may set aside in a block before the regex takes over


@dataclass
class Block:
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


def _invalid_utf8_lines(chunk: Chunk, most: int = 2000) -> list[tuple[int, int, str]] | None:
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

    def __init__(self, chunk: Chunk, aside: list[tuple[int, int, str]]) -> None:
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
                column_types={n: pa.string() if f.high_cardinality else DICT for n, f in zip(names, fields)},
                check_utf8=False,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:  # e.g. a quote left open at the end of the block
        return None
    return one_chunk(table), invalid


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
class Tokens:
    """A block split into fields by the CSV tokenizer: one row per well-formed line."""

    table: pa.Table
    n_lines: int
    skipped: list[tuple[int, str, str]]


def _fast_path(chunk: Chunk, fmt: LogFormat) -> Block | None:
    """Split ``chunk`` with pyarrow's CSV tokenizer; ``None`` when the regex must decide."""
    tokens = tokenize(chunk, fmt)
    return None if tokens is None else fields_to_columns(tokens, fmt)


def tokenize(chunk: Chunk, fmt: LogFormat) -> Tokens | None:
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
    return Tokens(table, table.num_rows + len(invalid) + len(aside) + n_wrong, skipped)


def fields_to_columns(tokens: Tokens, fmt: LogFormat) -> Block | None:
    """Validate each field (once per distinct value) and take the variables out of it."""
    table = tokens.table
    columns: dict[str, pa.Array] = {}
    for name, field in zip(table.column_names, fmt.fields):
        arr = table.column(name).chunk(0) if table.num_rows else pa.array([], DICT)
        if field.variables == ("time_local__date",) and field.items[-1][0] == "var":
            # read the time at once, every character checked: no regex needed (an impossible
            # date goes to the regex path, which counts it as a time error)
            prefix = field.items[0][1] if field.items[0][0] == "lit" else ""
            seconds = local_seconds(TIME_TEMPLATES["time_local"], prefix)(arr)
            if seconds.null_count:
                return None
            columns["time_local__date"] = seconds
            continue
        if not _trivial(field):
            if field.regex == "^(?P<%s>%s)$" % (field.items[0][1], COUNT):
                check = is_count  # the same test, several times faster
            else:
                check = lambda v, rx=field.regex: pc.match_substring_regex(v, rx)
            if not bool_rows(arr, check).all():
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
                arr = apply_per_value(arr, cut, encode=not field.high_cardinality)
            columns[groups[0]] = arr
        else:
            structs = apply_per_value(arr, lambda v, rx=field.regex: pc.extract_regex(v, rx), encode=False)
            for var in groups:
                if var not in columns:
                    child = pc.struct_field(structs, var)
                    columns[var] = child if field.high_cardinality else child.dictionary_encode()
    return Block(columns, tokens.n_lines, tokens.skipped)


def regex_path(chunk: Chunk, fmt: LogFormat) -> Block:
    """Split ``chunk`` into lines and match each against the format's regular expression."""
    offsets, raw = chunk.raw_lines()
    nl, n = offsets[1:] - 1, len(raw)
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
    return Block(columns, n, skipped)
