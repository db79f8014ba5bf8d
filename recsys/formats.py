"""nginx ``log_format`` strings compiled into parsers.

A :class:`LogFormat` holds an nginx ``log_format`` template and its ``escape=`` mode. From it come
the one regular expression that defines what a line in that format looks like (the reference
parser, also used by the Spark engine) and, for formats whose fields are separated by one character,
a field plan that lets the multi-threaded CSV tokenizer of pyarrow do the splitting (the fast path).
:meth:`LogFormat.render` writes lines exactly as nginx would, escaping included.

>>> fmt = LogFormat.parse('$remote_addr [$time_local] "$request" $status')
>>> fmt.variables
('remote_addr', 'time_local', 'request', 'status')
>>> fmt.render({"remote_addr": "::1", "time_local": "01/Feb/2024:10:00:00 +0000",
...             "request": 'GET /a"b HTTP/1.1', "status": "200"})
'::1 [01/Feb/2024:10:00:00 +0000] "GET /a\\\\x22b HTTP/1.1" 200'
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .errors import LogFormatError

__all__ = ["LogFormat", "PRESETS", "resolve_log_format", "unescape"]

ESCAPES = ("default", "json", "none")

#: Named formats. ``combined_ut`` is nginx's ``combined`` plus the visitor cookie, what the classic
#: cookie setup logs; ``tsv`` is the format the README recommends (every value is escaped by nginx,
#: so a tab never appears inside a field, and ``$msec`` needs no date parsing). The setup shipped in
#: ``deploy/openresty`` writes the ``tsv`` layout with ``$ut_id`` (the id its script issued or read)
#: in place of ``$cookie_UT_ID``: the same preset reads it.
PRESETS: dict[str, tuple[str, str]] = {
    "combined_ut": (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent" "$cookie_UT_ID"',
        "default",
    ),
    "combined": (
        '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
        '"$http_referer" "$http_user_agent"',
        "default",
    ),
    "tsv": (
        "$msec\t$remote_addr\t$request_method\t$request_uri\t$status\t$body_bytes_sent\t"
        "$http_referer\t$http_user_agent\t$cookie_UT_ID",
        "default",
    ),
    "json": (
        '{"time":"$time_iso8601","remote_addr":"$remote_addr","request_method":"$request_method",'
        '"request_uri":"$request_uri","status":$status,"body_bytes_sent":$body_bytes_sent,'
        '"http_referer":"$http_referer","http_user_agent":"$http_user_agent",'
        '"cookie_UT_ID":"$cookie_UT_ID"}',
        "json",
    ),
}

# What a value of a well-known variable looks like, whatever its context. A regular expression in
# the common subset of RE2, Java and Python. ``time_local`` is split in two named parts.
_TIME_LOCAL_DATE = r"\d{2}/[A-Za-z]{3}/\d{4}:\d{2}:\d{2}:\d{2}"
_TIME_LOCAL_ZONE = r"[+-]\d{4}"
#: A count or a size: ``-`` or empty when the server has none (Apache's ``%b`` writes ``-`` for zero
#: bytes), else at most 18 digits, so that every value fits a 64-bit integer: a longer number makes
#: its line malformed (``format``) instead of stopping the run.
COUNT = r"\d{1,18}|-|"
#: A duration in seconds (``$request_time``), ``-`` or empty when missing.
SECONDS = r"\d{1,18}\.\d+|-|"
KNOWN_PATTERNS: dict[str, str] = {
    "time_iso8601": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z)",
    "msec": r"\d+\.\d+",
    "status": r"\d{3}",
    "body_bytes_sent": COUNT,
    "bytes_sent": COUNT,
    "request_length": COUNT,
    "connection": COUNT,
    "connection_requests": COUNT,
    "request_time": SECONDS,
}
# Variables whose values never hold a space or a tab (nginx escapes control characters).
_NO_SPACE = {
    "remote_addr", "remote_user", "remote_port", "realip_remote_addr", "binary_remote_addr",
    "host", "http_host", "server_name", "server_addr", "server_port", "scheme", "server_protocol",
    "request_method", "request_uri", "args", "query_string", "is_args",
    "request_id", "ut_id", "uid_got", "uid_set", "ssl_protocol", "ssl_cipher", "gzip_ratio",
    "pid", "hostname", "pipe", "time_iso8601", "msec",
} | set(KNOWN_PATTERNS)
_NO_SPACE_PREFIXES = ("cookie_", "arg_")
# ($uri and $document_uri are decoded, "/My%20Notes.pdf" is logged "/My Notes.pdf": they may.)
# A host name never holds a "/" (nginx rejects such a Host): "$scheme://$host$request_uri" splits.
_NO_SLASH = {"host"}
# Variables that differ on nearly every line: stored as plain strings, not dictionaries.
HIGH_CARDINALITY = {
    "msec", "time_local__date", "time_iso8601", "body_bytes_sent", "bytes_sent", "request_length", "request_time", "connection",
    "connection_requests", "request_id", "remote_port", "upstream_response_time",
    "upstream_connect_time", "upstream_header_time",
}
_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")
_REGEX_META = set("\\.^$|?*+()[]{}")


def re_literal(text: str) -> str:
    """Escape ``text`` for RE2, Java and Python alike (``re.escape`` also escapes spaces)."""
    return "".join("\\" + c if c in _REGEX_META else c for c in text)


def _no_space(name: str) -> bool:
    return name in _NO_SPACE or name.startswith(_NO_SPACE_PREFIXES)


@dataclass(frozen=True)
class Field:
    """One field of the fast path: the part of a line between two delimiters.

    ``items`` are ``(kind, text)`` pairs, kind ``"lit"`` or ``"var"``; ``regex`` matches a whole
    field value (after the CSV reader removed its quotes) and names a group per variable.
    """

    items: tuple[tuple[str, str], ...]
    quoted: bool
    regex: str
    high_cardinality: bool

    @property
    def variables(self) -> tuple[str, ...]:
        return tuple(t for k, t in self.items if k == "var")

    @property
    def is_literal(self) -> bool:
        return not self.variables

    @property
    def groups(self) -> tuple[str, ...]:
        """The names of the regex's groups: the variables, ``$time_local`` as two."""
        return tuple(re.compile(self.regex).groupindex)


