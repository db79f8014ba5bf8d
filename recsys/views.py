"""From requests to article page views: what a reader actually read.

:func:`page_views` keeps successful ``GET`` views of article URLs by visitors, drops everything
else with a reason, and counts each line once in the :class:`recsys.Accounting`. The reasons, in
the order they are tested (a line gets the first that applies):

``no_request``
    no request at all: the request line was logged as ``-`` or empty (a connection that sent
    none, such as a scanner, a health check or TLS sent to port 80);
``bot``
    the user agent is in the crawler list of the ``crawler-user-agents`` project, or is missing;
``method``
    not one of ``methods`` (``GET``);
``handshake``
    a redirect without visitor cookie: the cookie-setting ``302`` of the classic cookie script (the
    script of ``deploy/openresty/`` does not redirect), and the redirect loops of clients that
    refuse cookies;
``status``
    any other status not in ``statuses`` (200 and 304);
``asset``
    a static file (stylesheet, script, image, font, media);
``not_article``
    a URL that does not match the article pattern (home page, feeds, ``robots.txt``, ...);
``no_visitor``
    an article view without visitor id;
``robots_txt``
    an article view by a client (IP address and user agent, or visitor id) that fetched
    ``/robots.txt``, which browsers never do;
``too_fast``
    an article view by a visitor who read more than ``max_per_minute`` articles within a minute.

URLs are normalized first, and every article is written in the blog's trailing-slash form
(:mod:`recsys.urls`).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pandas.api.types import union_categoricals

from .accounting import Accounting
from .logs import iter_tables, to_pandas
from .urls import article_regex, decide_form, is_article_url, kept_query, path_urls, slash_option, with_form

__all__ = [
    "page_views", "read_page_views", "is_bot", "DROP_REASONS", "VIEW_COLUMNS", "VIEW_OPTIONS", "ViewRules",
    "view_rules", "read_candidates", "line_filter", "behaviour_filter", "as_candidates",
    "concat_candidates", "visitor_hash",
    "ASSET", "REDIRECTS", "ROBOTS_TXT", "line_rules",
]

log = logging.getLogger(__name__)
DROP_REASONS = (
    "no_request", "bot", "method", "handshake", "status", "asset", "not_article", "no_visitor",
    "robots_txt", "too_fast",
)
VIEW_COLUMNS = ("ts", "visitor", "url", "ip", "user_agent", "referer")
ASSET = re.compile(
    r"(?i)(?:\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|bmp|tiff?|woff2?|ttf|otf|eot"
    r"|mp3|mp4|m4a|webm|ogg|wav|pdf|zip|gz)$|^/wp-(?:content|includes)/)"
)


@dataclass(frozen=True)
class ViewRules:
    """The options of :func:`page_views`, checked and compiled (:func:`view_rules`)."""

    article: re.Pattern
    trailing_slash: str | None  # None: read from the logs, after all of them (recsys.urls.canonical_form)
    keep_query: frozenset
    statuses: tuple
    methods: tuple
    visitor: str
    drop_bots: bool
    max_per_minute: int | None
    slash_from: str = "option"  # where trailing_slash comes from: "option", "preset" or "logs"


def _rules(article_pattern, trailing_slash, keep_query, statuses, methods, visitor, drop_bots, max_per_minute) -> ViewRules:
    article = article_regex(article_pattern)
    slash, slash_from = slash_option(article_pattern, trailing_slash)
    if visitor not in ("cookie", "ip+ua"):
        raise ValueError(f"visitor must be 'cookie' or 'ip+ua'; got {visitor!r}")
    if max_per_minute is not None and (not isinstance(max_per_minute, int) or max_per_minute < 1):
        raise ValueError(f"max_per_minute must be a positive integer or None; got {max_per_minute!r}")
    return ViewRules(
        article, slash, frozenset(keep_query), tuple(int(s) for s in statuses),
        tuple(m.upper() for m in methods), visitor, drop_bots, max_per_minute, slash_from,
    )


# bots ------------------------------------------------------------------------------------------
_BOT_CACHE: dict[str, bool] = {}


@lru_cache(maxsize=1)
def _crawler_patterns() -> tuple[str, ...]:
    from crawleruseragents import CRAWLER_USER_AGENTS_DATA

    pats = [d["pattern"] for d in CRAWLER_USER_AGENTS_DATA]
    return tuple("|".join(f"(?:{p})" for p in pats[i : i + 200]) for i in range(0, len(pats), 200))


def is_bot(user_agents: Iterable[str | None]) -> np.ndarray:
    """True for user agents of the crawler list of the ``crawler-user-agents`` project, or missing.

    >>> is_bot(["Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ...         "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", None])
    array([ True, False,  True])
    """
    values = [ua if isinstance(ua, str) else None for ua in user_agents]  # NaN, None: missing
    new = [ua for ua in set(values) if ua is not None and ua not in _BOT_CACHE]
    if new:  # each user agent is tested once per process
        if len(_BOT_CACHE) > 500_000:
            _BOT_CACHE.clear()
        arr = pa.array(new, pa.string())
        hit = pc.match_substring_regex(arr, _crawler_patterns()[0])
        for pattern in _crawler_patterns()[1:]:
            hit = pc.or_(hit, pc.match_substring_regex(arr, pattern))
        _BOT_CACHE.update(zip(new, hit.to_pylist()))
    return np.array([True if ua is None else _BOT_CACHE[ua] for ua in values], bool)


# the filters -----------------------------------------------------------------------------------
def _cat(col: pd.Series) -> pd.Categorical:
    cat = (col if isinstance(col.dtype, pd.CategoricalDtype) else col.astype("category")).array
    return cat if cat.categories.dtype == "str" else _str_cat(cat.codes, cat.categories)


def _str_cat(codes: np.ndarray, categories) -> pd.Categorical:
    """A categorical whose categories are pandas strings, whatever they were made from."""
    return pd.Categorical.from_codes(codes, pd.Index(np.asarray(categories, dtype=object), dtype="str"))


def _per_category(col: pd.Series, fn) -> np.ndarray:
    """``fn(categories) -> bool array``, spread to rows; missing values give False."""
    cat = _cat(col)
    per = np.append(np.asarray(fn(cat.categories), bool), False)  # code -1 (missing): last slot
    return per[cat.codes]


#: Statuses of the cookie handshake: a redirect to a client without the cookie is no visitor.
REDIRECTS = (301, 302, 303, 307)
ROBOTS_TXT = "/robots.txt"


def visitor_hash(ip: str | None, user_agent: str | None) -> str:
    """The visitor id of ``visitor="ip+ua"``: a short hash of the address and the user agent."""
    return hashlib.blake2b(f"{ip or ''}\x00{user_agent or ''}".encode(), digest_size=8).hexdigest()


def _visitor_ids(requests: pd.DataFrame, rules: ViewRules) -> pd.Categorical:
    if rules.visitor == "cookie":
        return _cat(requests["visitor"])
    ip, ua = _cat(requests["ip"]), _cat(requests["user_agent"])
    pair = ip.codes.astype(np.int64) * (len(ua.categories) + 1) + ua.codes + 1
    codes, uniques = pd.factorize(pair)
    ips, uas = ip.categories.tolist(), ua.categories.tolist()  # a list is read per pair, not an Index
    ids = []
    for u in uniques.tolist():
        i, j = divmod(u, len(uas) + 1)
        ids.append(visitor_hash(ips[i] if i >= 0 else None, uas[j - 1] if j else None))
    codes[ip.codes < 0] = -1
    return _str_cat(codes, ids)


def _urls(requests: pd.DataFrame, rows: np.ndarray, rules: ViewRules) -> pd.Categorical:
    """The canonical URL of the given rows, computed once per distinct path (and query)."""
    path = _cat(requests["path"])
    url_of_path = path_urls(path, rules.trailing_slash)
    pcodes = path.codes[rows]
    if not rules.keep_query:
        codes, uniq = pd.factorize(url_of_path)
        return _str_cat(np.append(codes, -1)[pcodes], uniq)
    query = _cat(requests["query"])
    qcodes = query.codes[rows]
    pair = pcodes.astype(np.int64) * (len(query.categories) + 1) + qcodes + 1
    uniq_pairs, inverse = np.unique(pair, return_inverse=True)
    urls = []
    for u in uniq_pairs:
        pi, qi = divmod(int(u), len(query.categories) + 1)
        urls.append(None if pi < 0 else url_of_path[pi] + kept_query(query.categories[qi - 1] if qi else None, rules.keep_query))
    codes, uniq = pd.factorize(np.array(urls, dtype=object))
    return _str_cat(codes[inverse], uniq)


def line_rules(rules: ViewRules, t) -> list[tuple[str, Callable[[], Any]]]:
    """The line rules, in order, written once for both engines: a line is dropped for the first
    reason whose test holds.

    ``t`` renders each test: the local engine's :class:`_Arrays` as boolean arrays over a block of
    requests, the Spark engine's ``recsys.spark._Columns`` as column expressions. Its methods are
    ``missing(column)``, ``isin(column, values)`` (False when missing), ``matches(column, regex)``,
    ``per_value(column, fn)`` (``fn`` on the distinct values only) and ``article()``.
    """
    tests = [
        ("no_request", lambda: t.missing("method") & t.missing("path")),
        ("bot", lambda: t.per_value("user_agent", is_bot) | t.missing("user_agent")),
        ("method", lambda: ~t.isin("method", rules.methods)),
        ("handshake", lambda: t.isin("status", REDIRECTS) & t.missing("visitor")),
        ("status", lambda: ~t.isin("status", rules.statuses)),
        ("asset", lambda: t.matches("path", ASSET.pattern)),
        ("not_article", lambda: ~t.article()),
        ("no_visitor", lambda: t.missing("visitor")),
    ]
    return [(name, test) for name, test in tests if rules.drop_bots or name != "bot"]


class _Arrays:
    """The line rules' tests as boolean arrays over a frame of requests (:func:`line_rules`)."""

    def __init__(self, requests: pd.DataFrame, rules: ViewRules, reason: np.ndarray) -> None:
        self.requests, self.rules, self.reason = requests, rules, reason
        self.visitor = _visitor_ids(requests, rules)
        self.url: pd.Categorical | None = None  # the URLs of the lines alive when the article test ran
        self.alive = np.arange(0)

    def missing(self, column: str) -> np.ndarray:
        if column == "visitor":
            return self.visitor.codes < 0
        return self.requests[column].isna().to_numpy()

    def isin(self, column: str, values) -> np.ndarray:
        col = self.requests[column]
        if not pd.api.types.is_numeric_dtype(col.dtype):
            return _per_category(col, lambda c: np.isin(np.asarray(c, dtype=object), list(values)))
        return np.isin(col.to_numpy(dtype=float, na_value=np.nan), values)

    def matches(self, column: str, regex: str) -> np.ndarray:
        return _per_category(self.requests[column], lambda c: pc.match_substring_regex(pa.array(c, pa.string()), regex))

    def per_value(self, column: str, fn) -> np.ndarray:
        return _per_category(self.requests[column], fn)

    def article(self) -> np.ndarray:
        """Normalized and tested once per distinct URL, for the lines still alive only."""
        self.alive = np.flatnonzero(self.reason < 0)
        self.url = _urls(self.requests, self.alive, self.rules)
        test = [is_article_url(u, self.rules.article, trailing_slash=self.rules.trailing_slash)
                for u in self.url.categories]
        out = np.ones(len(self.reason), bool)  # the dead lines: whatever, they have a reason
        out[self.alive] = np.append(np.array(test, bool), False)[self.url.codes]
        return out


def _line_filter(requests: pd.DataFrame, rules: ViewRules, acc: Accounting, *, compact: bool = False):
    """Drop by the line rules; return the candidate views and what the behaviour rules need.

    ``compact`` keeps only the categories in use: blocks read one by one must not each keep
    every address and referer they saw (a whole frame is compacted once, after the behaviour rules).
    """
    cand, [(_, robots_pairs, robots_visitors)] = line_filter(requests, rules, [(acc, len(requests))])
    if compact:
        for col in VIEW_COLUMNS[1:]:
            cand[col] = _used_only(cand[col].array)
    return cand, robots_pairs, robots_visitors


def line_filter(requests: pd.DataFrame, rules: ViewRules,
                pieces: list[tuple[Accounting, int]]) -> tuple[pd.DataFrame, list[tuple[int, set, set]]]:
    """The line rules over requests whose rows are consecutive ``pieces`` of ``(accounting, rows)``
    (the lines of several files read in one block): the rules run once, and each piece is counted
    into its own accounting.

    Returns the candidate views of all pieces, in order, with every category of ``requests``, and
    for each piece how many of them are its and the clients that fetched ``/robots.txt`` (address
    and user agent pairs, visitor ids), which the behaviour rules need from all lines.
    """
    n = len(requests)
    reason = np.full(n, -1, np.int8)
    t = _Arrays(requests, rules, reason)
    for name, test in line_rules(rules, t):
        reason[test() & (reason < 0)] = DROP_REASONS.index(name)
    keep = reason < 0
    robots = _per_category(requests["path"], lambda c: np.asarray(c == ROBOTS_TXT))
    ip, ua = _cat(requests["ip"]), _cat(requests["user_agent"])
    found, lo = [], 0
    for acc, rows in pieces:
        hi = lo + rows
        counts = np.bincount(reason[lo:hi] + 1, minlength=len(DROP_REASONS) + 1)
        for i, name in enumerate(DROP_REASONS):
            acc.drop(name, int(counts[i + 1]))
        at = np.flatnonzero(robots[lo:hi]) + lo
        robots_visitors = {v for v in np.asarray(t.visitor[at]) if isinstance(v, str)}
        found.append((int(counts[0]), set(zip(np.asarray(ip[at]), np.asarray(ua[at]))), robots_visitors))
        lo = hi
    cand = pd.DataFrame(
        {
            "ts": requests["ts"].array[keep],
            "visitor": t.visitor[keep],
            "url": t.url[keep[t.alive]],
            "ip": ip[keep],
            "user_agent": ua[keep],
            "referer": _cat(requests["referer"])[keep],
        }
    )
    return cand, found


def behaviour_filter(cand: pd.DataFrame, robots_pairs, robots_visitors, rules: ViewRules, acc: Accounting) -> pd.DataFrame:
    """The behaviour rules over all candidate views, then the URLs in the blog's form (``acc.url_form``)."""
    n = len(cand)
    drop = np.zeros(n, np.int8)
    if n and (robots_pairs or robots_visitors):
        pairs = pd.MultiIndex.from_arrays([cand["ip"], cand["user_agent"]])
        hit = pairs.isin(list(robots_pairs)) if robots_pairs else np.zeros(n, bool)
        drop[hit | cand["visitor"].isin(robots_visitors).to_numpy()] = 1
    k = rules.max_per_minute
    if k and n > k:
        vis = cand["visitor"].cat.codes.to_numpy()
        ts = cand["ts"].dt.as_unit("ms").array.asi8
        order = np.lexsort((ts, vis))
        v, t = vis[order], ts[order]
        burst = (v[k:] == v[:-k]) & (t[k:] - t[:-k] < 60_000)
        hit = np.isin(vis, np.unique(v[k:][burst])) & (drop == 0)
        drop[hit] = 2
    acc.drop("robots_txt", int(np.count_nonzero(drop == 1)))
    acc.drop("too_fast", int(np.count_nonzero(drop == 2)))
    views = cand[drop == 0].reset_index(drop=True)
    for col in ("visitor", "url", "ip", "user_agent", "referer"):
        views[col] = _used_only(views[col].array)
    # the blog's trailing-slash form: known, or read from all the views (hence here, after every file)
    if rules.trailing_slash is None:
        url = views["url"].array
        counts = np.bincount(url.codes[url.codes >= 0], minlength=len(url.categories))
        decision = decide_form(url.categories, counts, None, rules.slash_from, rules.article)
        views["url"] = _in_form(url, decision["trailing_slash"])
        log.info("URLs in the form %s, decided by the %s: %s", decision["trailing_slash"], decision["decided_by"],
                 decision["why"])
    else:
        decision = decide_form((), None, rules.trailing_slash, rules.slash_from, rules.article)
    acc.url_form = decision
    acc.views += len(views)
    return views


def _used_only(cat: pd.Categorical) -> pd.Categorical:
    """``cat.remove_unused_categories()``, the categories in use found by a count, not a sort.

    >>> _used_only(pd.Categorical(["b", None], categories=["a", "b", "c"])).categories.tolist()
    ['b']
    """
    codes = cat.codes
    used = np.bincount(codes[codes >= 0], minlength=len(cat.categories)) > 0
    if used.all():
        return cat
    new = np.cumsum(used) - 1
    return pd.Categorical.from_codes(np.where(codes >= 0, new[codes], -1), cat.categories[used])


def _in_form(url: pd.Categorical, mode: str) -> pd.Categorical:
    """The URLs in one trailing-slash form: ``/a`` and ``/a/`` become one (once per distinct URL)."""
    codes, uniq = pd.factorize(np.array([with_form(u, mode) for u in url.categories], dtype=object))
    return _str_cat(np.append(codes, -1)[url.codes], uniq)


def _accounting_for(requests: pd.DataFrame, accounting: Accounting | None) -> Accounting:
    if accounting is not None:
        pending = accounting.requests - sum(accounting.dropped.values()) - accounting.views
        if pending != len(requests):
            raise ValueError(
                f"accounting counts {pending} requests not yet dropped or kept, but requests has "
                f"{len(requests)} rows; pass the Accounting that read_logs filled for this frame"
            )
        return accounting
    return Accounting(lines=len(requests))


def page_views(
    requests: pd.DataFrame,
    *,
    article_pattern: str = "openresty",
    trailing_slash: str | None = None,
    keep_query: Iterable[str] = (),
    statuses: Iterable[int] = (200, 304),
    methods: Iterable[str] = ("GET",),
    visitor: str = "cookie",
    drop_bots: bool = True,
    max_per_minute: int | None = 20,
    accounting: Accounting | None = None,
) -> pd.DataFrame:
    """Article page views of real readers, from the requests of :func:`recsys.read_logs`.

    Parameters
    ----------
    requests : pandas.DataFrame
        As :func:`recsys.read_logs` returns it.
    article_pattern : str, default "openresty"
        A preset of :data:`recsys.urls.ARTICLE_PATTERNS` (``openresty``: ``/archives/<id>``,
        ``hugo``, ``hexo``, ``wordpress``) or a regular expression matched against the normalized
        URL, with and without its trailing slash (:func:`recsys.urls.is_article_url`).
    trailing_slash : {"strip", "add", "keep"}, optional
        The canonical form of URLs; by default the preset's, and for a regular expression the
        blog's, read from the views (:func:`recsys.urls.canonical_form`). ``keep`` keeps each URL as logged:
        the slash is then part of an article's identity, and the pattern sees the URL as it is.
    keep_query : iterable of str
        Query parameters that are part of a page's identity (e.g. ``p`` for WordPress's
        ``/?p=123``); all others are dropped.
    statuses, methods
        What counts as a successful view.
    visitor : {"cookie", "ip+ua"}
        Who a reader is: the ``UT_ID`` cookie, or (for logs without it) a hash of address and
        user agent.
    drop_bots : bool
        Drop user agents of the crawler list.
    max_per_minute : int or None
        Drop visitors who read more articles than this within a minute.
    accounting : Accounting, optional
        Pass the one :func:`recsys.read_logs` filled for ``requests``: the drops by reason, the
        views and the trailing-slash form decided (``url_form``, :func:`recsys.urls.canonical_form`)
        are counted into it, and every line of the logs is then counted once
        (:meth:`Accounting.check`). Without it they go into a new one that counts the rows of
        ``requests`` as its lines (it cannot know the malformed lines), and is not returned.

    Returns
    -------
    pandas.DataFrame
        ``ts``, ``visitor``, ``url``, ``ip``, ``user_agent``, ``referer``, in log order.

    Examples
    --------
    >>> req = pd.DataFrame({"ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-01 10:01"], utc=True),
    ...     "visitor": ["v1", None], "ip": ["::1", "::1"], "method": ["GET", "GET"],
    ...     "path": ["/archives/1/", "/archives/2"], "query": [None, None], "status": [200, 200],
    ...     "referer": [None, None], "user_agent": ["Firefox/128.0", "Firefox/128.0"]})
    >>> acc = Accounting(lines=len(req))  # as read_logs(..., accounting=acc) fills it
    >>> page_views(req, accounting=acc)["url"].tolist(), acc.dropped, acc.url_form["trailing_slash"]
    (['/archives/1'], {'no_visitor': 1}, 'strip')
    """
    rules = _rules(article_pattern, trailing_slash, keep_query, statuses, methods, visitor, drop_bots, max_per_minute)
    acc = _accounting_for(requests, accounting)
    cand, pairs, visitors = _line_filter(requests, rules, acc)
    return behaviour_filter(cand, pairs, visitors, rules, acc)


_STR = pd.Index([], dtype="str").dtype  # pandas' default string dtype, exactly (not only == "str")


def as_candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """A frame of candidate views in the one schema, whatever made it.

    ``ts`` in milliseconds, UTC; the other columns of :data:`VIEW_COLUMNS` categoricals whose
    categories are pandas strings. A block with no candidates, no referers or no addresses, or a
    frame back from Parquet, may hold categories of ``object`` or ``float`` dtype, or no
    categoricals at all: they would not combine with the others.

    >>> odd = pd.DataFrame({"ts": pd.to_datetime([], utc=True), **{c: [] for c in VIEW_COLUMNS[1:]}})
    >>> str(as_candidates(odd)["referer"].cat.categories.dtype), str(as_candidates(odd)["ts"].dtype)
    ('str', 'datetime64[ms, UTC]')

    Raises
    ------
    ValueError
        When a column is missing or ``ts`` holds no times.
    """
    missing = [c for c in VIEW_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"candidate views lack the columns {', '.join(missing)}")
    out, changed = {}, list(frame.columns) != list(VIEW_COLUMNS)
    ts = frame["ts"]
    if not (isinstance(ts.dtype, pd.DatetimeTZDtype) and str(ts.dtype.tz) == "UTC" and ts.dtype.unit == "ms"):
        ts, changed = pd.to_datetime(ts, utc=True).dt.as_unit("ms"), True
    out["ts"] = ts
    for col in VIEW_COLUMNS[1:]:
        values = frame[col]
        if not isinstance(values.dtype, pd.CategoricalDtype):
            values, changed = values.astype("category"), True
        cat = values.array
        if cat.categories.dtype != _STR or cat.ordered:
            cat, changed = _str_cat(cat.codes, cat.categories), True
        out[col] = cat
    if changed or not isinstance(frame.index, pd.RangeIndex):
        return pd.DataFrame(out).reset_index(drop=True)
    return frame


def concat_candidates(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Candidate views of blocks (or cached files), one after the other, in the one schema."""
    if not parts:
        return as_candidates(pd.DataFrame({c: [] for c in VIEW_COLUMNS}))
    parts = [as_candidates(p) for p in parts]
    if len(parts) == 1:
        return parts[0]
    out = {"ts": pd.concat([p["ts"] for p in parts], ignore_index=True)}
    for col in VIEW_COLUMNS[1:]:
        out[col] = union_categoricals([p[col].array for p in parts], ignore_order=True)
    return pd.DataFrame(out)


#: The options of :func:`page_views`, with their defaults.
VIEW_OPTIONS: dict[str, object] = {
    name: p.default for name, p in inspect.signature(page_views).parameters.items()
    if p.kind is p.KEYWORD_ONLY and name != "accounting"
}


def view_rules(options: dict) -> ViewRules:
    """The rules of options of :func:`page_views` (:data:`VIEW_OPTIONS`; the defaults for those not given)."""
    unknown = set(options) - set(VIEW_OPTIONS)
    if unknown:
        raise TypeError(f"unexpected options: {', '.join(sorted(unknown))}")
    o = {**VIEW_OPTIONS, **options}
    return _rules(o["article_pattern"], o["trailing_slash"], o["keep_query"], o["statuses"], o["methods"],
                  o["visitor"], o["drop_bots"], o["max_per_minute"])


def read_candidates(paths, rules: ViewRules, acc: Accounting, *, progress=None, read_options=None, resume=None,
                families=None):
    """The line rules block by block: candidate views, and what the behaviour rules need."""
    parts, pairs, visitors = [], set(), set()
    for table in iter_tables(paths, accounting=acc, progress=progress, resume=resume, families=families,
                              **(read_options or {})):
        cand, p, v = _line_filter(to_pandas(table), rules, acc, compact=True)
        parts.append(cand)
        pairs |= p
        visitors |= v
    return concat_candidates(parts), pairs, visitors


def read_page_views(paths, *, accounting: Accounting | None = None, progress: bool | None = None, read_options: dict | None = None, **view_options) -> pd.DataFrame:
    """:func:`recsys.read_logs` then :func:`page_views`, block by block: memory stays bounded.

    Only the page views are held, never all requests; the behaviour rules, which need the whole
    logs, run at the end. ``read_options`` go to :func:`recsys.read_logs`, the other keyword
    arguments to :func:`page_views`; the result is the same as theirs, and so are the counts
    ``accounting`` is filled with (pass one to see them).
    """
    acc = Accounting() if accounting is None else accounting
    rules = view_rules(view_options)
    cand, pairs, visitors = read_candidates(paths, rules, acc, progress=progress, read_options=read_options)
    return behaviour_filter(cand, pairs, visitors, rules, acc)
