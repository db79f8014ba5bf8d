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

from .sessions import network_codes

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
    keep = (views["ts"] <= until).to_numpy(copy=True)
    if days is not None:
        keep &= (views["ts"] > until - pd.Timedelta(days=days)).to_numpy()
    recent = views.loc[keep, [c for c in ("url", "ip", "visitor") if c in views.columns]]
    if "ip" in recent.columns:
        who = network_codes(recent["ip"])[0]  # the missing addresses: one reader
    elif "visitor" in recent.columns:
        who = _codes(recent["visitor"])
    else:
        who = np.arange(len(recent))  # plain views
    url, names = pd.factorize(recent["url"].astype(str))  # views without a URL are not counted
    base = int(who.max(initial=0)) + 2
    pairs = _sorted_unique(url[url >= 0] * base + who[url >= 0] + 1)  # each (article, reader) once
    counts = pd.Series(np.bincount(pairs // base, minlength=len(names)),
                       index=pd.Index(np.asarray(names, dtype=object), name="url"), name="readers")
    counts = counts[counts > 0].reset_index()
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
    session, itemset = _held(list(distinct), sessions["items"])  # in no particular order

    def distinct_count(labels: pd.Series) -> np.ndarray:
        """Per itemset, the distinct labels of the sessions holding it."""
        codes = _codes(labels)[session]
        known = codes >= 0
        base = int(codes.max(initial=0)) + 1
        pairs = _sorted_unique(itemset[known] * base + codes[known])  # each (itemset, label) once
        return np.bincount(pairs // base, minlength=len(distinct))

    visitors = distinct_count(sessions["visitor"])
    if "network" in sessions:
        networks = distinct_count(sessions["network"])
    else:
        networks = np.zeros(len(distinct), np.int64)
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
    sets = list(itemsets)
    b, i = _held(sets, baskets, batch=batch)
    order = np.argsort(b * max(len(sets), 1) + i)
    return b[order], i[order]


def _codes(labels: pd.Series) -> np.ndarray:
    """Equal labels as equal codes (int64), missing ones as -1."""
    if isinstance(labels.dtype, pd.CategoricalDtype):
        return labels.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(labels)[0].astype(np.int64)


def _sorted_unique(a: np.ndarray) -> np.ndarray:
    """The distinct values of an int array, ascending (by a sort: numpy 2.4's hashing
    ``np.unique`` is many times slower on large arrays of large values)."""
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])] if len(a) else a


def _held(sets: list, baskets, *, batch: int = 1 << 22) -> tuple[np.ndarray, np.ndarray]:
    """:func:`holders`' pairs, in no particular order."""
    empty = np.zeros(0, np.int64)
    if not sets or not len(baskets):
        return empty, empty
    sizes = np.fromiter(map(len, sets), np.int64, len(sets))
    baskets = list(baskets)
    lens = np.fromiter(map(len, baskets), np.int64, len(baskets))
    # the items of the itemsets, then of the baskets, coded together: codes below n_labels are
    # items some itemset uses
    n_set_items = int(sizes.sum())
    codes = pd.factorize(np.fromiter(chain(chain.from_iterable(sets), chain.from_iterable(baskets)), object,
                                     n_set_items + int(lens.sum())), use_na_sentinel=False)[0]
    codes, flat = codes[:n_set_items], codes[n_set_items:]
    n_labels = int(codes.max(initial=-1)) + 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    # the itemsets of each size as sorted code rows, keyed for exact lookups
    tables = {}
    for k in np.unique(sizes[sizes > 0]).tolist():
        rows = np.flatnonzero(sizes == k)
        keys = _keys(np.sort(codes[bounds[rows][:, None] + np.arange(k)], 1), n_labels)
        order = np.argsort(keys)
        tables[k] = (keys[order], rows[order])
    # the baskets as sorted codes of the items the itemsets use
    owner = np.repeat(np.arange(len(baskets)), lens)
    keep = flat < n_labels
    pairs = _sorted_unique(owner[keep] * (n_labels + 1) + flat[keep])  # each item once, sorted in its basket
    owner, flat = pairs // (n_labels + 1), pairs % (n_labels + 1)
    starts = np.searchsorted(owner, np.arange(len(baskets)))
    counts = np.bincount(owner, minlength=len(baskets))
    found_b, found_i = [], []
    for length in (np.flatnonzero(np.bincount(counts)[1:]) + 1).tolist():
        group = np.flatnonzero(counts == length)
        mat = flat[starts[group][:, None] + np.arange(length)]  # one row per basket, codes ascending
        for k, (keys, rows) in tables.items():
            if k > length:
                continue
            combos = _combos(length, k)
            step = max(1, batch // len(combos))
            for lo in range(0, len(group), step):
                sub = mat[lo:lo + step][:, combos].reshape(-1, k)  # every k-subset of each basket
                want = _keys(sub, n_labels)
                pos = np.clip(np.searchsorted(keys, want), 0, len(keys) - 1)
                hit = keys[pos] == want
                found_b.append(np.repeat(group[lo:lo + step], len(combos))[hit])
                found_i.append(rows[pos[hit]])
    if not found_b:
        return empty, empty
    return np.concatenate(found_b).astype(np.int64), np.concatenate(found_i).astype(np.int64)


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


def _usable(rules: pd.DataFrame, min_count: int, min_networks: int | None, lift_above_one: bool, rank_by: str,
            max_antecedent: int | None = None) -> pd.DataFrame:
    if rank_by not in rules.columns:
        raise ValueError(f"rank_by must be a column of the rules such as confidence or lift; got {rank_by!r}")
    single = np.fromiter(map(len, rules["consequents"]), np.int64, len(rules)) == 1
    if max_antecedent is not None:
        single &= np.fromiter(map(len, rules["antecedents"]), np.int64, len(rules)) <= max_antecedent
    r = rules[single]
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


def _ranked(rules, k, min_count, min_networks, lift_above_one, rank_by,
            max_antecedent=None) -> dict[frozenset, list[tuple]]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}")
    if isinstance(min_count, bool) or not isinstance(min_count, (int, np.integer)) or min_count < 1:
        raise ValueError(f"min_count must be an int >= 1; got {min_count!r}")
    return _index(_usable(rules, min_count, min_networks, lift_above_one, rank_by, max_antecedent))


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
    # an article's list comes from the rules of one-article antecedents
    index = _ranked(rules, k, min_count, min_networks, lift_above_one, rank_by, max_antecedent=1)
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
