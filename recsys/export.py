"""What the blog imports: ``related.json``, the canonical file (:mod:`recsys.blog` derives the rest).

``related.json`` (version 1)::

    {"version": 1,
     "generated": "2024-03-31T02:00:00Z",
     "params": {"min_support": 3, ...},
     "items": {"/archives/123": [{"url": "/archives/456", "title": "...", "score": 0.41,
                                  "confidence": 0.41, "lift": 3.2, "count": 17,
                                  "source": "rules"}, ...], ...}}

``items`` maps each article to its list, best first. ``source`` is ``rules`` or ``popular`` (the
fill of short lists; ``score``, ``confidence``, ``lift`` and ``count`` are null there). ``count``
is the number of distinct readers behind the rule. ``title`` appears when titles are known.

The logs anyone can write to are the source of these URLs, so nothing is published that is not a
same-site path matching the article pattern (no scheme, no ``//host``, no backslash, no control
character); titles are plain text. No visitor id or address appears in any exported file.

``next.json`` (version 1, :func:`next_json`) is what the widget ranks a reader's own history with,
in the browser, exactly as :meth:`recsys.Model.lists_next` ranks it in Python (one line, compact)::

    {"version": 1, "generated": "2024-03-31T02:00:00Z",
     "k": 5, "recent": 5, "max_rules": 100, "history": 50,
     "articles": ["/archives/1", "/archives/2", ...],
     "titles": ["...", null, ...],
     "popularity": [1, 0, ...],
     "fill": [1, 0, ...],
     "rules": [[[1, 0.4166666666666667, 7, 0.25], [12, 0.05]], ...]}

``articles`` in the model's order (by URL: the order in which the rules' scores are summed);
``titles`` (only when titles are known) and ``popularity`` (each article's place by trusted
readers, ties by URL: what breaks ties) are parallel to it; ``fill`` lists the admitted articles by
popularity, ``k + 64`` at most (the popular fill); ``rules[i]`` holds article i's rules, at most its
``max_rules`` best (those :func:`recsys.sequences.rank` uses), as two flat lists of ``consequent,
score`` pairs, the tier-1 rules then the tier-2 ones, each best first. The scores are the model's
in full precision (the shortest form that reads back to the same number), so the browser's sums
are Python's to the last bit. A rule takes at most 28 bytes (under 10,000 articles; about 25.6
measured), so the file holds at most ``articles x max_rules x 28`` bytes of rules, plus each
article's URL and title;
``history`` is how many articles the widget remembers (:data:`WIDGET_HISTORY`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from .atomic import atomic_write
from .titles import plain_text
from .urls import article_regex, is_article_url, with_form

__all__ = [
    "related_json", "write_related", "json_text", "write_table", "pseudonymize", "safe_url", "article_regex",
    "RELATED_VERSION", "next_json", "NEXT_VERSION", "WIDGET_HISTORY",
]

log = logging.getLogger(__name__)

RELATED_VERSION = 1
NEXT_VERSION = 1
#: How many distinct articles the widget remembers of a reader (the latest; its MAX_HISTORY).
WIDGET_HISTORY = 50
_SAFE_PATH = re.compile(r"^/(?!/)[^\s\\\x00-\x1f\x7f\"'<>`]*$")


def safe_url(url: object, article: re.Pattern | str = "openresty") -> bool:
    """Whether ``url`` may be published: a same-site path that matches the article pattern (with or
    without its trailing slash, as :func:`recsys.urls.is_article_url`).

    >>> [safe_url(u) for u in ["/archives/12", "//evil.example/archives/1", "javascript:alert(1)",
    ...                        "/archives/1\\" onmouseover=x", "/archives/x", "/archives/12/"]]
    [True, False, False, False, False, True]
    """
    if not isinstance(url, str) or not _SAFE_PATH.match(url):
        return False
    return is_article_url(url, article)


def _titles_of(titles) -> tuple[dict, dict]:
    """The titles by URL as given, and by URL without trailing slash (for another form)."""
    given = {k: v for k, v in titles.items() if isinstance(k, str)} if titles is not None else {}
    bare: dict = {}
    for url, title in given.items():
        bare.setdefault(with_form(url, "strip"), title)
    return given, bare


def _number(x) -> float | int | None:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))) or x is pd.NA:
        return None
    return round(float(x), 6) if isinstance(x, float) else int(x)


def related_json(
    recommendations: pd.DataFrame,
    *,
    article_pattern: str = "openresty",
    titles: pd.Series | Mapping[str, str] | None = None,
    params: Mapping[str, object] | None = None,
    generated: datetime | None = None,
) -> dict:
    """The ``related.json`` document for the per-article lists of :func:`recsys.recommend`.

    Articles and recommended URLs that are not safe same-site article paths are left out (and
    logged), whatever the rules said.

    >>> recs = pd.DataFrame({"item": ["/archives/1", "/archives/1"], "rank": [1, 2],
    ...     "url": ["/archives/2", "javascript:alert(1)"], "score": [0.5, 0.4], "confidence": [0.5, 0.4],
    ...     "lift": [2.0, 1.0], "count": [4, 3], "source": ["rules", "rules"]})
    >>> doc = related_json(recs, generated=datetime(2024, 3, 31, tzinfo=timezone.utc))
    >>> doc["items"]
    {'/archives/1': [{'url': '/archives/2', 'score': 0.5, 'confidence': 0.5, 'lift': 2.0, 'count': 4, 'source': 'rules'}]}
    >>> doc["generated"]
    '2024-03-31T00:00:00Z'
    """
    pattern = article_regex(article_pattern)
    # a Series (recsys.load_titles) or a mapping, found whichever trailing-slash form it and the URLs take
    titles, bare_titles = _titles_of(titles)
    items: dict[str, list[dict]] = {}
    dropped = 0
    ordered = recommendations.sort_values(["item", "rank"], kind="stable")
    for item, url, score, conf, lift, count, source in ordered[
        ["item", "url", "score", "confidence", "lift", "count", "source"]
    ].itertuples(index=False):
        if not (safe_url(item, pattern) and safe_url(url, pattern)):
            dropped += 1
            continue
        entry = {"url": url}
        title = titles[url] if url in titles else bare_titles.get(with_form(url, "strip"))
        if title is not None:
            entry["title"] = plain_text(title)
        entry.update(score=_number(score), confidence=_number(conf), lift=_number(lift),
                     count=_number(count), source=source)
        items.setdefault(item, []).append(entry)
    if dropped:
        log.warning("left %d recommendations out of related.json: not same-site article URLs", dropped)
    when = (generated or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return {
        "version": RELATED_VERSION,
        "generated": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "params": dict(params or {}),
        "items": items,
    }


def next_json(
    sequences,
    *,
    k: int = 5,
    recent: int = 5,
    max_rules: int | None = 100,
    article_pattern: str = "openresty",
    titles: pd.Series | Mapping[str, str] | None = None,
    generated: datetime | None = None,
) -> dict:
    """The ``next.json`` document: what the widget needs to rank a reader's history in the browser.

    Parameters
    ----------
    sequences : recsys.Sequences
        The sequential pair rules (:func:`recsys.sequence_rules`).
    k, recent, max_rules
        As :func:`recsys.sequences.rank` (the settings' ``k``, ``recent`` and ``max_rules``).
    article_pattern, titles, generated
        As :func:`related_json`: articles that are not safe same-site article paths are left out,
        with their rules.

    >>> from recsys.sequences import sequence_rules
    >>> s = pd.DataFrame({"visitor": list("uvw"), "items": [("/archives/1", "/archives/2")] * 2 + [("/archives/2",)],
    ...                   "start": pd.to_datetime(["2024-03-01"] * 3, utc=True)})
    >>> doc = next_json(sequence_rules(s), generated=datetime(2024, 3, 31, tzinfo=timezone.utc))
    >>> doc["articles"], doc["popularity"], doc["fill"], doc["rules"]
    (['/archives/1', '/archives/2'], [1, 0], [1, 0], [[[1, 1.0], []], [[0, 0.06666666666666667], []]])
    """
    pattern = article_regex(article_pattern)
    arts = sequences.articles
    urls = [str(u) for u in arts["url"]]
    m = len(urls)
    readers = arts["readers"].to_numpy(float) + 1e-9 * arts["sessions"].to_numpy()  # as rank
    order = np.lexsort((np.arange(m), -readers))
    admitted = arts["admitted"].to_numpy(bool)
    safe = np.fromiter((safe_url(u, pattern) for u in urls), bool, m)
    fill = [int(x) for x in order[admitted[order]][: k + 64] if safe[x]]
    rules = sequences.rules[sequences.rules["admitted"]]
    if max_rules:
        rules = rules.groupby("antecedent", sort=False).head(max_rules)
    labels = pd.Index(urls)
    ai, bi = labels.get_indexer(rules["antecedent"]), labels.get_indexer(rules["consequent"])
    ok = (ai >= 0) & (bi >= 0)
    ok[ok] = safe[ai[ok]] & safe[bi[ok]]
    dropped = int((~ok).sum())
    ai, bi = ai[ok], bi[ok]
    score, tier = rules["score"].to_numpy(float)[ok], rules["tier"].to_numpy(int)[ok]
    used = np.zeros(m, bool)
    used[ai], used[bi], used[fill] = True, True, True
    new = np.cumsum(used) - 1  # the published positions, in the model's order
    place = np.empty(m, np.int64)
    place[order] = np.arange(m)
    kept = np.flatnonzero(used)
    popularity = np.argsort(np.argsort(place[kept], kind="stable"), kind="stable")
    per: list[list] = [[[], []] for _ in kept]
    for a, b, sc, t in zip(new[ai].tolist(), new[bi].tolist(), score.tolist(), tier.tolist()):
        per[a][t - 1] += [b, sc]
    doc = {"version": NEXT_VERSION,
           "generated": (generated or datetime.now(timezone.utc)).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "k": int(k), "recent": int(recent), "max_rules": int(max_rules or 0), "history": WIDGET_HISTORY,
           "articles": [urls[x] for x in kept]}
    if titles is not None:
        given, bare = _titles_of(titles)
        doc["titles"] = [plain_text(given[u] if u in given else bare.get(with_form(u, "strip"))) or None
                         for u in doc["articles"]]
    doc.update(popularity=popularity.tolist(), fill=new[fill].tolist(), rules=per)
    if dropped:
        log.warning("left %d articles or rules out of next.json: not same-site article URLs", dropped)
    return doc


def json_text(data: object, *, compact: bool = False) -> str:
    """JSON that stays inert even if pasted into HTML or a script: ``<``, ``>``, ``&`` escaped
    (``compact``: on one line, without spaces, as ``next.json`` is written).

    >>> print(json_text({"title": "</script><b>&"}), end="")
    {
     "title": "\\u003c/script\\u003e\\u003cb\\u003e\\u0026"
    }
    """
    text = json.dumps(data, ensure_ascii=False, **({"separators": (",", ":")} if compact else {"indent": 1}))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return text + "\n"


def write_related(path: str | os.PathLike, document: dict, *, compact: bool = False) -> None:
    """Write ``related.json`` (or ``next.json``, ``compact``) atomically (the blog never reads half a
    file), as :func:`json_text`."""
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(json_text(document, compact=compact))


def pseudonymize(ids: pd.Series, salt: bytes) -> pd.Series:
    """Visitor ids replaced by a salted hash (16 hex digits): stable for one installation, and
    unlinkable to the cookie without the salt.

    >>> pseudonymize(pd.Series(["a", "a", None]), b"k").tolist()
    ['6245303f83c1a9d3', '6245303f83c1a9d3', None]
    """
    cat = ids.astype("category")
    hashed = [hashlib.blake2b(str(v).encode(), key=salt, digest_size=8).hexdigest() for v in cat.cat.categories]
    codes = cat.cat.codes.to_numpy()
    out = pd.Series(pd.Categorical.from_codes(codes, pd.Index(hashed, dtype="str") if hashed else pd.Index([], dtype="str")),
                    index=ids.index)
    return out.astype(object).where(codes >= 0, None)


def write_table(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """A frame written atomically, as Parquet or CSV by the file's suffix; sets become sorted
    lists (Parquet) or ``a | b`` (CSV)."""
    out = df.copy()
    out.attrs = {}  # the accounting and other run details live in report.json
    csv = os.fspath(path).endswith(".csv")
    for col in out.columns:
        if len(out) and isinstance(out[col].iloc[0], (frozenset, set, tuple)):
            out[col] = [(" | ".join(sorted(map(str, v))) if csv else sorted(map(str, v))) for v in out[col]]
    if csv:
        with atomic_write(path, "w", encoding="utf-8", newline="") as f:
            out.to_csv(f, index=False)
    else:
        with atomic_write(path, "wb") as f:
            out.to_parquet(f, index=False)
