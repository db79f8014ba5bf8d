"""The cache folder: its entries, the checks that keep a damaged one from being trusted, its lock,
and the housekeeping that keeps it private and small (see :mod:`recsys.cache` for what is cached).

An entry is ``<key>.arrow`` (a file's candidate views, :data:`CANDIDATES`, as an Arrow IPC file)
and ``<key>.json`` (the rest, with the Arrow file's checksum and its own). Each options set has a
folder ``v<version>/<options hash>/``. An Arrow file is read without decoding (its tables are its
bytes), and candidates stay Arrow tables until :func:`candidates_frame` makes one frame of all
files' (a month of entries concatenates without a pass over its rows in Python or pandas).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .accounting import Accounting
from .atomic import atomic_write
from .columns import DICT, one_chunk
from .errors import RecsysError
from .views import VIEW_COLUMNS, as_candidates

try:
    import fcntl
except ImportError:  # not on Windows: stale files are then told by their age alone
    fcntl = None

__all__ = [
    "CACHE_VERSION", "CANDIDATES", "Entry", "Store", "cache_root", "candidates_frame", "candidates_table", "chmod",
    "compact", "concat_tables", "locked", "private_dir", "tidy",
]

log = logging.getLogger(__name__)

CACHE_VERSION = 4
TABLE = ".arrow"  # the suffix of an entry's table
STALE_SECONDS = 3600  # a temporary file this old is a killed run's, even while other runs work
ORPHAN_SECONDS = 30 * 86400  # an entry no run used for this long is removed
#: What a checked entry's JSON holds (an entry without one of them is of another layout).
META_KEYS = ("path", "size", "crc", "head", "compressed", "newline_end", "accounting", "pairs", "visitors",
             "key", "version", "table")


# the folder --------------------------------------------------------------------------------------
def private_dir(path: Path, *, ours: bool = True) -> Path:
    """``path`` made, or made private (0700) if it is ``ours``; anything else there is replaced."""
    try:
        if ours and (path.is_symlink() or (path.exists() and not path.is_dir())):
            path.unlink()  # not a folder of ours: garbage where the cache keeps one
        path.mkdir(mode=0o700, exist_ok=True)
        if ours or _looks_like_a_cache(path):
            chmod(path, 0o700)
    except OSError as e:
        raise RecsysError(
            f"cache folder {path}: {e.strerror or e}; give a folder of your own (cache_dir, --cache DIR)"
        ) from e
    return path


def _looks_like_a_cache(path: Path) -> bool:
    """Holds only what recsys puts in a cache folder (never chmod a folder the user shares)."""
    names = os.listdir(path)
    return bool(names) and all(
        n in ("salt", ".lock") or re.fullmatch(r"v\d+", n) or (n.startswith(".") and n.endswith(".tmp"))
        for n in names
    )


def chmod(path: Path, mode: int) -> None:
    st = os.stat(path, follow_symlinks=False)
    if stat.S_IMODE(st.st_mode) != mode and st.st_uid == os.geteuid() and not stat.S_ISLNK(st.st_mode):
        os.chmod(path, mode)


def cache_root(cache_dir: str | os.PathLike) -> Path:
    root = Path(cache_dir)
    try:
        root.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise RecsysError(
            f"cache folder {root}: {e.strerror or e}; give another (cache_dir, --cache DIR)") from e
    return private_dir(root, ours=False)


@contextmanager
def locked(root: Path, before: Callable[[bool], None] | None = None) -> Iterator[None]:
    """Hold a shared lock on the cache folder; first ``before(alone)``, exclusive if no run holds it."""
    if fcntl is None:
        if before is not None:
            before(False)
        yield
        return
    try:
        fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as e:
        raise RecsysError(f"cache folder {root}: cannot lock it ({e.strerror or e})") from e
    try:
        if before is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                alone = True
            except OSError:
                alone = False
            before(alone)
        fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)


def tidy(root: Path, alone: bool) -> None:
    """Remove what killed runs and older versions left; make the entries private."""
    now = time.time()
    versions = [Path(d.path) for d in _entries(root)
                if re.fullmatch(r"v\d+", d.name) and d.is_dir(follow_symlinks=False)]
    folders = [root, *versions]
    folders += [Path(s.path) for d in versions for s in _entries(d) if s.is_dir(follow_symlinks=False)]
    for folder in folders:
        for e in _entries(folder):
            try:
                if e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file(follow_symlinks=False):
                    if alone or now - e.stat(follow_symlinks=False).st_mtime > STALE_SECONDS:
                        os.unlink(e.path)
                elif folder != root:
                    chmod(Path(e.path), 0o700 if e.is_dir(follow_symlinks=False) else 0o600)
            except OSError as err:
                log.warning("cache: cannot tidy %s: %s", e.path, err.strerror or err)
    for f in ("salt", ".lock"):
        if (root / f).is_file():
            try:
                chmod(root / f, 0o600)
            except OSError as err:
                log.warning("cache: cannot make %s private: %s", root / f, err.strerror or err)
    if alone:  # an older layout: its entries are never read again
        for d in versions:
            if int(d.name[1:]) < CACHE_VERSION:
                _remove_folder(d)


def _entries(folder: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []


def _remove_folder(folder: Path) -> None:
    """A cache folder of an older version: its entries, then the folders if nothing else is left."""
    for sub in [Path(e.path) for e in _entries(folder) if e.is_dir(follow_symlinks=False)] + [folder]:
        for e in _entries(sub):
            if e.name.endswith((".json", ".parquet", TABLE, ".tmp")) and e.is_file(follow_symlinks=False):
                Path(e.path).unlink(missing_ok=True)
        try:
            sub.rmdir()
        except OSError:
            pass
    log.info("cache: removed the entries of an older version in %s", folder)


# entries ---------------------------------------------------------------------------------------
#: The candidate views of an entry: :data:`recsys.views.VIEW_COLUMNS`, strings dictionary-encoded.
CANDIDATES = pa.schema([("ts", pa.timestamp("ms", tz="UTC")), *[(c, DICT) for c in VIEW_COLUMNS[1:]]])


def candidates_table(frame: pd.DataFrame | pa.Table) -> pa.Table:
    """Candidate views (a frame of :func:`recsys.views.as_candidates`, or a table) as an Arrow table
    of :data:`CANDIDATES` (raises when a column is missing or of another type).

    >>> candidates_table(pd.DataFrame({c: [] for c in VIEW_COLUMNS})).schema.names == list(VIEW_COLUMNS)
    True
    """
    if isinstance(frame, pd.DataFrame):
        frame = as_candidates(frame)
        columns = [pa.array(frame["ts"], CANDIDATES.field("ts").type)]
        for name in VIEW_COLUMNS[1:]:
            cat = frame[name].array
            indices = pa.array(cat.codes.astype(np.int32), mask=cat.codes < 0)
            columns.append(pa.DictionaryArray.from_arrays(indices, pa.array(cat.categories, pa.string())))
        return pa.Table.from_arrays(columns, schema=CANDIDATES)
    return frame.select(list(VIEW_COLUMNS)).cast(CANDIDATES)


def compact(table: pa.Table) -> pa.Table:
    """``table`` (one chunk) with dictionaries holding only the values its rows use, in their order
    (what ``remove_unused_categories`` does to a frame): a slice of a block's candidates as one
    file's own."""
    columns = []
    for arr in one_chunk(table).columns:
        arr = arr.chunk(0)
        if pa.types.is_dictionary(arr.type):
            codes = pc.fill_null(arr.indices, -1).to_numpy(zero_copy_only=False)
            used = np.unique(codes[codes >= 0])
            indices = pa.array(np.searchsorted(used, codes).astype(np.int32), mask=codes < 0)
            arr = pa.DictionaryArray.from_arrays(indices, arr.dictionary.take(pa.array(used)))
        columns.append(arr)
    return pa.Table.from_arrays(columns, schema=table.schema)


