"""Nightly re-runs read only what is new: each log file's parsed views are cached by content.

An entry holds what the line rules kept of one file: its candidate page views, its part of the
accounting, and what the behaviour rules need. Those rules then run over all files, as in a cold
run: the result is the same as :func:`recsys.read_page_views`, whatever the cache holds.

Keys
    A plain file is keyed by the size and CRC-32 of its bytes (``p-<size>-<crc>``): after
    logrotate renames ``access.log`` to ``access.log.1`` its content, hence its entry, is the same.
    A compressed file (gzip, bzip2, xz, as the reader recognises them) is keyed by the size and
    CRC-32 of its compressed bytes (``z-<size>-<crc>``): cheap (nothing is decompressed; CRC-32
    runs at over 1 GB/s, some 60 ms for a month of logs), and a multi-member gzip file is known by
    all of it, not by its trailer, which describes only the last member. The first time a compressed file is seen, if the cache holds a plain entry it may be a
    copy of (for gzip: one of the size and CRC-32 its trailer gives), it is decompressed once, not
    parsed; when the content is that entry's, the entry is copied under the compressed key. So
    ``access.log.1`` that logrotate compresses into ``access.log.2.gz`` is not parsed again, and
    later nights find ``access.log.2.gz`` by its own key.
Growth
    A plain file that only grew (the live log, or ``access.log.1`` that nginx appended to before it
    reopened its logs) is read from where its entry ends, in the log format its first part had, when
    a cold run would pick that format from the first lines of the whole file; otherwise, or when the
    new part does not fit that format, the file is read from the start, as a cold run reads it.
Healing (:mod:`recsys.store` keeps the entries)
    An entry is an Arrow file and a JSON file holding the Arrow file's checksum and its own: an
    entry that is partial, damaged, of another layout, or whose counts do not add up is read again
    and rewritten, never trusted (entries are written atomically; one a crash damaged anyway does
    not check out). ``refresh=True`` reads every file and rewrites its entry. A file that
    changed while it was read is used for this run but not cached. Pipes and standard input are
    read every time; devices are refused.
Housekeeping
    The cache is its owner's only (folders 0700, files 0600, fixed on existing caches). A run holds
    a shared lock on the cache folder (``.lock``); a run that finds no other removes what killed
    runs left (temporary files; while others run, only those older than an hour) and the folders of
    older cache versions. An entry a run did not use is removed only if it was last read under a
    path this run read, or in a directory this run listed: log folders can share a cache. Entries
    no run used for 30 days are removed too.

The cache also keeps the per-installation salt with which published files hash visitor ids.
"""

from __future__ import annotations

import hashlib
import json
import logging
import lzma
import os
import secrets
import stat
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa

from .accounting import Accounting
from .atomic import atomic_write
from .detection import fixed_formats, start_formats
from .errors import LogParseError, RecsysError
from .files import COMPRESSIONS, Decompressed, family_of, log_files
from .logs import iter_pieces, iter_tables, to_pandas
from .progress import reading_bar
from .store import (
    CACHE_VERSION,
    Entry,
    Store,
    cache_root,
    candidates_frame,
    candidates_table,
    chmod,
    compact,
    concat_tables,
    locked,
    private_dir,
    tidy,
)
from .views import VIEW_OPTIONS, behaviour_filter, line_filter, read_candidates, view_rules

__all__ = ["cached_page_views", "default_cache_dir", "salt", "fingerprint"]

log = logging.getLogger(__name__)

HEAD = 1 << 12  # a plain file's first bytes, hashed: to find an earlier, shorter version of it
PROBE_BYTES = 1 << 20  # what the reader reads of a file to pick its log format (files.read_head)
_DAMAGE = (OSError, EOFError, zlib.error, lzma.LZMAError)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/recsys`` or ``~/.cache/recsys``: not under a directory the blog serves."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recsys"


