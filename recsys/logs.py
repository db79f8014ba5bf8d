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

The files of a read are cut into blocks in a thread of their own (:mod:`recsys.blocks`): the
small files of a rotated family share blocks, each line still counted in its own file's record.

Every line is accounted for (:class:`recsys.Accounting`): malformed lines are counted by kind and
the first few kept as examples.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .accounting import Accounting
from .blocks import FileBlock, LogFile, Segment, family_blocks
from .columns import SCHEMA, one_chunk, standardize
from .detection import first_presets, fixed_formats
from .errors import RecsysError
from .files import Chunk, in_background, log_files
from .formats import LogFormat
from .progress import reading_bar
from .tokenizer import Block, fields_to_columns, regex_path, tokenize

__all__ = [
    "read_logs", "iter_logs", "iter_tables", "iter_pieces", "to_pandas", "STANDARD_COLUMNS", "BLOCK_SIZE", "KINDS",
]

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
    for table, _ in iter_pieces(
        paths, log_format=log_format, nginx_conf=nginx_conf, format_name=format_name, cookie=cookie, parser=parser,
        accounting=accounting, progress=progress, block_size=block_size, resume=resume, families=families,
    ):
        if table.num_rows:
            yield table


def iter_pieces(
    paths,
    *,
    log_format: str | LogFormat | Iterable[str | LogFormat] = "auto",
    nginx_conf: str | os.PathLike | None = None,
    format_name: str | Iterable[str] | None = None,
    cookie: str = "UT_ID",
    parser: str = "auto",
    accounting: Accounting | Sequence[Accounting],
    progress: bool | None = None,
    block_size: int = BLOCK_SIZE,
    resume: dict[str, tuple] | None = None,
    families: set | None = None,
) -> Iterator[tuple[pa.Table, list[tuple[int, int]]]]:
    """:func:`iter_tables`, saying which file each row is from: ``(table, pieces)`` per block.

    The files are read one after the other by one reader thread; the short end of a file and the
    small files after it in the same log format share a block, parsed at once. ``pieces`` are
    ``(file number, rows)`` (the file's place in :func:`log_files` of ``paths``), for each file
    whose lines the block holds, in order: the rows of the table are theirs, one piece after the
    other. A file is in at least one piece (with no rows if it has none). ``accounting`` is one
    :class:`Accounting` for all files, or one per file.
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
    accounts = [accounting] * len(files) if isinstance(accounting, Accounting) else list(accounting)
    if len(accounts) != len(files):
        raise ValueError(f"{len(accounts)} accountings for {len(files)} files")
    sizes = [os.path.getsize(f) if f != "-" else 0 for f in files]
    families = set() if families is None else families  # families with a file read already: format known
    fast = parser == "auto"
    blocks = family_blocks(files, accounts, fixed=fixed, fast=fast, resume=resume or {}, families=set(families),
                     block_size=block_size)
    left = [size - (resume or {}).get(f, (0,))[0] for f, size in zip(files, sizes)]  # resumed: from the offset
    with reading_bar(progress, total=sum(left)) as bar:
        # the reader thread reads (and tokenizes) block k+1 while block k is converted here
        for block in in_background(blocks):
            table, pieces = _parse_block(block, cookie, fast)
            for seg in block.segments:
                if seg.last:
                    seg.file.finish(families)
            bar.update(block.progress)
            yield table, pieces
            block.chunk.release()  # its buffer takes a later block


#: Kinds of malformed lines, by the code the parsers keep them under.
KINDS = ("format", "encoding", "time", "request")


def _within(sorted_offsets: np.ndarray, lo: int, hi: int) -> np.ndarray:
    a, b = np.searchsorted(sorted_offsets, [lo, hi])
    return sorted_offsets[a:b]


class _Part:
    """What one format made of lines of a block: its rows, the malformed lines among them
    (``bad_at``, ``bad_kind``: offsets of line starts and codes of :data:`KINDS`, in order), the
    lines it does not match (``failed``)."""

    def __init__(self, chunk: Chunk, parsed: Block, fmt: LogFormat, cookie: str) -> None:
        self.chunk, self.fmt, self.n_lines = chunk, fmt, parsed.n_lines
        self.lines = parsed.n_lines - len(parsed.skipped)  # lines the format matched
        at = np.array([o for o, _, _ in parsed.skipped], np.int64)
        kind = np.array([KINDS.index(k) for _, k, _ in parsed.skipped], np.int8)
        order = np.argsort(at, kind="stable")
        at, kind = at[order], kind[order]
        self._gone = at
        self._rows: np.ndarray | None = None
        self.failed = at[kind == 0]
        self.texts = {o: t for o, _, t in parsed.skipped if t is not None}
        bad_at, bad_kind = at[kind != 0], kind[kind != 0]
        table, bad_time, bad_request = standardize(parsed.columns, fmt, cookie, self.lines)
        drop = bad_time | bad_request
        self.keep = ~drop
        if drop.any():
            rows = np.flatnonzero(drop)
            codes = np.where(bad_time[rows], KINDS.index("time"), KINDS.index("request")).astype(np.int8)
            bad_at, bad_kind = np.concatenate([bad_at, self.rows()[rows]]), np.concatenate([bad_kind, codes])
            order = np.argsort(bad_at, kind="stable")
            bad_at, bad_kind = bad_at[order], bad_kind[order]
            table = table.filter(pa.array(self.keep))
        self.bad_at, self.bad_kind = bad_at, bad_kind
        self.table = table

    def rows(self) -> np.ndarray:
        """Offsets of the lines the format matched: one per row, before malformed ones are dropped."""
        if self._rows is None:
            starts = self.chunk.line_starts()
            self._rows = starts[~np.isin(starts, self._gone)] if len(self._gone) else starts
        return self._rows

    def span(self, lo: int, hi: int, n_lines: int, last_start: int) -> tuple[int, int, int]:
        """The lines the format matched in ``chunk[lo:hi]`` (``n_lines`` lines, the last starting at
        ``last_start``; a part read from all lines of the block): how many, where the first and the
        last start. Only the lines it did not match at either end are looked at."""
        if self._rows is not None:
            rows = _within(self._rows, lo, hi)
            return len(rows), (int(rows[0]) if len(rows) else lo), (int(rows[-1]) if len(rows) else lo)
        gone = _within(self._gone, lo, hi).tolist()
        lines = n_lines - len(gone)
        if not lines:
            return 0, lo, lo
        first, k, buf = lo, 0, self.chunk.buf
        while k < len(gone) and gone[k] == first:
            first, k = buf.find(b"\n", first) + 1, k + 1
        last, k = last_start, len(gone) - 1
        while k >= 0 and gone[k] == last:
            cut = buf.rfind(b"\n", lo, last - 1)
            last, k = (cut + 1 if cut >= 0 else lo), k - 1
        return lines, first, last

    def bad_in(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The malformed lines of ``chunk[lo:hi]``: offsets and kinds."""
        a, b = np.searchsorted(self.bad_at, [lo, hi])
        return self.bad_at[a:b], self.bad_kind[a:b]

    def kept_in(self, lo: int, hi: int, n_lines: int) -> int:
        """How many of its rows (malformed ones dropped) are lines of ``chunk[lo:hi]`` (``n_lines``
        lines; all of them for a part read from all lines of the block)."""
        if self._rows is not None:
            return len(_within(self._rows[self.keep], lo, hi))
        return n_lines - len(_within(self._gone, lo, hi))  # no row was dropped (that sets _rows)

    def relocate(self, chunk: Chunk, starts: np.ndarray, sub_starts: np.ndarray) -> None:
        """Offsets in the block ``chunk``, for a part parsed from some of its lines."""
        where = lambda offsets: starts[np.searchsorted(sub_starts, offsets)]
        self._rows = where(self.rows())
        self._gone = where(self._gone)
        self.failed = where(self.failed)
        self.bad_at = where(self.bad_at)
        self.texts = {int(where(np.int64(o))): t for o, t in self.texts.items()}
        self.chunk = chunk


