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
import itertools
import json
import logging
import math
import os
import re
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

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
    order = sequences.by_readers()[1]  # as rank orders them
    admitted = arts["admitted"].to_numpy(bool)
    safe = np.fromiter((safe_url(u, pattern) for u in urls), bool, m)
    fill = [int(x) for x in order[admitted[order]][: k + 64] if safe[x]]
    rules = sequences.usable(max_rules)
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


def pseudonymize(ids: pd.Series, salt: bytes, *, memo: dict | None = None) -> pd.Series:
    """Visitor ids replaced by a salted hash (16 hex digits): stable for one installation, and
    unlinkable to the cookie without the salt.

    Each distinct id is hashed once; ``memo`` (a dict) keeps the hashes for the next call (the
    sessions' visitors after the views').

    >>> pseudonymize(pd.Series(["a", "a", None]), b"k").tolist()
    ['6245303f83c1a9d3', '6245303f83c1a9d3', None]
    """
    memo = {} if memo is None else memo
    cat = ids.astype("category")
    hashed = []
    for v in cat.cat.categories.tolist():
        if v not in memo:
            memo[v] = hashlib.blake2b(str(v).encode(), key=salt, digest_size=8).hexdigest()
        hashed.append(memo[v])
    per_code = np.array([*hashed, None], dtype=object)  # code -1 (missing): the last, None
    return pd.Series(per_code[cat.cat.codes.to_numpy()], index=ids.index, dtype=object)


def write_table(df: pd.DataFrame, path: str | os.PathLike | list[str | os.PathLike]) -> None:
    """A frame written atomically, as Parquet or CSV by the file's suffix (a list of paths: into
    each); sets become sorted lists (Parquet) or ``a | b`` (CSV).

    The sets are sorted once per distinct set, in Arrow, and the CSV is joined in Arrow: the file
    is what ``DataFrame.to_parquet`` (``index=False``) or ``DataFrame.to_csv`` (``index=False``)
    writes of the frame with sets as sorted lists, without a pass over the rows in Python.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> write_table(pd.DataFrame({"items": [frozenset({"b", "a"})], "lift": [2.5]}), d / "t.csv")
    >>> (d / "t.csv").read_text()
    'items,lift\\na | b,2.5\\n'
    """
    lists = {col: _sorted_lists(df[col]) for col in df.columns
             if len(df) and isinstance(df[col].iloc[0], (frozenset, set, tuple))}
    for one in path if isinstance(path, list) else [path]:
        if os.fspath(one).endswith(".csv"):
            _write_csv(df, lists, one)
        else:
            _write_parquet(df, lists, one)


def _write_parquet(df: pd.DataFrame, lists: dict, path) -> None:
    table = pa.Table.from_pandas(_with_lists(df, lists, csv=False), preserve_index=False)
    if lists:  # the lists went in as Arrow arrays: read back, they are object columns, as written from lists
        meta = json.loads(table.schema.metadata[b"pandas"])
        for entry in meta["columns"]:
            if entry["name"] in lists:
                entry["numpy_type"], entry["metadata"] = "object", None
        table = table.replace_schema_metadata({**table.schema.metadata, b"pandas": json.dumps(meta).encode()})
    with atomic_write(path, "wb") as f:
        pq.write_table(table, f)


def _write_csv(df: pd.DataFrame, lists: dict, path) -> None:
    data = _csv_bytes(df, lists)
    if data is None:  # a column the fast writer does not format as pandas does
        with atomic_write(path, "w", encoding="utf-8", newline="") as f:
            _with_lists(df, lists, csv=True).to_csv(f, index=False)
        return
    with atomic_write(path, "wb") as f:
        for part in data:
            f.write(part)


def _sorted_lists(col: pd.Series) -> pa.Array:
    """``sorted(map(str, v))`` of each set (or tuple) of ``col``, as an Arrow list array.

    Each distinct set is sorted once: its items are put in one flat array, ranked once per
    distinct item, and sorted within each set by one lexicographic sort of (set, rank).
    """
    values = col.to_numpy(dtype=object)
    try:
        codes, sets = pd.factorize(values)
    except TypeError:  # sets, not frozensets: each row apart
        codes, sets = np.arange(len(values)), values
    lengths = np.fromiter(map(len, sets), np.int64, len(sets))
    if not lengths.any():  # only empty sets: lists of nothing, as pandas types them
        return pa.array([[]] * len(values), pa.list_(pa.null()))
    items, uniques = pd.factorize(np.fromiter(itertools.chain.from_iterable(sets), object, int(lengths.sum())))
    texts = np.array([str(u) for u in uniques], dtype=object)
    rank = np.empty(len(texts), np.int64)
    rank[np.argsort(texts, kind="stable")] = np.arange(len(texts))
    order = np.lexsort((rank[items], np.repeat(np.arange(len(sets)), lengths)))
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]), pa.int32())
    distinct = pa.ListArray.from_arrays(offsets, pa.array(texts, pa.string()).take(pa.array(items[order])))
    return distinct.take(pa.array(codes, mask=codes < 0))