def salt(cache_dir: str | os.PathLike) -> bytes:
    """This installation's secret salt (made once, readable by its owner only)."""
    root = cache_root(cache_dir)
    path = root / "salt"
    with locked(root):
        if not path.exists():
            with atomic_write(path, permissions=0o600) as f:
                f.write(secrets.token_hex(32))
        try:
            chmod(path, 0o600)
            text = path.read_text().strip()
            value = bytes.fromhex(text)
        except OSError as e:
            raise RecsysError(f"{path}: cannot read the salt: {e.strerror or e}") from e
        except ValueError:
            value = b""
    if len(value) != 32:
        raise RecsysError(
            f"{path} is damaged (not 64 hexadecimal digits); remove it to make a new salt "
            "(the hashed visitor ids of published files then change)"
        )
    return value


# fingerprints ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fingerprint:
    size: int  # bytes of the file as it is on disk (compressed bytes for a compressed file)
    crc: int  # CRC-32 of those bytes
    compressed: bool  # the reader decompresses it
    head: str  # a hash of the first 4 KiB (plain files: to find an earlier, shorter version)
    newline_end: bool  # ends with a newline (or is empty): a later version may be read on from here

    @property
    def key(self) -> str:
        return f"{'z' if self.compressed else 'p'}-{self.size:x}-{self.crc:08x}"


def _decompressor(head: bytes) -> tuple[bytes, Callable[[], object]] | None:
    """The compression the reader finds at the start of a file (as ``files.open_log`` decides)."""
    for magic, new in COMPRESSIONS:
        if head.startswith(magic):
            try:
                new().decompress(head[: 1 << 16], 1)
            except _DAMAGE:
                return None  # starts like an archive but is text: read as text
            return magic, new
    return None


def fingerprint(path: str) -> Fingerprint:
    """Size and CRC-32 of a file's bytes, and whether the reader decompresses it.

    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(suffix=".log") as f:
    ...     _ = f.write(b"a line\\n"); f.flush(); fingerprint(f.name).key
    'p-7-17fb2f0a'
    """
    crc, size, head, last = 0, 0, b"", b""
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            if not size:
                head = chunk[: 1 << 16]
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            last = chunk[-1:]
    compressed = _decompressor(head) is not None
    return Fingerprint(size, crc, compressed, hashlib.sha1(head[:HEAD]).hexdigest(), last in (b"\n", b""))


def _content_key(path: str, new: Callable[[], object]) -> str | None:
    """The key of a compressed file's content as the reader sees it (``None`` if damaged)."""
    crc, size = 0, 0
    with open(path, "rb") as raw:
        stream = Decompressed(raw, new)
        try:
            while chunk := stream.read(8 << 20):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
        except _DAMAGE:
            return None
        if stream.warning:
            return None
    return f"p-{size:x}-{crc:08x}"


def _crc_prefix(path: str, size: int) -> int:
    crc, left = 0, size
    with open(path, "rb") as f:
        while left > 0:
            chunk = f.read(min(8 << 20, left))
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
    return crc


def _options_key(read_options: dict, view_options: dict) -> str:
    """A hash of everything that shapes a file's cached result (an nginx.conf by its format)."""
    ro = dict(read_options)
    if ro.get("nginx_conf") is not None:
        ro["nginx_conf"] = [[f.template, f.escape] for f in fixed_formats("auto", ro["nginx_conf"], ro.get("format_name"))]
    ro.pop("block_size", None)
    ro["log_format"] = str(ro.get("log_format", "auto"))
    blob = json.dumps({"v": CACHE_VERSION, "read": ro, "view": {**VIEW_OPTIONS, **view_options}},
                      sort_keys=True, default=lambda o: list(o) if isinstance(o, (tuple, set, frozenset)) else str(o))
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


