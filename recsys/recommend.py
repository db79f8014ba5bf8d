"""From rules to "readers of this post also read" lists.

:func:`recommend` ranks, for every article (or for what a reader has read so far), the articles
that rules point to: by confidence, ties broken by the rule's count, then lift, then URL, so the
lists are the same on every run. Short lists are filled with the most popular articles of the
recent past (``source="popular"``); an article never recommends itself, nor what was read.

Trust: anyone can write to the logs, so a rule only counts when enough *different* readers are
behind it. :func:`audience` counts, for each rule, the distinct visitors and the distinct networks
(/24 for IPv4, /48 for IPv6) of the sessions holding all its articles, and :func:`recommend`
requires ``min_count`` visitors on ``min_networks`` networks: a script replaying hundreds of
sessions from one address range cannot push an article into others' lists.

>>> import pandas as pd
>>> from recsys import association_rules, eclat
>>> baskets = [["/a", "/b"], ["/a", "/b"], ["/a", "/b", "/c"], ["/a", "/c"], ["/d"]]
>>> rules = association_rules(eclat(baskets, min_support=2))
>>> recommend(rules, k=2, min_count=2, min_networks=None)[["item", "rank", "url", "source"]]
  item  rank url   source
0   /a     1  /b    rules
1   /a     2  /c    rules
2   /b     1  /a    rules
3   /c     1  /a    rules
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain, combinations

import numpy as np
import pandas as pd

from .sessions import network_of

__all__ = ["recommend", "recommend_next", "audience", "popularity", "RECOMMENDATION_COLUMNS"]

RECOMMENDATION_COLUMNS = ("item", "rank", "url", "score", "confidence", "lift", "count", "source")


def popularity(views: pd.DataFrame, *, days: float | None = 7, until: pd.Timestamp | None = None) -> pd.Series:
    """How many readers read each article in the last ``days`` before ``until``, most first.

    Readers are counted once per network (/24, /48) when the views have addresses, else once per
    visitor: a script replaying an article from one address range counts as one reader, so it
    cannot push the article into the popular fill of every list. Ties are broken by URL.

    >>> v = pd.DataFrame({"ts": pd.to_datetime(["2024-03-01", "2024-03-09", "2024-03-10", "2024-03-10"], utc=True),
    ...                   "url": ["/old", "/b", "/a", "/a"], "visitor": ["u", "v", "w", "w"]})
    >>> popularity(v, days=7).to_dict()
    {'/a': 1, '/b': 1}
    """
    if views.empty:
        return pd.Series(dtype="int64", name="readers")
    until = views["ts"].max() if until is None else until
    recent = views[views["ts"] <= until]
    if days is not None:
        recent = recent[recent["ts"] > until - pd.Timedelta(days=days)]
    if "ip" in recent.columns:
        who = network_of(recent["ip"])
    elif "visitor" in recent.columns:
        who = recent["visitor"].astype(object)
    else:
        who = pd.Series(np.arange(len(recent)), index=recent.index)  # plain views
    pairs = pd.DataFrame({"url": recent["url"].astype(str).to_numpy(), "who": who.to_numpy()}).drop_duplicates()
    counts = pairs["url"].value_counts().rename_axis("url").reset_index(name="readers")
    counts = counts.sort_values(["readers", "url"], ascending=[False, True], kind="stable")
    return counts.set_index("url")["readers"].astype("int64")


def audience(rules: pd.DataFrame, sessions: pd.DataFrame) -> pd.DataFrame:
    """The rules with ``visitors`` and ``networks``: who is behind each one.

    For each rule, the sessions holding all its articles (antecedents and consequents) are found
    in ``sessions`` (:func:`recsys.sessionize`), and their distinct visitors and distinct networks
    (column ``network``) counted.
    """
    out = rules.copy()
    if rules.empty:
        out["visitors"] = pd.Series(dtype="int64")
        out["networks"] = pd.Series(dtype="int64")
        return out
    wholes = [a | c for a, c in zip(rules["antecedents"], rules["consequents"])]
    set_id, distinct = pd.factorize(pd.Series(wholes, dtype=object))  # each distinct itemset once
    distinct = list(distinct)
    session, itemset = holders(distinct, sessions["items"])

    def distinct_count(labels: pd.Series) -> np.ndarray:
        codes = pd.factorize(labels)[0].astype(np.int64)[session]
        known = codes >= 0
        key = itemset[known].astype(np.int64) * (codes.max(initial=0) + 1) + codes[known]
        return np.bincount(itemset[known][np.unique(key, return_index=True)[1]], minlength=len(distinct))

    visitors = distinct_count(sessions["visitor"].astype(object))
    net = sessions["network"].astype(object) if "network" in sessions else pd.Series([None] * len(sessions))
    networks = distinct_count(net)
    out["visitors"] = visitors[set_id].astype(np.int64)
    out["networks"] = networks[set_id].astype(np.int64)
    return out


def holders(itemsets: list[frozenset], baskets: pd.Series, *, batch: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """Which basket holds which itemset: the pairs ``(basket position, itemset position)``.

    Each basket's sub-itemsets of the sizes asked for, made of the items the itemsets use, are
    enumerated and looked up among the itemsets: the work grows with what the baskets hold, never
    with the product of baskets and itemsets. Baskets are taken ``batch`` candidates at a time.

    >>> holders([frozenset("ab"), frozenset("c")], pd.Series([{"a", "b", "c"}, {"a"}, {"c"}]))
    (array([0, 0, 2]), array([0, 1, 1]))
    """
    empty = np.zeros(0, np.int64)
    sets = list(itemsets)
    if not sets or not len(baskets):
        return empty, empty
    labels = pd.Index(sorted({x for w in sets for x in w}, key=str))
    sizes = np.fromiter(map(len, sets), np.int64, len(sets))
    # the itemsets of each size as sorted code rows, keyed for exact lookups
    tables = {}
    for k in np.unique(sizes[sizes > 0]).tolist():
        rows = np.flatnonzero(sizes == k)
        codes = np.sort(np.array([labels.get_indexer(list(sets[r])) for r in rows], np.int64).reshape(len(rows), k), 1)
        keys = _keys(codes, len(labels))
        order = np.argsort(keys)
        tables[k] = (keys[order], rows[order])
    # the baskets as sorted codes of the items the itemsets use
    lens = baskets.map(len).to_numpy()
    flat = labels.get_indexer([x for b in baskets for x in b])
    owner = np.repeat(np.arange(len(baskets)), lens)
    keep = flat >= 0
    pairs = np.unique(owner[keep] * (len(labels) + 1) + flat[keep])  # each item once, sorted in its basket
    owner, flat = pairs // (len(labels) + 1), pairs % (len(labels) + 1)
    starts = np.searchsorted(owner, np.arange(len(baskets)))
    counts = np.bincount(owner, minlength=len(baskets))
    found_b, found_i = [], []
    for length in np.unique(counts[counts > 0]).tolist():
        group = np.flatnonzero(counts == length)
        mat = flat[starts[group][:, None] + np.arange(length)]  # one row per basket, codes ascending
        for k, (keys, rows) in tables.items():
            if k > length:
                continue
            combos = _combos(length, k)
            step = max(1, batch // len(combos))
            for lo in range(0, len(group), step):
                sub = mat[lo:lo + step][:, combos].reshape(-1, k)  # every k-subset of each basket
                want = _keys(sub, len(labels))
                pos = np.clip(np.searchsorted(keys, want), 0, len(keys) - 1)
                hit = keys[pos] == want
                found_b.append(np.repeat(group[lo:lo + step], len(combos))[hit])
                found_i.append(rows[pos[hit]])
    if not found_b:
        return empty, empty
    b, i = np.concatenate(found_b), np.concatenate(found_i)
    order = np.lexsort((i, b))
    return b[order].astype(np.int64), i[order].astype(np.int64)


_COMBOS: dict[tuple[int, int], np.ndarray] = {}


def _combos(n: int, k: int) -> np.ndarray:
    """The k-subsets of range(n) as rows of positions (cached)."""
    if (n, k) not in _COMBOS:
        _COMBOS[(n, k)] = np.array(list(combinations(range(n), k)), np.int64).reshape(-1, k)
    return _COMBOS[(n, k)]


def _keys(codes: np.ndarray, base: int) -> np.ndarray:
    """Rows of sorted codes (each < base) as one int64, or as bytes when they would not fit."""
    k = codes.shape[1]
    if (base + 1) ** k < 2 ** 62:
        out = np.zeros(len(codes), np.int64)
        for c in range(k):
            out = out * (base + 1) + codes[:, c]
        return out
    a = np.ascontiguousarray(codes.astype(np.int64))
    return a.view(np.dtype((np.void, 8 * k))).ravel()

def _usable(rules: pd.DataFrame, min_count: int, min_networks: int | None, lift_above_one: bool, rank_by: str) -> pd.DataFrame:
    if rank_by not in rules.columns:
        raise ValueError(f"rank_by must be a column of the rules such as confidence or lift; got {rank_by!r}")
    r = rules[rules["consequents"].map(len) == 1]
    count = r["visitors"] if "visitors" in r.columns else r["count"]
    keep = count >= min_count
    if min_networks is not None:
        if "networks" not in r.columns:
            raise ValueError(
                "min_networks needs the rules' networks: pass rules through recsys.audience(rules, "
                "sessions) first, or min_networks=None"
            )
        keep &= r["networks"] >= min_networks
    if lift_above_one:
        keep &= r["lift"] > 1
    r = r[keep]
    return pd.DataFrame({
        "antecedents": r["antecedents"].to_numpy(),
        "url": [next(iter(c)) for c in r["consequents"]],
        "score": r[rank_by].to_numpy(float),
        "confidence": r["confidence"].to_numpy(float),
        "lift": r["lift"].to_numpy(float),
        "count": count[keep].to_numpy(np.int64),
    })


def _index(usable: pd.DataFrame) -> dict[frozenset, list[tuple]]:
    """For each antecedent, its candidates ranked: score, count, lift (all descending), then URL."""
    ordered = usable.sort_values(["score", "count", "lift", "url"], ascending=[False, False, False, True], kind="stable")
    index: dict[frozenset, list[tuple]] = {}
    for a, url, score, conf, lift, count in ordered.itertuples(index=False):
        index.setdefault(a, []).append((url, score, conf, lift, count))
    return index


def _ranked(rules, k, min_count, min_networks, lift_above_one, rank_by) -> dict[frozenset, list[tuple]]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be an int >= 1; got {min_count!r}")
    return _index(_usable(rules, min_count, min_networks, lift_above_one, rank_by))


def _frame(rows: list[tuple], key: str) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=[key, *RECOMMENDATION_COLUMNS[1:]])
    out["rank"] = out["rank"].astype("int64")
    out["count"] = out["count"].astype("Int64")
    return out


def recommend(
    rules: pd.DataFrame,
    *,
    k: int = 5,
    min_count: int = 3,
    min_networks: int | None = 3,
    lift_above_one: bool = False,
    rank_by: str = "confidence",
    popular: pd.Series | None = None,
    items: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Ranked "readers also read" lists, one per article.

    Parameters
    ----------
    rules : pandas.DataFrame
        From :func:`recsys.association_rules`, ideally through :func:`audience` (then counts are
        distinct visitors, and ``networks`` is known).
    k : int, default 5
        The length of each list.
    min_count : int, default 3
        The fewest distinct visitors (sessions, without :func:`audience`) behind a rule.
    min_networks : int or None, default 3
        The fewest distinct networks behind a rule (needs :func:`audience`); None for no check.
    lift_above_one : bool, default False
        Keep only rules whose lift exceeds 1 (the consequent is more likely after the antecedent).
    rank_by : str, default "confidence"
        The measure that ranks the candidates (any column of the rules, e.g. ``lift``).
    popular : pandas.Series, optional
        Article -> popularity, most popular first (:func:`popularity`): fills short lists.
    items : iterable of str, optional
        The articles to make lists for (default: those of the rules and of ``popular``).

    Returns
    -------
    pandas.DataFrame
        One row per recommendation: ``item`` (the article), ``rank`` (1 to k), ``url``, ``score``,
        ``confidence``, ``lift``, ``count`` (missing for popular fill) and ``source`` (``rules``
        or ``popular``).
    """
    index = _ranked(rules, k, min_count, min_networks, lift_above_one, rank_by)
    fill = list(popular.index.astype(str)) if popular is not None else []
    rows: list[tuple] = []
    if items is None:
        items = sorted({next(iter(a)) for a in index if len(a) == 1} | set(fill))
    for item in items:
        _one_list(item, index.get(frozenset([item]), ()), {item}, fill, k, rows)
    return _frame(rows, "item")