def _with_lists(df: pd.DataFrame, lists: dict, *, csv: bool) -> pd.DataFrame:
    """``df`` (not copied) with its set columns as the sorted lists (Arrow arrays), or ``a | b``."""
    out = df.copy(deep=False)
    out.attrs = {}  # the accounting and other run details live in report.json
    for col, arr in lists.items():
        out[col] = _joined(arr).to_pandas().to_numpy(dtype=object) if csv else pd.arrays.ArrowExtensionArray(arr)
    return out


def _joined(lists: pa.Array) -> pa.Array:
    """``a | b`` of each list."""
    if pa.types.is_null(lists.type.value_type):
        return pa.array([""] * len(lists), pa.string())
    return pc.binary_join(lists, " | ")


def _csv_bytes(df: pd.DataFrame, lists: dict) -> list | None:
    """What ``to_csv(index=False)`` writes of ``df`` (the sets as ``a | b``), joined in Arrow (UTF-8,
    in parts); None when a column is of a type it does not format (categoricals, times, extension types)."""
    floats = _float_texts([df[c].to_numpy() for c in df.columns if c not in lists and df[c].dtype == np.float64])
    columns = []
    for name in df.columns:
        if name in lists:
            arr = _csv_quoted(_joined(lists[name]))
        elif df[name].dtype == np.float64:
            arr = next(floats)  # a number's text holds no separator nor quote
        else:
            arr = _csv_strings(df[name])
            if arr is None:
                return None
        columns.append(arr)
    header = ",".join(_csv_quoted(pa.array([str(c) for c in df.columns], pa.string())).to_pylist()) + "\n"
    if not len(df):
        return [header.encode()]
    rows = pc.binary_join_element_wise(*columns, ",", null_handling="replace") if len(columns) > 1 else columns[0]
    lines = pc.binary_join_element_wise(pc.fill_null(rows, ""), "", "\n").cast(pa.large_string())  # row + newline
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return [header.encode(), lines.buffers()[2][int(offsets[0]) : int(offsets[-1])]]


def _float_texts(columns: list[np.ndarray]) -> Iterator[pa.Array]:
    """Float columns as pandas writes them (``astype(str)``: the shortest repr, as Python's
    ``repr``; missing values empty), each distinct value of all of them formatted once."""
    if not columns:
        return iter(())
    values = np.concatenate(columns)
    missing = np.isnan(values)
    bits, inverse = np.unique(values.view(np.int64), return_inverse=True)  # by bits: -0.0 is not 0.0
    texts = pa.array(list(map(repr, bits.view(np.float64).tolist())), pa.string())
    all_texts = texts.take(pa.array(inverse.astype(np.int64), mask=missing))
    bounds = np.cumsum([0] + [len(c) for c in columns])
    return (all_texts.slice(a, b - a) for a, b in itertools.pairwise(bounds.tolist()))


def _csv_strings(col: pd.Series) -> pa.Array | None:
    """The column as pandas writes it into a CSV file (missing values empty), as Arrow strings,
    quoted where they must be; None for a type it does not format as pandas does."""
    values = col.to_numpy() if isinstance(col.dtype, np.dtype) else None
    if values is None:
        return None
    if values.dtype.kind in "iu":
        return pc.cast(pa.array(values), pa.string())
    if values.dtype.kind == "b":
        return pa.array(np.where(values, "True", "False"), pa.string())
    if values.dtype == object:
        codes, uniques = pd.factorize(values)  # None and NaN: missing
        if not all(isinstance(u, str) for u in uniques):
            return None
        return _csv_quoted(pa.array(uniques.astype(object), pa.string())).take(pa.array(codes, mask=codes < 0))
    return None


def _csv_quoted(arr: pa.Array) -> pa.Array:
    """Values quoted as Python's ``csv`` module does (``QUOTE_MINIMAL``, ``\\n`` ending rows)."""
    needs = pc.fill_null(pc.match_substring_regex(arr, r'[,"\n]'), False)
    if not pc.any(needs).as_py():
        return arr
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
    return pc.if_else(needs, quoted, arr)