# reading ---------------------------------------------------------------------------------------
def cached_page_views(paths, *, cache_dir: str | os.PathLike, read_options: dict | None = None,
                      accounting: Accounting | None = None, progress: bool | None = None, refresh: bool = False,
                      **view_options) -> pd.DataFrame:
    """:func:`recsys.read_page_views`, reading only the files (or the parts) not read before.

    Parameters
    ----------
    paths
        As :func:`recsys.read_logs`. Standard input (``-``) and pipes are read every time;
        devices are refused.
    cache_dir : path
        Where entries are kept (:func:`default_cache_dir` is a good default).
    read_options, **view_options
        As :func:`recsys.read_page_views`.
    accounting : Accounting, optional
        Filled with the same counts as :func:`recsys.read_page_views` fills; each file's record
        (:attr:`Accounting.files`) also says how it was read: ``cache`` is ``"cached"``, ``"read"``
        or ``"read from byte N"`` (it grew since it was cached).
    refresh : bool, default False
        Read every file again and rewrite its entry (what ``--no-cache`` does).

    Returns
    -------
    pandas.DataFrame
        The same page views as :func:`recsys.read_page_views`.

    Raises
    ------
    RecsysError
        As :func:`recsys.read_page_views` (no access logs found, ...); also for a device given as
        a log, for a cache folder that cannot be made, and for a file that cannot be read.
    """
    read_options = dict(read_options or {})
    rules = view_rules(view_options)
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    files = log_files(paths)
    if not files:  # read_page_views's own error (after its checks of the read options, as there)
        next(iter_tables(paths, accounting=Accounting(), **read_options), None)
    root = cache_root(cache_dir)
    acc = Accounting() if accounting is None else accounting
    first, parts, pairs, visitors = len(acc.files), [], set(), set()
    with locked(root, before=lambda alone: tidy(root, alone)), reading_bar(progress, total=_bytes(files)) as bar:
        folder = private_dir(root / f"v{CACHE_VERSION}")
        store = Store(private_dir(folder / _options_key(read_options, view_options)))
        # one bar over all files, by bytes: a file taken from its entry counts as read
        for cand, p, v, file_acc, how in _files(files, rules, store, read_options, bar, refresh, set()):
            for record in file_acc.files:
                record["cache"] = how
            acc.merge(file_acc)
            parts.append(cand)
            pairs |= p
            visitors |= v
        read = {os.path.abspath(f) for f in files if f != "-"}
        listed = {os.path.abspath(p) for p in paths if p != "-" and os.path.isdir(p)}
        store.prune(lambda p: p in read or os.path.dirname(p) in listed)
    views = behaviour_filter(candidates_frame(parts), pairs, visitors, rules, acc)
    log.info("cache: %s", ", ".join(f"{os.path.basename(f['path'])} {f['cache']}" for f in acc.files[first:]))
    return views


def _bytes(files: list[str]) -> int:
    """The bytes of the files on disk (a pipe's: none; a file gone: none, its read says so)."""
    total = 0
    for f in files:
        try:
            total += os.path.getsize(f) if f != "-" else 0
        except OSError:
            pass
    return total


def _regular(path: str) -> bool:
    """Whether a log can be cached (a regular file); a pipe is read every time, a device never."""
    if path == "-":
        return False
    mode = os.stat(path).st_mode
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        raise RecsysError(f"{path} is a device, not a log file; give log files, directories of them, or -")
    return stat.S_ISREG(mode)


def _snapshot(path: str) -> tuple[int, int, int]:
    st = os.stat(path)
    return st.st_ino, st.st_size, st.st_mtime_ns


def _one_file(path: str, rules, store: Store, read_options: dict, progress, refresh: bool, families: set):
    """:func:`_files` of one file."""
    return _files([path], rules, store, read_options, progress, refresh, families)[0]