def _parse_with(chunk: Chunk, tokens, fmt: LogFormat, cookie: str) -> _Part:
    parsed = None if tokens is None else fields_to_columns(tokens, fmt)
    return _Part(chunk, regex_path(chunk, fmt) if parsed is None else parsed, fmt, cookie)


def _line_array(chunk: Chunk) -> pa.Array:
    """The lines of a block as strings, without newline and carriage returns."""
    _, raw = chunk.raw_lines()
    try:
        lines = raw.cast(pa.large_string())
    except pa.ArrowInvalid:
        lines = pa.array([b.decode("utf-8", "replace") for b in raw.to_pylist()], pa.large_string())
    return pc.utf8_rtrim(lines, characters="\r")


def _parse_block(block: FileBlock, cookie: str, fast: bool) -> tuple[pa.Table, list[tuple[int, int]]]:
    """The block's rows, each line parsed by the first of its file's formats that matches it, and
    the rows of each file (``(file number, rows)``)."""
    chunk = block.chunk
    first = _parse_with(chunk, block.tokens, block.first, cookie) if chunk.size and block.first else None
    parts = [first] if first is not None else []
    pieces = []
    for seg in block.segments:
        more, rows = _parse_segment(chunk, seg, first, cookie, fast)
        parts += more
        pieces.append((seg.file.index, rows))
    return _in_log_order(parts), pieces


