"""Masking who a log line is about, for the example lines ``report.json`` quotes.

The accounting keeps the first malformed lines of each kind so that a user can see what went
wrong. Before they are written, the values that identify people are masked: in a line that the
log format still matches (an impossible time, a bad request line), the fields named by the
format (``$remote_addr``, ``$cookie_<name>``, ``$ut_id``, ``$remote_user``, ...); in a line it
does not match, addresses and id-like tokens wherever they are.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Mapping, Sequence

from .errors import LogFormatError
from .formats import ESCAPES, PRESETS, LogFormat

__all__ = ["mask_line", "mask_text", "log_formats", "redact_examples"]

log = logging.getLogger(__name__)

_ADDRESS_FIELDS = frozenset({
    "remote_addr", "realip_remote_addr", "binary_remote_addr", "http_x_forwarded_for",
    "proxy_add_x_forwarded_for", "http_x_real_ip", "http_cf_connecting_ip", "http_true_client_ip",
})
_VISITOR_FIELDS = frozenset({"ut_id", "http_cookie"})
_USER_FIELDS = frozenset({"remote_user", "http_authorization"})

# IPv4, but not a version such as Chrome/120.0.0.0; IPv6 written in full (8 groups) or with "::",
# not a time such as 2024:10:15:32
_ADDRESS = re.compile(r"(?<![\w.]/)(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?!\d|\.\d)"
                      r"|(?<![0-9A-Fa-f:])(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
                      r"|[0-9A-Fa-f:]*::[0-9A-Fa-f:]*(?:\d{1,3}(?:\.\d{1,3}){3})?)(?![0-9A-Fa-f:.])")
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
# a run of 16 or more characters of hex, base64 or base64url: a session id, a token
_TOKEN = re.compile(r"(?<![A-Za-z0-9+_-])[A-Za-z0-9+_-]{16,}={0,2}(?![A-Za-z0-9+=_-])")
_WORD_SEPARATORS = re.compile(r"[-_+]")


def _field_mask(name: str) -> str | None:
    if name in _ADDRESS_FIELDS:
        return "<address>"
    if name in _VISITOR_FIELDS or name.startswith("cookie_"):
        return "<visitor>"
    if name in _USER_FIELDS:
        return "<user>"
    return None


def _mixed(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def _id_like(token: str) -> bool:
    """Random-looking: letters and digits mixed within a part, not words joined by hyphens."""
    return any(_mixed(part) for part in _WORD_SEPARATORS.split(token.rstrip("=")))


def mask_text(text: str) -> str:
    """Addresses and id-like tokens of any text masked, whatever the line's format.

    >>> mask_text("10.1.2.3 sid=Zm9vYmFyMTIzNDU2Nzg5MA Chrome/120.0.0.0 /posts/why-rust-grows-vectors/")
    '<address> sid=<visitor> Chrome/120.0.0.0 /posts/why-rust-grows-vectors/'
    """
    text = _UUID.sub("<visitor>", text)
    text = _ADDRESS.sub("<address>", text)
    return _TOKEN.sub(lambda m: "<visitor>" if _id_like(m[0]) else m[0], text)


def mask_line(text: str, formats: Sequence[LogFormat] = ()) -> str:
    """A log line with the values that identify people masked.

    With the first of ``formats`` whose regular expression matches the line, each field that
    names a person (addresses, cookies, ``$ut_id``, ``$remote_user``) becomes ``<address>``,
    ``<visitor>`` or ``<user>``; the rest of the line, and a line no format matches, goes
    through :func:`mask_text`.

    >>> fmt = LogFormat.preset("combined")
    >>> mask_line('10.0.0.1 - alice [15/Mar/2024:10:00:00 +0000] "GET /a" 200 5 "-" "Chrome/120.0.0.0"', [fmt])
    '<address> - <user> [15/Mar/2024:10:00:00 +0000] "GET /a" 200 5 "-" "Chrome/120.0.0.0"'
    """
    for fmt in formats:
        match = _compiled(fmt).match(text)
        if match is None:
            continue
        spans = sorted((match.span(name), mask) for name in match.re.groupindex
                       if (mask := _field_mask(name)) and match[name] not in (None, "", "-"))
        out, pos = [], 0
        for (start, end), mask in spans:
            out += [mask_text(text[pos:start]), mask]
            pos = end
        return "".join(out) + mask_text(text[pos:])
    return mask_text(text)


_COMPILED: dict[LogFormat, re.Pattern] = {}


def _compiled(fmt: LogFormat) -> re.Pattern:
    if fmt not in _COMPILED:
        _COMPILED[fmt] = re.compile(fmt.regex, re.DOTALL)
    return _COMPILED[fmt]


def _as_format(spec: object, escape: object) -> LogFormat | None:
    if isinstance(spec, Mapping):
        spec, escape = spec.get("format", spec.get("template")), spec.get("escape", escape)
    if not isinstance(spec, str):
        return None
    escape = escape if escape in ESCAPES else "default"
    try:
        if spec in PRESETS:
            return LogFormat.preset(spec)
        return LogFormat(spec, escape) if "$" in spec else None  # a bare name: not known here
    except LogFormatError:
        return None


def log_formats(files: Iterable[Mapping], also: Iterable[LogFormat] = ()) -> dict[str, list[LogFormat]]:
    """The log formats the accounting's ``files`` records name, by path (``""``: ``also``).

    A record's ``format`` is a preset name or a template (with ``escape``), or a list of them
    (a file whose format changed); names that are neither are skipped.
    """
    out: dict[str, list[LogFormat]] = {"": list(also)}
    for record in files:
        if not isinstance(record, Mapping):
            continue
        specs, escapes = record.get("format"), record.get("escape")
        specs = specs if isinstance(specs, list) else [specs]
        escapes = escapes if isinstance(escapes, list) else [escapes] * len(specs)
        found = [f for spec, esc in zip(specs, escapes) if (f := _as_format(spec, esc)) is not None]
        out.setdefault(str(record.get("path")), []).extend(found)
    return out


def redact_examples(accounting: dict, *, also: Iterable[LogFormat] = ()) -> dict:
    """The accounting (a dict, changed in place) with its example lines masked (:func:`mask_line`).

    Each example is tried against its own file's formats first, then every other one.
    """
    by_path = log_formats(accounting.get("files", []), also)
    every = list(dict.fromkeys(f for fs in by_path.values() for f in fs))
    for e in accounting.get("examples", []):
        own = by_path.get(str(e.get("path")), [])
        e["text"] = mask_line(str(e.get("text", "")), list(dict.fromkeys(own + every)))
    return accounting