def _files(files: list[str], rules, store: Store, read_options: dict, progress, refresh: bool,
           families: set) -> list[tuple]:
    """Each file's candidates (an Arrow table), robots.txt clients, accounting and how it was read:
    from its entry, read on from where its entry ends, or read (and its entry written).

    The files to read one after the other are read together, as a cold run reads them: the small
    files of a rotated family share blocks. ``families`` (as :func:`recsys.logs.iter_tables` takes
    it) is updated with those of the files that hold lines.
    """
    out: list = [None] * len(files)
    batch: list[tuple[int, tuple | None, Fingerprint | None]] = []  # to read: index, snapshot, fingerprint

    def read_batch() -> None:
        accs = [Accounting() for _ in batch]
        found = _read_files([files[i] for i, _, _ in batch], rules, accs, progress=progress,
                            read_options=read_options, families=families)
        for (i, before, fp), acc, (table, pairs, visitors) in zip(batch, accs, found):
            out[i] = (table, pairs, visitors, acc, "read")
            if fp is not None:
                _save(files[i], before, fp, Entry(_meta(files[i], fp, acc, pairs, visitors), table), store)
        batch.clear()

    try:
        for i, path in enumerate(files):
            with _named(path):
                if not _regular(path):
                    batch.append((i, None, None))
                    continue
                before = _snapshot(path)
                fp = fingerprint(path)
                hit = None if refresh else store.load(fp.key) or _copy_of(path, fp, store)
                grown = None if refresh or hit is not None else _grown_from(path, fp, store, read_options)
            if hit is None and grown is None:
                batch.append((i, before, fp))
                continue
            if batch:
                read_batch()  # the files before it, first
            with _named(path):
                if hit is not None:
                    store.use(fp.key, hit, path)
                    out[i] = (hit.cand, hit.pairs, hit.visitors, hit.accounting(path), "cached")
                    _advance(progress, fp.size)
                else:
                    try:
                        table, pairs, visitors, acc = _read_on(path, grown, rules, read_options, progress)
                    except LogParseError as e:  # the new part is not in the first part's format: as a cold run
                        log.info("cache: %s: reading it from the start (%s)", path, e)
                        batch.append((i, before, fp))
                        continue
                    out[i] = (table, pairs, visitors, acc, f"read from byte {grown.meta['size']:,}")
                    _advance(progress, grown.meta["size"])  # the part its entry holds (the rest was read)
                    _save(path, before, fp, Entry(_meta(path, fp, acc, pairs, visitors), table), store)
            if any(f["lines"] for f in out[i][3].files):  # as a cold read: the family's format is known
                families.add(family_of(path))
        if batch:
            read_batch()
    finally:
        store.wait()  # the entries this run wrote, before the cache is unlocked
    return out


def _advance(progress, n: int) -> None:
    """Move the reading bar (when ``progress`` is one) over ``n`` bytes not read."""
    if hasattr(progress, "update"):
        progress.update(n)


@contextmanager
def _named(path: str) -> Iterator[None]:
    """An error reading ``path`` that does not name it (a damaged disk) names it."""
    try:
        yield
    except OSError as e:
        if e.filename is not None:
            raise
        raise RecsysError(f"{path}: cannot read it: {e.strerror or e}") from e


def _read_files(paths: list[str], rules, accs: list[Accounting], *, progress, read_options: dict,
                families: set) -> Iterator[tuple[pa.Table, set, set]]:
    """:func:`recsys.views.read_candidates` of each file apart, in order, counted into its own
    accounting (``accs``); the candidates as an Arrow table with the file's own dictionaries.

    The files are read together: the small files of a rotated family share blocks
    (:func:`recsys.logs.iter_pieces`), and the line rules run once per block. Each file's result
    is given as soon as its last block is parsed (its entry is written while the next are read).
    """
    done, parts, pairs, visitors = 0, [], set(), set()  # the files given so far; the next file's finds

    def given(upto: int) -> Iterator[tuple[pa.Table, set, set]]:  # the files before ``upto``, in order
        nonlocal done, parts, pairs, visitors
        while done < upto:
            yield concat_tables(parts), pairs, visitors
            done, parts, pairs, visitors = done + 1, [], set(), set()

    for table, pieces in iter_pieces(paths, accounting=accs, progress=progress, families=families, **read_options):
        if table.num_rows:
            cand, found = line_filter(to_pandas(table), rules, [(accs[i], n) for i, n in pieces])
            cand = candidates_table(cand)
        else:
            found = [(0, set(), set())] * len(pieces)
        at = 0
        for (i, _), (n, p, v) in zip(pieces, found):
            yield from given(i)
            if n:
                parts.append(compact(cand.slice(at, n)))
            at += n
            pairs |= p
            visitors |= v
    yield from given(len(paths))


