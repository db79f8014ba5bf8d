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

import copy
import logging
import os
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .accounting import Accounting
from .columns import SCHEMA, standardize
from .detection import first_presets, fixed_formats, recorded_format, start_formats
from .errors import RecsysError
from .files import Chunk, Prefixed, family_of, in_background, log_files, open_log, read_blocks, read_head
from .formats import LogFormat
from .progress import progress_bar
from .tokenizer import Block, fields_to_columns, regex_path, tokenize

__all__ = ["read_logs", "iter_logs", "iter_tables", "to_pandas", "STANDARD_COLUMNS", "BLOCK_SIZE"]

log = logging.getLogger(__name__)

#: Columns of :func:`read_logs`, whatever the log format (missing values where it lacks them).
STANDARD_COLUMNS = (
    "ts", "visitor", "ip", "method", "path", "query", "status", "bytes", "referer", "user_agent",
)
BLOCK_SIZE = 16 << 20


# reading ---------------------------------------------------------------------------------------
def iter_tables(
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
    fixed = fixed_formats(log_format, nginx_conf, format_name)
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
            stream, tell = open_log(path)
            offset, first_line, *earlier = (resume or {}).get(path, (0, 0))
            if offset:
                stream.seek(offset)
            reader = _Formats(path, first_line, earlier[0] if earlier else None, detect=fixed is None)
            stats = reader.stats
            family = family_of(path)
            done = offset
            try:
                head = read_head(stream, stats["warnings"])
                if not head:
                    accounting.files.append(stats)
                    continue
                strict = not offset and family not in families
                reader.known = start_formats(fixed, head, path, known=reader.known, strict=strict,
                                              first_line=first_line)
                first = reader.known[0] if reader.known else None
                fast = parser == "auto"
                # the tokenizer reads block k+1 in a thread while block k is converted here
                chunks = read_blocks(Prefixed(head, stream), block_size, stats["warnings"], buffers=3)
                work = ((c, tokenize(c, first) if fast and first is not None and not reader.switched else None)
                        for c in chunks)
                for block, tokens in in_background(work):
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
        self.known: list[LogFormat] = [recorded_format(e) for e in self.stats["formats"]] if detect else []
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


class _Part:
    """What one format made of lines of a block: its rows, the malformed lines among them, the
    lines it does not match (``failed``, offsets of line starts, in order)."""

    def __init__(self, chunk: Chunk, parsed: Block, fmt: LogFormat, cookie: str, accounting: Accounting) -> None:
        self.chunk, self.fmt, self.n_lines = chunk, fmt, parsed.n_lines
        self.lines = parsed.n_lines - len(parsed.skipped)  # lines the format matched
        self._gone = np.array(sorted(o for o, _, _ in parsed.skipped), np.int64)
        self._rows: np.ndarray | None = None
        self.failed = np.array(sorted(o for o, k, _ in parsed.skipped if k == "format"), np.int64)
        self.skipped = [s for s in parsed.skipped if s[1] != "format"]
        table, bad_time, bad_request = standardize(parsed.columns, fmt, cookie, self.lines)
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
            starts = self.chunk.line_starts()
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

    def relocate(self, chunk: Chunk, starts: np.ndarray, sub_starts: np.ndarray) -> None:
        """Offsets in the block ``chunk``, for a part parsed from some of its lines."""
        where = lambda offsets: starts[np.searchsorted(sub_starts, offsets)]
        self._rows = where(self.rows())
        self._gone = where(self._gone)
        self.failed = where(self.failed)
        self.skipped = [(int(where(o)) if o >= 0 else -1, k, t) for o, k, t in self.skipped]
        self.chunk = chunk


def _parse_with(chunk: Chunk, tokens, fmt: LogFormat, cookie: str, accounting: Accounting) -> _Part:
    parsed = None if tokens is None else fields_to_columns(tokens, fmt)
    return _Part(chunk, regex_path(chunk, fmt) if parsed is None else parsed, fmt, cookie, accounting)


def _line_array(chunk: Chunk) -> pa.Array:
    """The lines of a block as strings, without newline and carriage returns."""
    _, raw = chunk.raw_lines()
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
        failed = chunk.line_starts()
        n_lines = len(failed)
    k = len(parts)  # the next format to try: none is known yet in a file that began with junk
    while len(failed) and (k < len(reader.known) or reader.detect):
        sub, sub_starts = chunk.lines_at(failed, n_lines)
        if k == len(reader.known):  # lines in none of the formats found so far: in a preset?
            found, _ = first_presets(_line_array(sub), reader.known)
            if not found:
                break
            reader.known.append(found[0])
        fmt = reader.known[k]
        k += 1
        part = _parse_with(sub, tokenize(sub, fmt) if fast else None, fmt, cookie, accounting)
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
        return full[0].table if full else (parts[0].table if parts else SCHEMA.empty_table())
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


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """A table of requests as :func:`read_logs` returns it (numbers as nullable pandas types)."""
    mapping = {pa.int16(): pd.Int16Dtype(), pa.int64(): pd.Int64Dtype(), pa.float64(): pd.Float64Dtype()}
    return table.to_pandas(types_mapper=mapping.get)


def _concat(tables: list[pa.Table]) -> pa.Table:
    return _concat_tables(tables) if tables else SCHEMA.empty_table()


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
        Filled with the counts of lines and malformed lines (by kind, with examples) and a record
        of each file (:attr:`Accounting.files`: which formats it held, from which line to which);
        pass the same one to :func:`recsys.page_views` to count every line once.
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
        ``forwarded_for`` (the address chain; ``ip`` is then its client, see
        :func:`recsys.columns.client_of`)
        when it logs ``$http_x_forwarded_for`` or ``$proxy_add_x_forwarded_for``; then any other
        variable of the format, named after it. Strings are categoricals; missing values (``-`` or
        empty in the log) are missing. Rows are in the order of the lines.

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
    >>> acc = Accounting()
    >>> read_logs("-", accounting=acc).iloc[0][["ts", "visitor", "path", "query", "status"]].astype(str).tolist()
    ['2024-02-01 09:00:00+00:00', 'abc', '/archives/7', 'utm_source=x', '200']
    >>> acc.lines, acc.files[0]["format"]
    (1, 'combined_ut')
    >>> sys.stdin = sys.__stdin__
    """
    accounting = Accounting() if accounting is None else accounting
    tables = list(
        iter_tables(
            paths, log_format=log_format, nginx_conf=nginx_conf, format_name=format_name,
            cookie=cookie, parser=parser, accounting=accounting, progress=progress,
            block_size=block_size,
        )
    )
    return to_pandas(_concat(tables))


def iter_logs(paths, *, block_size: int = BLOCK_SIZE, accounting: Accounting | None = None, **options) -> Iterator[pd.DataFrame]:
    """Like :func:`read_logs`, one DataFrame per block: for logs too large to hold at once.

    ``accounting`` is filled as the blocks are read (complete once the iterator is exhausted).

    >>> list(iter_logs([]))
    Traceback (most recent call last):
    ...
    recsys.errors.RecsysError: no access logs found in an empty list of paths; ...
    """
    accounting = Accounting() if accounting is None else accounting
    for table in iter_tables(paths, accounting=accounting, block_size=block_size, **options):
        yield to_pandas(table)