@dataclass(frozen=True)
class LogFormat:
    """An nginx ``log_format``: its template, its ``escape=`` mode and an optional name.

    Parameters
    ----------
    template : str
        The format string, exactly as nginx reads it (the quoted strings of the directive
        concatenated), e.g. ``'$remote_addr [$time_local] "$request" $status'``.
    escape : {"default", "json", "none"}
        nginx's ``escape=`` parameter of ``log_format``.
    name : str, optional
        The format's name, for messages.

    Examples
    --------
    >>> LogFormat.preset("combined_ut").variables[-1]
    'cookie_UT_ID'
    >>> LogFormat.parse("escape=json '{\\"t\\":\\"$msec\\"}'").escape
    'json'
    """

    template: str
    escape: str = "default"
    name: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.escape not in ESCAPES:
            raise LogFormatError(
                f"escape must be one of {', '.join(ESCAPES)} (nginx's escape= parameter); "
                f"got {self.escape!r}"
            )
        if not self.variables:
            raise LogFormatError(
                f"log format {self.template!r} has no $variable; pass the format string as it "
                "stands in nginx.conf, e.g. '$remote_addr - $remote_user [$time_local] ...'"
            )

    def __str__(self) -> str:
        return self.name or self.template

    # construction --------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> LogFormat:
        """The named preset (``combined``, ``combined_ut``, ``tsv`` or ``json``)."""
        try:
            template, escape = PRESETS[name]
        except KeyError:
            raise LogFormatError(
                f"unknown log format preset {name!r}; presets are {', '.join(PRESETS)}, "
                "or pass the log_format string itself"
            ) from None
        return cls(template, escape, name)

    @classmethod
    def parse(cls, text: str, *, name: str | None = None) -> LogFormat:
        """A format from text given as nginx writes it.

        ``text`` is the bare template; or what follows the name in a ``log_format`` directive: an
        optional ``escape=...`` and one or more single-quoted strings, which nginx concatenates
        (``"escape=json '{' '...}'"``); or the whole directive pasted from ``nginx.conf``,
        ``log_format main '...' '...';``, read as nginx reads it (its name becomes the format's).

        >>> fmt = LogFormat.parse("log_format main '$remote_addr [$time_local] '\\n  '$request $status';")
        >>> fmt.name, fmt.template
        ('main', '$remote_addr [$time_local] $request $status')
        """
        stripped = text.strip()
        if re.match(r"log_format\s", stripped):
            return cls._of_directive(_directive_args(stripped), name)
        if stripped.startswith(("escape=", "'")):
            tokens = _conf_tokens(stripped.rstrip(";"), "--log-format")
            escape = "default"
            if tokens and not tokens[0][1] and tokens[0][0].startswith("escape="):
                escape = tokens.pop(0)[0].split("=", 1)[1]
            if tokens and all(quoted for _, quoted, _ in tokens):
                return cls("".join(t for t, _, _ in tokens), escape, name)
            if escape != "default" or len(tokens) != 1:
                raise LogFormatError(
                    f"cannot read log format {text!r}: after escape= give the format as one or "
                    "more quoted strings, as in nginx.conf"
                )
        return cls(text, "default", name)

    @classmethod
    def _of_directive(cls, args: list[tuple[str, bool, int]], name: str | None = None) -> LogFormat:
        """The format of a ``log_format`` directive's arguments (name, ``escape=``, strings), as nginx
        reads them: the strings after the name and the optional ``escape=`` concatenated."""
        fname, rest = args[0][0], list(args[1:])
        escape = "default"
        if rest and rest[0][0].startswith("escape=") and not rest[0][1]:
            escape = rest.pop(0)[0].split("=", 1)[1]
        return cls("".join(t for t, _, _ in rest), escape, name or fname)

    @classmethod
    def from_nginx_conf(cls, path: str | os.PathLike, name: str | None = None) -> LogFormat:
        """Read a ``log_format`` out of an nginx configuration file (``include``s followed).

        Without ``name``, the format used by the configuration's ``access_log`` directives is
        taken when there is exactly one, or the only ``log_format`` defined.
        """
        formats: dict[str, LogFormat] = {}
        used: list[str] = []
        for directive, args in _conf_directives(os.fspath(path)):
            if directive == "log_format" and len(args) >= 2:
                formats[args[0][0]] = cls._of_directive(args)
            elif directive == "access_log" and len(args) >= 2 and args[0][0] != "off":
                used.append(args[1][0])
        if name is None:
            candidates = sorted(set(used)) or sorted(formats)
            if len(candidates) != 1:
                raise LogFormatError(
                    f"{path}: {'several' if candidates else 'no'} log formats "
                    f"({', '.join(candidates) or 'none defined'}); choose one with --format-name"
                )
            name = candidates[0]
        if name in formats:
            return formats[name]
        if name == "combined":  # nginx's built-in format needs no definition
            return cls.preset("combined")
        raise LogFormatError(
            f"{path}: no log_format named {name!r}; defined: {', '.join(sorted(formats)) or 'none'}"
        )

    # the compiled forms ----------------------------------------------------------------------
    @cached_property
    def items(self) -> tuple[tuple[str, str], ...]:
        """The template as ``("lit", text)`` and ``("var", name)`` pairs."""
        out: list[tuple[str, str]] = []
        pos = 0
        for m in _VAR.finditer(self.template):
            if m.start() > pos:
                out.append(("lit", self.template[pos : m.start()]))
            out.append(("var", m.group(1) or m.group(2)))
            pos = m.end()
        if pos < len(self.template):
            out.append(("lit", self.template[pos:]))
        return tuple(out)

    @cached_property
    def variables(self) -> tuple[str, ...]:
        """The variable names, in template order (a repeated variable is listed once)."""
        return tuple(dict.fromkeys(t for k, t in self.items if k == "var"))

    def _value_regex(self, i: int, items: tuple[tuple[str, str], ...], group: bool = True) -> str:
        """The regex of variable ``items[i]``, in the context of its neighbours."""
        name = items[i][1]
        before = items[i - 1][1] if i > 0 and items[i - 1][0] == "lit" else ""
        after = items[i + 1][1] if i + 1 < len(items) and items[i + 1][0] == "lit" else ""
        g = (lambda n, p: f"(?P<{n}>{p})") if group else (lambda n, p: f"(?:{p})")
        if name == "time_local":
            return g("time_local__date", _TIME_LOCAL_DATE) + " " + g("time_local__zone", _TIME_LOCAL_ZONE)
        if name in KNOWN_PATTERNS:
            return g(name, KNOWN_PATTERNS[name])
        if before.endswith('"') and after.startswith('"'):
            body = {"default": r'[^"]*', "json": r'(?:[^"\\]|\\.)*', "none": r".*?"}[self.escape]
        elif _no_space(name) and self.escape == "json":
            body = r'(?:[^\s"\\]|\\.)*'  # a quote inside is written \" (\x22 with escape=default)
        elif _no_space(name):
            body = r'[^\s"/]*' if name in _NO_SLASH else r'[^\s"]*'
        elif self.escape == "default" and (after[:1] == "\t" or before[-1:] == "\t"):
            body = r"[^\t]*"  # nginx escapes control characters such as the tab
        else:
            body = r".*?"
        return g(name, body)

    def _items_regex(self, items: tuple[tuple[str, str], ...]) -> str:
        seen: set[str] = set()
        parts = []
        for i, (kind, text) in enumerate(items):
            if kind == "lit":
                parts.append(re_literal(text))
            else:  # a variable repeated in the template is captured once
                parts.append(self._value_regex(i, items, group=text not in seen))
                seen.add(text)
        return "".join(parts)

    @cached_property
    def regex(self) -> str:
        """The anchored regular expression of a whole line, one named group per variable.

        ``time_local`` gives two groups, ``time_local__date`` and ``time_local__zone``.
        """
        return "^" + self._items_regex(self.items) + "$"

    @cached_property
    def groups(self) -> tuple[str, ...]:
        """The group names of :attr:`regex`, in order."""
        return tuple(re.compile(self.regex).groupindex)

    @cached_property
    def delimiter(self) -> str | None:
        """The one character that separates fields, when the fast path applies (else ``None``)."""
        return self._plan()[0]

    @cached_property
    def fields(self) -> tuple[Field, ...] | None:
        """The fast path's field plan, or ``None`` when only the regex can parse this format."""
        return self._plan()[1]

    def _plan(self) -> tuple[str | None, tuple[Field, ...] | None]:
        if self.escape == "json":
            return None, None
        lits = "".join(t for k, t in self.items if k == "lit")
        delim = "\t" if "\t" in lits else " "
        if delim not in lits:
            return None, None
        # Split the template into fields at the delimiter; a quoted section is one whole field.
        fields: list[list[tuple[str, str]]] = [[]]
        quoted = [False]
        in_quotes = closed = False
        stream = [(k, t) if k == "var" else ("lit", c) for k, t in self.items for c in (
            [t] if k == "var" else t)]
        for kind, text in stream:
            if kind == "lit" and text == '"':
                if in_quotes:
                    in_quotes, closed = False, True
                elif fields[-1] or quoted[-1]:
                    return None, None  # a quote that does not open a field
                else:
                    in_quotes = quoted[-1] = True
            elif kind == "lit" and text == delim and not in_quotes:
                fields.append([])
                quoted.append(False)
                closed = False
            elif closed:
                return None, None  # text after a closing quote
            elif kind == "lit" and fields[-1] and fields[-1][-1][0] == "lit":
                fields[-1][-1] = ("lit", fields[-1][-1][1] + text)
            else:
                fields[-1].append((kind, text))
        if in_quotes:
            return None, None
        plan: list[Field] = []
        for items, q in zip(fields, quoted):
            if q and self.escape == "none" and any(k == "var" for k, _ in items):
                return None, None  # a raw value may hold a quote: only the regex can tell
            if not q and not (delim == "\t" and self.escape == "default"):
                # nginx escapes tabs in values, not spaces: a space-separated field must hold
                # variables that never contain one
                for _, name in (it for it in items if it[0] == "var"):
                    if name != "time_local" and not _no_space(name):
                        return None, None
            # time_local holds a space: its field becomes two CSV fields
            split_at = next((i for i, it in enumerate(items) if it == ("var", "time_local")), None)
            if split_at is not None and delim == " " and not q:
                head = tuple(items[:split_at]) + (("var", "time_local__date"),)
                tail = (("var", "time_local__zone"),) + tuple(items[split_at + 1 :])
                plan += [self._field(head, False), self._field(tail, False)]
            else:
                plan.append(self._field(tuple(items), q))
        return delim, tuple(plan)

    def _field(self, items: tuple[tuple[str, str], ...], quoted: bool) -> Field:
        parts = []
        for i, (kind, text) in enumerate(items):
            if kind == "lit":
                parts.append(re_literal(text))
            elif text == "time_local__date":
                parts.append(f"(?P<{text}>{_TIME_LOCAL_DATE})")
            elif text == "time_local__zone":
                parts.append(f"(?P<{text}>{_TIME_LOCAL_ZONE})")
            elif quoted and len(items) == 1 and text not in KNOWN_PATTERNS and text != "time_local":
                # alone inside quotes: nothing but the quote is excluded (nginx escapes it)
                parts.append(f"(?P<{text}>[^\"]*)")
            else:  # with others: as the regex of the whole line has it, or the parsers would differ
                parts.append(self._value_regex(i, items))
        regex = "^" + "".join(parts) + "$"
        return Field(
            items=items,
            quoted=quoted,
            regex=regex,
            high_cardinality=any(n in HIGH_CARDINALITY for n in re.compile(regex).groupindex),
        )

    # writing lines ----------------------------------------------------------------------------
    def render(self, values: Mapping[str, str | bytes | None]) -> str:
        """One log line (without newline) as nginx writes it for these variable values.

        A missing or ``None`` value is written as nginx writes a missing variable (``-``, or
        nothing with ``escape=json``); values are escaped as the ``escape=`` mode says.

        >>> LogFormat.parse('"$http_user_agent" $status').render({"http_user_agent": "é"})
        '"\\\\xC3\\\\xA9" -'
        """
        out = []
        for kind, text in self.items:
            if kind == "lit":
                out.append(text)
                continue
            value = values.get(text)
            if value is None:
                out.append("" if self.escape == "json" else "-")
            else:
                out.append(_escape(value, self.escape))
        return "".join(out)