def _parse_segment(chunk: Chunk, seg: Segment, first: _Part | None, cookie: str, fast: bool) -> tuple[list[_Part], int]:
    """The lines of one file in a block: those its first format (``first``, read over the whole
    block) does not match tried in its other formats, or in presets. Counts them into the file's
    record and accounting; returns the parts it read and how many rows the file has in the block."""
    f, lo, hi = seg.file, seg.start, seg.end
    if lo == hi:
        return [], 0
    reader, acc = f.reader, f.accounting
    stats = reader.stats
    before = stats["lines"]
    whole = lo == 0 and hi == chunk.size  # the block holds this file's lines only
    if first is not None:
        failed = _within(first.failed, lo, hi)
        n_lines = first.n_lines if whole else chunk.buf.count(b"\n", lo, hi)
        chunk_lines = first.n_lines
    else:  # a file that began with junk: every line is in a format still to find
        starts = chunk.line_starts()
        failed, chunk_lines = _within(starts, lo, hi), len(starts)
        n_lines = len(failed)
    parts: list[_Part] = []
    k = 1 if first is not None else 0  # the next format to try
    while len(failed) and (k < len(reader.known) or reader.detect):
        sub, sub_starts = chunk.lines_at(failed, chunk_lines)
        if k == len(reader.known):  # lines in none of the formats found so far: in a preset?
            found, _ = first_presets(_line_array(sub), reader.known)
            if not found:
                break
            reader.known.append(found[0])
        fmt = reader.known[k]
        k += 1
        part = _parse_with(sub, tokenize(sub, fmt) if fast else None, fmt, cookie)
        if sub is not chunk:
            part.relocate(chunk, failed, sub_starts)
        parts.append(part)
        failed = part.failed
    line_of = lambda offset: before + chunk.buf.count(b"\n", lo, offset) + 1
    spans = []
    reader.switched = False
    if first is not None:
        cut = chunk.buf.rfind(b"\n", lo, hi - 1)
        last_start = cut + 1 if cut >= 0 else lo
        lines, a, b = first.span(lo, hi, n_lines, last_start)
        reader.switched = not lines and bool(parts)
        if lines:
            spans.append((first.fmt, lines, before + 1 if a == lo else line_of(a),
                          before + n_lines if b == last_start else line_of(b)))
    for part in parts:
        if part.lines:
            rows = part.rows()
            spans.append((part.fmt, part.lines, line_of(int(rows[0])), line_of(int(rows[-1]))))
    mine = ([first] if first is not None else []) + parts
    bad = [p.bad_in(lo, hi) for p in mine] + [(failed, np.zeros(len(failed), np.int8))]
    malformed = _count_malformed(chunk, f, np.concatenate([a for a, _ in bad]), np.concatenate([k for _, k in bad]),
                                 mine, line_of)
    reader.add(spans)
    acc.lines += n_lines
    stats["lines"] += n_lines
    stats["malformed"] += malformed
    rows = sum(p.kept_in(lo, hi, n_lines) for p in mine)
    return parts, rows


def _count_malformed(chunk: Chunk, f: LogFile, at: np.ndarray, kind: np.ndarray, parts: list[_Part], line_of) -> int:
    """Count malformed lines into the file's accounting, by kind (in the order they first appear),
    and keep the first few of each kind as examples."""
    if not len(at):
        return 0
    acc = f.accounting
    order = np.argsort(at, kind="stable")
    at, kind = at[order], kind[order]
    codes, firsts, counts = np.unique(kind, return_index=True, return_counts=True)
    picks = []
    for i in np.argsort(firsts, kind="stable").tolist():
        name = KINDS[int(codes[i])]
        acc.add_malformed(name, int(counts[i]))
        want = acc.examples_wanted(name)
        if want:
            picks += [(o, name) for o in at[kind == codes[i]][:want].tolist()]
    for offset, name in sorted(picks):
        text = next((p.texts[offset] for p in parts if offset in p.texts), None)
        if text is None:
            text = chunk.text(offset, chunk.find(b"\n", offset)).rstrip("\r")
        acc.add_example(f.path, line_of(offset), name, text)
    return len(at)


def _in_log_order(parts: list[_Part]) -> pa.Table:
    """The rows of all parts of a block in the order of their lines."""
    full = [p for p in parts if p.table.num_rows]
    if len(full) <= 1:
        return full[0].table if full else (parts[0].table if parts else SCHEMA.empty_table())
    order = np.argsort(np.concatenate([p.rows()[p.keep] for p in full]), kind="stable")
    table = _concat_tables([p.table for p in full])
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
    return one_chunk(pa.concat_tables(aligned, promote_options="default"))


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
    progress : bool or tqdm bar, optional
        Show a progress bar, by bytes (default: when standard error is a terminal); a bar already
        open (:func:`recsys.progress.reading_bar`) is updated instead (one bar over several reads).
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
