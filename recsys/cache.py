"""Nightly re-runs read only what is new: each log file's parsed views are cached by content.

An entry holds what the line rules kept of one file (its candidate page views, its part of the
accounting, what the behaviour rules need), keyed by the size and CRC-32 of the file's
uncompressed content and by the options that shape the result. After logrotate renames
``access.log`` to ``access.log.1`` its content, hence its entry, is the same; when ``.2.gz``
compresses it, the gzip trailer gives the same size and CRC-32 without decompressing. A plain file
that only grew (the live log, or ``access.log.1`` that nginx appended to before reopening) is read
from where the cached part ends. The behaviour rules then run over all files, as in a cold run: the
result is the same (the tests check it).

The cache also keeps the per-installation salt with which published files hash visitor ids.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import secrets
import zlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .accounting import Accounting
from .atomic import atomic_write
from .logs import _COMPRESSIONS, _open, log_files
from .views import VIEW_OPTIONS, _behaviour_filter, _candidates, _concat_candidates, _view_rules

__all__ = ["cached_page_views", "default_cache_dir", "salt", "fingerprint"]

log = logging.getLogger(__name__)

CACHE_VERSION = 1
HEAD = 1 << 12


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/recsys`` or ``~/.cache/recsys``: not under a directory the blog serves."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "recsys"


def salt(cache_dir: str | os.PathLike) -> bytes:
    """This installation's secret salt (made once, readable by its owner only)."""
    path = Path(cache_dir) / "salt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path) as f:
            f.write(secrets.token_hex(32))
        os.chmod(path, 0o600)
    return bytes.fromhex(path.read_text().strip())


@dataclass(frozen=True)
class Fingerprint:
    size: int  # uncompressed bytes (modulo 2**32 for a gzip file, as its trailer has it)
    crc: int
    head: str  # a hash of the first 4 KiB (plain files: to find an earlier, shorter version)
    plain: bool
    newline_end: bool

    @property
    def key(self) -> str:
        return f"{self.size % 2**32:08x}-{self.crc:08x}"


def fingerprint(path: str) -> Fingerprint:
    """Size and CRC-32 of a file's uncompressed content (a gzip trailer has them already)."""
    with open(path, "rb") as f:
        magic = f.read(6)
        f.seek(0)
        compressed = any(magic.startswith(m) for m, _ in _COMPRESSIONS)
        if not compressed:
            crc, size, head, last = 0, 0, b"", b""
            while chunk := f.read(8 << 20):
                if not head:
                    head = chunk[:HEAD]
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
                last = chunk[-1:]
            return Fingerprint(size, crc, hashlib.sha1(head).hexdigest(), True, last in (b"\n", b""))
    if magic.startswith(b"\x1f\x8b"):
        with open(path, "rb") as f:
            f.seek(-8, os.SEEK_END)
            trailer = f.read(8)
            crc, size = int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little")
        with gzip.open(path, "rb") as g:
            try:
                head = g.read(HEAD)
            except (OSError, EOFError):
                head = b""
        return Fingerprint(size, crc, hashlib.sha1(head).hexdigest(), False, True)
    stream, _ = _open(path)  # bzip2, xz: decompress to know
    crc, size, head = 0, 0, b""
    with stream:
        while chunk := stream.read(8 << 20):
            head = head or chunk[:HEAD]
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
    return Fingerprint(size, crc, hashlib.sha1(head).hexdigest(), False, True)


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
    """A hash of everything that shapes a file's cached result (an nginx.conf by its content)."""
    ro = dict(read_options)
    conf = ro.get("nginx_conf")
    if conf is not None:
        ro["nginx_conf"] = hashlib.sha1(Path(conf).read_bytes()).hexdigest()
    ro.pop("block_size", None)
    ro["log_format"] = str(ro.get("log_format", "auto"))
    blob = json.dumps({"v": CACHE_VERSION, "read": ro, "view": {**VIEW_OPTIONS, **view_options}},
                      sort_keys=True, default=lambda o: list(o) if isinstance(o, (tuple, set, frozenset)) else str(o))
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


class _Store:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.used: set[str] = set()

    def load(self, key: str):
        meta_path, views_path = self.root / f"{key}.json", self.root / f"{key}.parquet"
        if not (meta_path.exists() and views_path.exists()):
            return None
        try:
            meta = json.loads(meta_path.read_text())
            cand = pd.read_parquet(views_path)
        except (OSError, ValueError) as e:
            log.warning("ignoring a damaged cache entry %s: %s", meta_path, e)
            return None
        self.used.add(key)
        return meta, cand

    def save(self, key: str, meta: dict, cand: pd.DataFrame) -> None:
        with atomic_write(self.root / f"{key}.parquet", "wb") as f:
            cand.to_parquet(f, index=False)
        with atomic_write(self.root / f"{key}.json") as f:
            json.dump(meta, f)
        self.used.add(key)

    def prefixes(self, path: str, fp: Fingerprint):
        """Entries of plain files that began like this one and were shorter, longest first."""
        found = []
        with open(path, "rb") as f:
            head = f.read(HEAD)
        for meta_path in self.root.glob("*.json"):
            try:
                meta = json.loads(meta_path.read_text())
            except (OSError, ValueError):
                continue
            n = min(HEAD, meta.get("size", 0))
            if (meta.get("plain") and meta["newline_end"] and meta["size"] < fp.size
                    and meta["head"] == hashlib.sha1(head[:n]).hexdigest()):
                found.append((meta["size"], meta_path.stem))
        return [key for _, key in sorted(found, reverse=True)]

    def prune(self) -> None:
        """Forget the entries this run did not use (rotated away, or grown into a new entry)."""
        for path in self.root.glob("*.*"):
            if path.stem not in self.used and path.suffix in (".json", ".parquet"):
                path.unlink(missing_ok=True)