def _escape(value: str | bytes, mode: str) -> str:
    raw = value.encode("utf-8", "surrogateescape") if isinstance(value, str) else value
    if mode == "none":
        return raw.decode("utf-8", "surrogateescape")
    if mode == "json":
        out = []
        for ch in raw.decode("utf-8", "surrogateescape"):
            if ch in '"\\':
                out.append("\\" + ch)
            elif ch in "\n\r\t\b\f":
                out.append(json.dumps(ch)[1:-1])
            elif ord(ch) < 0x20:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return "".join(out)
    return "".join(
        f"\\x{b:02X}" if b < 0x20 or b >= 0x7F or b in (0x22, 0x5C) else chr(b) for b in raw
    )


_HEX_ESCAPE = re.compile(rb"\\x([0-9A-Fa-f]{2})")


def unescape(value: str, mode: str = "default") -> str:
    """Undo nginx's log escaping: ``\\xHH`` become bytes, decoded as UTF-8 with replacement.

    With ``escape=json`` JSON's escapes are undone; with ``escape=none`` nothing was escaped.

    >>> unescape(r"caf\\xC3\\xA9 \\x22x\\x22")
    'café "x"'
    >>> unescape(r'say \\"hi\\"\\u0009', "json")
    'say "hi"\\t'
    """
    if mode == "none":  # written as it was: a "\\x41" in it is the client's
        return value
    if mode == "json":
        if "\\" not in value:
            return value
        try:
            return json.loads('"' + value + '"')
        except ValueError:
            return value
    if "\\x" not in value:
        return value
    raw = _HEX_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), value.encode("utf-8"))
    return raw.decode("utf-8", "replace")


