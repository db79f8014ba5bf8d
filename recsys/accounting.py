"""Where every log line went: kept as a page view, dropped for a reason, or malformed."""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Accounting"]

#: How many malformed lines are kept as examples, per kind.
EXAMPLES_PER_KIND = 5


@dataclass
class Accounting:
    """Counts of log lines: every input line is counted exactly once.

    ``lines == malformed + sum(dropped.values()) + views`` holds after :func:`recsys.page_views`;
    :meth:`check` verifies it. After :func:`recsys.read_logs` alone the lines that parsed are not
    yet split into views and drops (:attr:`requests` holds their number).

    Attributes
    ----------
    lines : int
        Lines read, over all files.
    malformed : int
        Lines that could not be parsed; :attr:`malformed_kinds` splits them into ``format`` (the
        line does not match the log format), ``encoding`` (invalid UTF-8), ``time`` (an impossible
        time) and ``request`` (a request line that is not ``METHOD TARGET [HTTP/x]``).
    dropped : dict
        Parsed lines that are not article page views, by reason (see :func:`recsys.page_views`).
    views : int
        Lines kept as page views.
    examples : list of dict
        The first few malformed lines of each kind: ``path``, ``line`` (1-based), ``kind``, ``text``.
    files : list of dict
        Per file read: ``path``, ``lines``, ``malformed``, the ``format`` (and ``escape``) of its
        first lines, ``formats`` (each format its lines are in, in the order they first appear:
        ``format``, ``escape``, ``template``, ``first_line``, ``last_line`` and ``lines``, the
        number of lines it read) and ``warnings``; read by :func:`recsys.cache.cached_page_views`,
        also ``cache``: how the file was read (``"cached"``, ``"read"`` or ``"read from byte N"``).
    url_form : dict, optional
        The blog's trailing-slash form of article URLs, decided by :func:`recsys.page_views` once per
        run, and why (:func:`recsys.urls.canonical_form`); ``None`` until page views are counted.

    Examples
    --------
    >>> acc = Accounting(lines=5, malformed=1, malformed_kinds={"format": 1})
    >>> acc.drop("bot", 3); acc.views = 1
    >>> acc.check().to_dict()["dropped"]
    {'bot': 3}
    """

    lines: int = 0
    malformed: int = 0
    malformed_kinds: dict[str, int] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)
    views: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    url_form: dict[str, Any] | None = None

    @property
    def requests(self) -> int:
        """Lines that parsed into requests."""
        return self.lines - self.malformed

    def add_malformed(self, kind: str, n: int = 1) -> None:
        if n:
            self.malformed += n
            self.malformed_kinds[kind] = self.malformed_kinds.get(kind, 0) + n

    def wants_example(self, kind: str) -> bool:
        return self.examples_wanted(kind) > 0

    def examples_wanted(self, kind: str) -> int:
        """How many more malformed lines of ``kind`` are kept as examples."""
        return max(EXAMPLES_PER_KIND - sum(e["kind"] == kind for e in self.examples), 0)

    def add_example(self, path: str, line: int, kind: str, text: str) -> None:
        if self.wants_example(kind):
            self.examples.append({"path": path, "line": line, "kind": kind, "text": text[:500]})

    def drop(self, reason: str, n: int = 1) -> None:
        """Count ``n`` lines dropped for ``reason``."""
        if n:
            self.dropped[reason] = self.dropped.get(reason, 0) + int(n)

    def merge(self, other: Accounting) -> Accounting:
        """Add another accounting's counts to this one (for logs read in several passes).

        ``url_form`` stays this one's when it has one (the form is decided once per run).
        """
        self.lines += other.lines
        self.malformed += other.malformed
        self.views += other.views
        self.malformed_kinds = dict(Counter(self.malformed_kinds) + Counter(other.malformed_kinds))
        self.dropped = dict(Counter(self.dropped) + Counter(other.dropped))
        for e in other.examples:
            self.add_example(e["path"], e["line"], e["kind"], e["text"])
        self.files += other.files
        if self.url_form is None and other.url_form is not None:
            self.url_form = copy.deepcopy(other.url_form)
        return self

    def check(self) -> Accounting:
        """Raise ``AssertionError`` unless every line is counted exactly once; return self."""
        parts = self.malformed + sum(self.dropped.values()) + self.views
        if parts != self.lines:
            raise AssertionError(
                f"accounting does not add up: {self.malformed} malformed + "
                f"{sum(self.dropped.values())} dropped + {self.views} views = {parts}, "
                f"but {self.lines} lines were read"
            )
        if sum(self.malformed_kinds.values()) != self.malformed:
            raise AssertionError("malformed kinds do not add up to the malformed count")
        return self

    def copy(self) -> Accounting:
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (what the command line writes into ``report.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Accounting:
        return cls(**data)

    def summary(self) -> str:
        """A small table of the counts, for people."""
        width = len(f"{self.lines:,}")
        rows = [("lines", self.lines)]
        rows += [(f"malformed ({k})", v) for k, v in sorted(self.malformed_kinds.items())]
        rows += [(f"dropped: {k}", v) for k, v in sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0]))]
        rows.append(("page views", self.views))
        label = max(len(r[0]) for r in rows)
        pct = lambda v: f"{100 * v / self.lines:6.2f}%" if self.lines else ""
        return "\n".join(f"{k:<{label}}  {v:>{width},}  {pct(v)}" for k, v in rows)

    def __str__(self) -> str:
        return self.summary()