def _meta(path: str, fp: Fingerprint, acc: Accounting, pairs: set, visitors: set) -> dict:
    return {
        "path": os.path.abspath(path), "size": fp.size, "crc": fp.crc, "head": fp.head,
        "compressed": fp.compressed, "newline_end": fp.newline_end, "accounting": acc.to_dict(),
        "pairs": sorted(([x if isinstance(x, str) else None for x in p] for p in pairs), key=str),
        "visitors": sorted(visitors),
    }


def _save(path: str, before: tuple, fp: Fingerprint, entry: Entry, store: Store) -> None:
    """Write the entry of a file read, unless the file changed while it was read."""
    if _snapshot(path) == before and fp.size == before[1]:
        store.save(fp.key, entry)
    else:
        log.info("cache: %s changed while it was read: not cached", path)


def _copy_of(path: str, fp: Fingerprint, store: Store) -> Entry | None:
    """A compressed file's entry made from the plain entry of its content (logrotate compressed it)."""
    if not fp.compressed or not store.plain:
        return None
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        found = _decompressor(head)
        if found is None:
            return None
        magic, new = found
        if magic == b"\x1f\x8b":  # the trailer of a single-member file has the content's CRC and size
            if fp.size < 18:
                return None
            f.seek(-8, os.SEEK_END)
            trailer = f.read(8)
            crc, size = int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")
            if not any(int(k.split("-")[1], 16) % 2**32 == size and int(k.split("-")[2], 16) == crc
                       for k in store.plain):
                return None
    key = _content_key(path, new)
    entry = store.load(key) if key in store.plain else None
    if entry is None:
        return None
    entry.meta.update(path=os.path.abspath(path), size=fp.size, crc=fp.crc, head=fp.head, compressed=True,
                      content=key)
    store.save(fp.key, entry)
    log.info("cache: %s is the content of the entry %s, compressed", path, key)
    return entry


def _grown_from(path: str, fp: Fingerprint, store: Store, read_options: dict):
    """An entry of this file's beginning, if it only grew since (the live log, say), and its format.

    The entry's read picked the log format from the lines it had; a cold run picks it from the
    first lines of the whole file. Only when the choice is the same is the file read on.
    """
    if fp.compressed:
        return None
    with open(path, "rb") as f:
        head = f.read(PROBE_BYTES)
    for key in store.prefixes(head[:HEAD], fp.size):
        size = int(key.split("-")[1], 16)
        if _crc_prefix(path, size) != int(key.split("-")[2], 16):
            continue
        try:
            fixed = fixed_formats(read_options.get("log_format", "auto"), read_options.get("nginx_conf"),
                                   read_options.get("format_name"))
            then = start_formats(fixed, head[:size], path, known=[], strict=True)
            now = start_formats(fixed, head, path, known=[], strict=True)
        except RecsysError:
            return None  # a cold run does not read it: nor does this one, from the start
        if [(f.template, f.escape) for f in then] != [(f.template, f.escape) for f in now]:
            continue
        entry = store.load(key)
        if entry is not None:
            return entry
    return None


def _read_on(path: str, grown: Entry, rules, read_options: dict, progress):
    """The entry of a file's beginning, and the rest of the file read on as the whole file's read would
    (with the formats the beginning held: the record of the file goes on)."""
    acc = grown.accounting(path)
    record = acc.files.pop() if acc.files else None
    resume = (grown.meta["size"], record["lines"], record) if record else (grown.meta["size"], 0)
    tail = Accounting()
    cand, pairs, visitors = read_candidates([path], rules, tail, progress=progress, read_options=read_options,
                                            resume={path: resume})
    acc.merge(tail)  # tail.files holds the record of the whole file
    table = concat_tables([grown.cand, candidates_table(cand)])
    return table, grown.pairs | pairs, grown.visitors | visitors, acc