def resolve_log_format(spec: str | LogFormat) -> LogFormat | None:
    """A :class:`LogFormat` from a preset name, a ``log_format`` string, or ``None`` for ``auto``."""
    if isinstance(spec, LogFormat):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise LogFormatError(f"log_format must be 'auto', a preset name or a format string; got {spec!r}")
    if spec == "auto":
        return None
    if "$" not in spec:
        return LogFormat.preset(spec)
    return LogFormat.parse(spec)


# nginx configuration files -------------------------------------------------------------------
def _directive_args(text: str) -> list[tuple[str, bool, int]]:
    """The arguments of one ``log_format`` directive pasted whole (``log_format NAME ... ;``, the
    ``;`` optional), tokenized as nginx does."""
    tokens = _conf_tokens(text, "--log-format")
    if tokens and tokens[-1][0] == ";" and not tokens[-1][1]:
        tokens.pop()
    args = tokens[1:]
    stray = next((t for t, quoted, _ in args if not quoted and t in ";{}"), None)
    if stray is not None:
        raise LogFormatError(
            f"cannot read log format {text[:200]!r}: give one log_format directive (it holds {stray!r}, "
            "which ends a directive); for several formats, give --log-format once for each"
        )
    if len(args) < 2 or (len(args) == 2 and args[1][0].startswith("escape=") and not args[1][1]):
        raise LogFormatError(
            f"cannot read log format {text[:200]!r}: a log_format directive is log_format NAME "
            "[escape=...] 'format string' ...;"
        )
    return args


