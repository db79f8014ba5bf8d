"""Which log formats a file is in: found on its first lines, or named by the caller.

:func:`detect_format` picks the preset most lines of a sample are in; :func:`start_formats` gives
the formats to read a file with (found on its first lines for ``auto``), and refuses a file whose
first lines mostly match none of them. :func:`first_presets` finds the presets of lines that match
none of a file's formats so far, wherever they are in it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .errors import LogFormatError, LogParseError, RecsysError
from .formats import PRESETS, LogFormat, resolve_log_format

__all__ = ["detect_format", "fixed_formats", "start_formats", "first_presets", "recorded_format", "PROBE_LINES"]

log = logging.getLogger(__name__)

#: Lines of a file's beginning its formats are found on.
PROBE_LINES = 1000


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


def first_presets(lines, known: list[LogFormat] = ()) -> tuple[list[LogFormat], np.ndarray]:
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


def fixed_formats(log_format, nginx_conf=None, format_name=None) -> list[LogFormat] | None:
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


def start_formats(fixed: list[LogFormat] | None, head: bytes, path: str, *, known: list[LogFormat],
                   strict: bool, first_line: int = 0, hint: list[LogFormat] | None = None) -> list[LogFormat]:
    """The formats to read a file with, found on its first lines (the order they are tried in).

    ``known``: formats an earlier read of this file found. With ``strict`` (a file read from its
    start, the first of its family), a file whose first lines mostly match none of the formats
    stops the read with :class:`LogParseError`, unless only its beginning is junk. ``hint``: the
    formats the previous file of the family started with; when its first one is the preset
    detection would find alone, it is checked with one regular expression instead of all presets
    (the answer is the same).
    """
    lines = _probe_lines(head)
    if fixed is None:
        found, ok = (_hinted(lines, hint[0]) if hint and not known else None) or first_presets(lines, known)
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


def _hinted(lines: list[str], fmt: LogFormat) -> tuple[list[LogFormat], np.ndarray] | None:
    """What :func:`first_presets` finds on ``lines`` when that is ``fmt`` alone, checked cheaply:
    ``fmt`` matches every line and no preset before it matches the first. ``None`` otherwise."""
    names = list(PRESETS)
    if not lines or fmt.name not in PRESETS or _preset(fmt.name) != fmt:
        return None
    ok = _matches(fmt, lines)
    if not ok.all() or any(_matches(_preset(n), lines[:1]).any() for n in names[: names.index(fmt.name)]):
        return None
    return [_preset(fmt.name)], ok


def _most(ok: np.ndarray) -> bool:
    """At least half of the probed lines parse (an error needs *most* of them to fail)."""
    return bool(len(ok)) and 2 * int(ok.sum()) >= len(ok)


def recorded_format(entry: dict) -> LogFormat:
    """The format an entry of a file's record names (``formats`` in :attr:`recsys.Accounting.files`;
    a preset by its name)."""
    if entry["format"] in PRESETS and _preset(entry["format"]).template == entry.get("template", entry["format"]):
        return _preset(entry["format"])
    return LogFormat(entry.get("template", entry["format"]), entry.get("escape", "default"), entry["format"])