def concat_tables(tables: list[pa.Table]) -> pa.Table:
    """Candidate tables one after the other, as one chunk (dictionaries unified: values in the
    order they first appear; :func:`recsys.columns.one_chunk`)."""
    if not tables:
        return CANDIDATES.empty_table()
    if len(tables) == 1:
        return tables[0]
    return one_chunk(pa.concat_tables(tables))


def candidates_frame(tables: list[pa.Table]) -> pd.DataFrame:
    """The candidate views of several files, one after the other, as one frame
    (:func:`recsys.views.concat_candidates` of their frames: categories in the order they first appear).

    The tables are concatenated and their dictionaries unified (:func:`concat_tables`): a month of
    entries becomes a frame without a pass over its rows in Python or pandas.
    """
    if not tables:
        return as_candidates(pd.DataFrame({c: [] for c in VIEW_COLUMNS}))
    return as_candidates(concat_tables(tables).to_pandas())


def digest(data: bytes | dict) -> str:
    """SHA-256 of bytes, or of a JSON-ready dict written with sorted keys."""
    if isinstance(data, dict):
        data = json.dumps(data, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


@dataclass
class Entry:
    """One file's cached result: ``meta`` (JSON-ready) and ``cand``, its candidate views
    (:data:`CANDIDATES`)."""

    meta: dict
    cand: pa.Table

    def accounting(self, path: str) -> Accounting:
        """The entry's accounting, read under ``path`` (logrotate may have renamed the file)."""
        acc = Accounting.from_dict(json.loads(json.dumps(self.meta["accounting"])))
        for e in acc.examples + acc.files:
            e["path"] = path
        return acc

    @property
    def pairs(self) -> set:
        """The (address, user agent) pairs that fetched ``/robots.txt`` (missing values as NaN)."""
        return {tuple(float("nan") if x is None else x for x in p) for p in self.meta["pairs"]}

    @property
    def visitors(self) -> set:
        """The visitor ids that fetched ``/robots.txt``."""
        return set(self.meta["visitors"])


class Store:
    """The entries of one set of options: ``<key>.arrow`` (candidates) and ``<key>.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.used: set[str] = set()
        self._writes: dict[str, Future] = {}  # entries being written, by key
        self._writer: ThreadPoolExecutor | None = None
        plain = re.compile(r"(p-[0-9a-f]+-[0-9a-f]{8})\.json")
        self.plain = {m[1] for e in _entries(root) if (m := plain.fullmatch(e.name))}

    def meta(self, key: str) -> dict:
        """An entry's JSON, checked (raises when it is damaged or of another layout)."""
        doc = json.loads((self.root / f"{key}.json").read_bytes())
        meta = doc["meta"]
        if doc["check"] != digest(meta) or any(k not in meta for k in META_KEYS):
            raise ValueError("its checksum or layout is not this version's")
        if meta["version"] != CACHE_VERSION or meta["key"] != key:
            raise ValueError("its version or key is not this entry's")
        return meta

    def load(self, key: str) -> Entry | None:
        """The entry, if it is whole and adds up; ``None`` otherwise (it is then read again)."""
        json_path, table_path = self.root / f"{key}.json", self.root / f"{key}{TABLE}"
        if not json_path.exists() and not table_path.exists():
            return None
        try:  # anything may be in a cache: what does not check out is read again, never trusted
            meta = self.meta(key)
            data = table_path.read_bytes()
            if digest(data) != meta["table"]:
                raise ValueError("the Arrow file is not the one the entry wrote")
            cand = candidates_table(pa.ipc.open_file(pa.BufferReader(data)).read_all())
            entry = Entry(meta, cand)
            acc = entry.accounting("")
            if (acc.views or len(acc.files) != 1 or acc.files[0]["lines"] != acc.lines
                    or acc.requests - sum(acc.dropped.values()) != cand.num_rows
                    or sum(acc.malformed_kinds.values()) != acc.malformed):
                raise ValueError("its counts do not add up")
            entry.pairs, entry.visitors  # noqa: B018 (they must load)
        except Exception as e:  # noqa: BLE001
            log.warning("cache: reading %s again: its entry %s is damaged or partial (%s)",
                        self._path_of(key), json_path, e)
            return None
        return entry

    def _path_of(self, key: str) -> str:
        try:
            return json.loads((self.root / f"{key}.json").read_bytes())["meta"]["path"]
        except Exception:  # noqa: BLE001
            return "a file"

    def save(self, key: str, entry: Entry) -> None:
        """Write an entry (a failure to write is a warning: the cache only saves time).

        The entry is serialized and written by a thread of the store's own, while the run goes on
        reading; its ``meta`` is complete once written (:meth:`wait` for the writes).
        """
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recsys-cache")
        self._writes[key] = self._writer.submit(self._write, key, entry)

    def _write(self, key: str, entry: Entry) -> bool:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_file(sink, entry.cand.schema) as writer:
            writer.write_table(entry.cand)
        data = sink.getvalue()
        meta = entry.meta = {**entry.meta, "key": key, "version": CACHE_VERSION, "table": digest(data)}
        target = self.root / f"{key}{TABLE}"
        try:
            for p in (target, self.root / f"{key}.json"):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p)  # garbage where the entry goes
            # not synced to the disk: an entry a crash damaged does not check out and is read again
            with atomic_write(target, "wb", permissions=0o600, durable=False) as f:
                f.write(data)
            with atomic_write(self.root / f"{key}.json", "wb", permissions=0o600, durable=False) as f:
                f.write(self._meta_bytes(meta))
        except OSError as e:
            log.warning("cache: cannot write %s: %s", e.filename or target, e.strerror or e)
            return False
        return True

    def wait(self) -> None:
        """Wait for the entries :meth:`save` is writing; those written are this run's."""
        for key, write in self._writes.items():
            if write.result():
                if key.startswith("p-"):
                    self.plain.add(key)
                self.used.add(key)
        self._writes.clear()
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None

    @staticmethod
    def _meta_bytes(meta: dict) -> bytes:
        return json.dumps({"meta": meta, "check": digest(meta)}, sort_keys=True).encode()

    def _write_meta(self, key: str, meta: dict) -> None:
        with atomic_write(self.root / f"{key}.json", "wb", permissions=0o600) as f:
            f.write(self._meta_bytes(meta))

    def use(self, key: str, entry: Entry, path: str) -> None:
        """Mark an entry used by this run, under ``path``: it is kept, and known by its last path."""
        self.used.add(key)
        if key in self._writes:
            self.wait()  # written by this run: under this path, or renamed since
        where = os.path.abspath(path)
        try:
            if entry.meta.get("path") != where:
                entry.meta["path"] = where
                self._write_meta(key, entry.meta)
            elif time.time() - (self.root / f"{key}.json").stat().st_mtime > 86400:
                os.utime(self.root / f"{key}.json")  # in use: not an orphan
        except OSError as e:
            log.warning("cache: cannot update %s: %s", e.filename, e.strerror or e)

    def prefixes(self, head: bytes, size: int) -> list[str]:
        """Entries of plain files that began with ``head`` and were shorter than ``size``, longest first.

        ``head`` is the file's first bytes (as many as an entry's ``head`` hashes).
        """
        found = []
        for key in self.plain:
            n = int(key.split("-")[1], 16)
            if n >= size:
                continue
            try:
                meta = self.meta(key)
                if meta["newline_end"] and meta["head"] == hashlib.sha1(head[:n]).hexdigest():
                    found.append((n, key))
            except Exception:  # noqa: BLE001 (a damaged entry is no prefix)
                continue
        return [key for _, key in sorted(found, reverse=True)]

    def prune(self, in_scope: Callable[[str], bool]) -> None:
        """Forget entries of this run's logs that it did not use, and those no run used for long."""
        self.wait()
        _prune_folder(self.root, self.used, in_scope)
        for other in _entries(self.root.parent):
            if other.path != str(self.root) and other.is_dir(follow_symlinks=False):
                _prune_folder(Path(other.path), set(), None)
                try:
                    if time.time() - other.stat().st_mtime > STALE_SECONDS:
                        os.rmdir(other.path)  # an options folder left empty (not one a run just made)
                except OSError:
                    pass


def _prune_folder(folder: Path, used: set[str], in_scope: Callable[[str], bool] | None) -> None:
    now = time.time()
    for e in _entries(folder):
        stem, suffix = os.path.splitext(e.name)
        if stem in used or suffix not in (".json", TABLE) or e.name.startswith("."):
            continue
        try:
            age = now - e.stat(follow_symlinks=False).st_mtime
            if suffix == ".json":
                try:
                    path = json.loads(Path(e.path).read_bytes())["meta"]["path"]
                except Exception:  # noqa: BLE001 (garbage: removed when old)
                    path = None
                ours = in_scope is not None and isinstance(path, str) and in_scope(path)
                if ours or age > ORPHAN_SECONDS:
                    os.unlink(e.path)
                    (folder / f"{stem}{TABLE}").unlink(missing_ok=True)
            elif not (folder / f"{stem}.json").exists() and age > STALE_SECONDS:
                os.unlink(e.path)  # the table half of an entry whose JSON was never written
        except FileNotFoundError:
            continue  # removed with its JSON half, or by another run
        except OSError as err:
            log.warning("cache: cannot remove %s: %s", e.path, err.strerror or err)