_CONF_ESCAPES = {"t": "\t", "r": "\r", "n": "\n"}


def _conf_tokens(text: str, where: str) -> list[tuple[str, bool, int]]:
    """nginx's tokenizer: ``(token, was_quoted, line)``; ``;``, ``{``, ``}`` are tokens of their own."""
    tokens: list[tuple[str, bool, int]] = []
    i, n, line = 0, len(text), 1
    while i < n:
        ch = text[i]
        if ch.isspace():
            line += ch == "\n"
            i += 1
        elif ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif ch in ";{}":
            tokens.append((ch, False, line))
            i += 1
        elif ch in "'\"":
            buf, j = [], i + 1
            while j < n and text[j] != ch:
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    buf.append(_CONF_ESCAPES.get(nxt, nxt if nxt in "'\"\\" else "\\" + nxt))
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            if j >= n:
                raise LogFormatError(f"{where}: unbalanced {ch} quote starting on line {line}")
            tokens.append(("".join(buf), True, line))
            line += text.count("\n", i, j)
            i = j + 1
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in ";{}'\"":
                j += 1 if text[j] != "\\" else 2
            tokens.append((text[i:j], False, line))
            i = j
    return tokens


_DIRECTIVE_WORD = re.compile(r"^[a-z][a-z0-9_]*$")