def recommend_next(
    rules: pd.DataFrame,
    contexts: Iterable[Sequence[str]],
    *,
    k: int = 5,
    min_count: int = 3,
    min_networks: int | None = 3,
    lift_above_one: bool = False,
    rank_by: str = "confidence",
    popular: pd.Series | None = None,
    recent: int = 5,
) -> pd.DataFrame:
    """What to read next, given what readers have read so far: one ranked list per context.

    Rules whose antecedent is within the last ``recent`` distinct articles of a context apply;
    a candidate keeps its best score; nothing already read is recommended. The other parameters
    are those of :func:`recommend`.

    >>> from recsys import association_rules, eclat
    >>> rules = association_rules(eclat([["/a", "/b", "/c"]] * 3 + [["/a", "/c"]], min_support=2))
    >>> recommend_next(rules, [["/a"], ["/a", "/c"]], k=2, min_count=2, min_networks=None)[["context", "rank", "url"]]
       context  rank url
    0        0     1  /c
    1        0     2  /b
    2        1     1  /b

    Returns
    -------
    pandas.DataFrame
        As :func:`recommend`, with ``context`` (the position of the context in ``contexts``) in
        place of ``item``.
    """
    index = _ranked(rules, k, min_count, min_networks, lift_above_one, rank_by)
    fill = list(popular.index.astype(str)) if popular is not None else []
    rows: list[tuple] = []
    max_ante = max((len(a) for a in index), default=1)
    for pos, context in enumerate(contexts):
        read = set(context)
        latest = list(dict.fromkeys(reversed(list(context))))[:recent]
        best: dict[str, tuple] = {}
        for size in range(1, min(max_ante, len(latest)) + 1):
            for ante in combinations(latest, size):
                for cand in index.get(frozenset(ante), ()):
                    if cand[0] not in read and (cand[0] not in best or _key(cand) < _key(best[cand[0]])):
                        best[cand[0]] = cand
        _one_list(pos, sorted(best.values(), key=_key), read, fill, k, rows)
    return _frame(rows, "context")


def _key(cand: tuple) -> tuple:
    url, score, conf, lift, count = cand
    return (-score, -count, -lift, url)


def _one_list(item, ranked, exclude: set, fill: list[str], k: int, rows: list) -> None:
    """Append the ``k`` first candidates not excluded: the rules' ranked ones, then the popular fill."""
    candidates = chain(((url, (score, conf, lift, count), "rules") for url, score, conf, lift, count in ranked),
                       ((url, (np.nan, np.nan, np.nan, None), "popular") for url in fill))
    chosen: set = set()
    for url, measures, source in candidates:
        if len(chosen) == k:
            return
        if url in exclude or url in chosen:
            continue
        chosen.add(url)
        rows.append((item, len(chosen), url, *measures, source))