def _relabel(acc: dict, path: str) -> dict:
    """An entry's accounting, read under another name (logrotate renamed the file)."""
    acc = json.loads(json.dumps(acc))
    for e in acc["examples"]:
        e["path"] = path
    for f in acc["files"]:
        f["path"] = path
    return acc


def cached_page_views(paths, *, cache_dir: str | os.PathLike, read_options: dict | None = None,
                      progress: bool | None = None, **view_options) -> pd.DataFrame:
    """:func:`recsys.read_page_views`, reading only the files (or the parts) not read before.

    Parameters
    ----------
    paths
        As :func:`recsys.read_logs` (``-`` is read every time).
    cache_dir : path
        Where entries are kept (:func:`default_cache_dir` is a good default).
    read_options, **view_options
        As :func:`recsys.read_page_views`.

    Returns
    -------
    pandas.DataFrame
        The same page views and accounting as :func:`recsys.read_page_views`; the accounting's
        ``attrs`` also say which files came from the cache (``attrs["cache"]``).
    """
    read_options = dict(read_options or {})
    rules = _view_rules(view_options)
    store = _Store(Path(cache_dir) / f"v{CACHE_VERSION}" / _options_key(read_options, view_options))
    acc = Accounting()
    parts, pairs, visitors, report = [], set(), set(), {}
    for path in log_files(paths):
        if path == "-":
            file_acc = Accounting()
            cand, p, v = _candidates([path], rules, file_acc, progress=progress, read_options=read_options)
            report[path] = "read"
        else:
            cand, p, v, file_acc, how = _one_file(path, rules, store, read_options, progress)
            report[path] = how
        acc.merge(file_acc)
        parts.append(cand)
        pairs |= p
        visitors |= v
    store.prune()
    views = _behaviour_filter(_concat_candidates(parts), pairs, visitors, rules, acc)
    views.attrs["accounting"] = acc
    views.attrs["cache"] = report
    log.info("cache: %s", ", ".join(f"{os.path.basename(k)} {v}" for k, v in report.items()))
    return views


def _format_of(acc: Accounting):
    """The log format an earlier read found in a file, to read the rest of it the same way."""
    from .formats import PRESETS, LogFormat

    if not acc.files or not acc.files[-1].get("format"):
        return None
    f = acc.files[-1]
    if f["format"] in PRESETS:
        return LogFormat.preset(f["format"])
    return LogFormat(f["format"], f.get("escape", "default"))


def _grown_from(path: str, fp: Fingerprint, store: _Store):
    """An entry of this file's beginning, if it only grew since (the live log, say)."""
    if not fp.plain:
        return None
    for key in store.prefixes(path, fp):
        meta = json.loads((store.root / f"{key}.json").read_text())
        if _crc_prefix(path, meta["size"]) == meta["crc"]:
            return store.load(key)
    return None


def _one_file(path: str, rules, store: _Store, read_options: dict, progress):
    fp = fingerprint(path)
    hit = store.load(fp.key)
    if hit is not None:
        meta, cand = hit
        acc = Accounting.from_dict(_relabel(meta["accounting"], path))
        return cand, {tuple(x) for x in meta["pairs"]}, set(meta["visitors"]), acc, "cached"
    grown = _grown_from(path, fp, store)
    if grown is None:
        acc = Accounting()
        cand, pairs, visitors = _candidates([path], rules, acc, progress=progress, read_options=read_options)
        how = "read"
    else:
        old_meta, old_cand = grown
        acc = Accounting.from_dict(_relabel(old_meta["accounting"], path))
        lines = acc.files[-1]["lines"] if acc.files else 0
        ro = dict(read_options)
        first = _format_of(acc)  # what the first part was: the rest is the same
        if ro.get("nginx_conf") is None and str(ro.get("log_format", "auto")) == "auto" and first:
            ro["log_format"] = first
        tail = Accounting()
        cand_tail, p, v = _candidates([path], rules, tail, progress=progress, read_options=ro,
                                      resume={path: (old_meta["size"], lines)})
        tail_files, tail.files = tail.files, []
        acc.merge(tail)
        if acc.files and tail_files:  # one entry for the file: the cached part and the new one
            acc.files[-1]["lines"] = tail_files[-1]["lines"]
            acc.files[-1]["malformed"] += tail_files[-1]["malformed"]
            acc.files[-1]["warnings"] += tail_files[-1]["warnings"]
        cand = _concat_candidates([old_cand, cand_tail])
        pairs = {tuple(x) for x in old_meta["pairs"]} | p
        visitors = set(old_meta["visitors"]) | v
        how = f"read from byte {old_meta['size']:,}"
    meta = {
        "path": path, "size": fp.size, "crc": fp.crc, "head": fp.head, "plain": fp.plain,
        "newline_end": fp.newline_end, "accounting": acc.to_dict(),
        "pairs": sorted([list(p) for p in pairs], key=str), "visitors": sorted(visitors),
    }
    store.save(fp.key, meta, cand)
    return cand, pairs, visitors, acc, how