def _conf_directives(path: str, depth: int = 0):
    """Yield ``(directive, [(arg, quoted, line), ...])`` from an nginx configuration, following includes.

    A ``log_format`` must end with ``;``, as nginx requires; a missing one is an error naming the
    line, also where nginx would silently read the next directive as part of the format.
    """
    if depth > 16:
        raise LogFormatError(f"{path}: include nesting deeper than 16 levels")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as e:
        raise LogFormatError(f"cannot read nginx configuration {path}: {e.strerror}") from None
    stmt: list[tuple[str, bool, int]] = []
    for tok in [*_conf_tokens(text, path), ("", False, None)]:  # a last empty token: the end of the file
        end = tok[2] is None or (tok[0] in ";{}" and not tok[1])
        if not end:
            stmt.append(tok)
            continue
        if not stmt:
            continue
        name, args = stmt[0][0], stmt[1:]
        if name == "log_format":
            _check_terminated(path, stmt, tok)
        if name == "include" and args:
            pattern = args[0][0]
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.dirname(path), pattern)
            for inc in sorted(glob.glob(pattern)):
                yield from _conf_directives(inc, depth + 1)
        else:
            yield name, args
        stmt = []


def _check_terminated(path: str, stmt: list[tuple[str, bool, int]], end: tuple[str, bool, int | None]) -> None:
    start = stmt[0][2]
    fmt_name = stmt[1][0] if len(stmt) > 1 else ""
    if end[0] != ";" or end[2] is None:
        where = "the end of the file" if end[2] is None else f"{end[0]!r} on line {end[2]}"
        raise LogFormatError(
            f'{path}:{end[2] or stmt[-1][2]}: directive "log_format" is not terminated by ";" '
            f"(log_format {fmt_name} starts on line {start} and runs into {where}); end it with ';'"
        )
    prev = stmt[1][2] if len(stmt) > 1 else start
    for k, (text, quoted, line) in enumerate(stmt[2:], 2):
        # an unquoted bare word opening a line after the format's strings: the next directive,
        # read as part of the format because the ';' is missing (nginx accepts it silently)
        if k > 2 and not quoted and line > prev and _DIRECTIVE_WORD.match(text) and stmt[k - 1][1]:
            raise LogFormatError(
                f'{path}:{stmt[k - 1][2]}: directive "log_format" is not terminated by ";": '
                f"log_format {fmt_name} (line {start}) runs on into {text!r} on line {line}, which "
                "looks like the next directive; end the format with ';'"
            )
        prev = line
