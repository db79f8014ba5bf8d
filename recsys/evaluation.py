"""Offline evaluation: are the lists better than listing the most popular articles?

A time split trains on the page views before a cut-off and tests on the sessions after it (several
sliding windows on request). In each test session with two or more articles, at each position the
articles read so far are given to a method and its list is scored against the next article (hit
rate, reciprocal rank) and against the rest of the session (precision, recall, NDCG). An article
never seen in training is a miss, and so is an empty list: nothing is dropped from the averages.

Methods trained on the same split: ``rules`` (recsys: itemsets, rules, trust thresholds, the
ranked lists with popular fill, as published), ``popular`` (the most popular articles of the last
week of training), ``cooccurrence`` (articles ranked by how many training sessions held them with
the last one read, no thresholds: the "AR" baseline of the session-based recommendation
literature) and ``sequential`` (articles read *after* the last one, weighted by 1/distance: the
"SR" baseline). :func:`tune` evaluates ``rules`` over a grid of parameters, reusing what it can.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .model import baskets, train
from .progress import progress_bar
from .recommend import popularity
from .sessions import sessionize
from .settings import Settings, check_sequence, defaults

__all__ = ["evaluate", "tune", "split", "score_lists", "METRICS", "TUNABLE", "BASELINES"]

log = logging.getLogger(__name__)

METRICS = ("hr", "mrr", "precision", "recall", "ndcg", "coverage", "popularity")
BASELINES = ("popular", "cooccurrence", "sequential")
#: The settings of the ``rules`` method that evaluation tables show (and :func:`tune` varies best):
#: everything that shapes the lists after the page views. Their defaults are :class:`recsys.Settings`'.
TUNABLE = ("gap", "basket", "max_items", "algorithm", "min_support", "max_len", "min_confidence",
           "max_antecedent_len", "rank_by", "min_count", "min_networks", "lift_above_one", "popular_days")


def split(views: pd.DataFrame, *, cutoff=None, test_days: float = 7, windows: int = 1) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The (cut-off, end) of each test window: the last ``windows`` spans of ``test_days`` days.

    With ``cutoff`` given, one window from it to the end of the views.

    >>> v = pd.DataFrame({"ts": pd.date_range("2024-03-01", periods=30, freq="D", tz="UTC")})
    >>> [(a.day, b.day) for a, b in split(v, test_days=7, windows=2)]
    [(16, 23), (23, 30)]
    """
    if views.empty:
        raise ValueError("no page views to evaluate on")
    first, last = views["ts"].min(), views["ts"].max()
    end = last + pd.Timedelta(milliseconds=1)
    if cutoff is not None:
        cutoff = pd.Timestamp(cutoff)
        cutoff = cutoff.tz_localize("UTC") if cutoff.tzinfo is None else cutoff
        if not first < cutoff <= last:
            raise ValueError(f"cutoff must fall within the views ({first} to {last}); got {cutoff}")
        return [(cutoff, end)]
    if windows < 1:
        raise ValueError(f"windows must be an int >= 1; got {windows}")
    span = pd.Timedelta(days=test_days)
    out = [(end - (windows - i) * span, end - (windows - i - 1) * span) for i in range(windows)]
    if out[0][0] <= first + span:
        days = (last - first).total_seconds() / 86400
        raise ValueError(
            f"the views span {days:.1f} days: too few for {windows} test window(s) of {test_days} days "
            "after at least as much training; lower test_days or windows"
        )
    return out


def _test_cases(test_sessions: pd.DataFrame) -> tuple[list[tuple], list[str], list[frozenset]]:
    """(context, next article, rest of the session) at every position of sessions of 2+ articles."""
    contexts, targets, rests = [], [], []
    for items in test_sessions["items"]:
        for t in range(1, len(items)):
            contexts.append(tuple(items[:t]))
            targets.append(items[t])
            rests.append(frozenset(items[t:]))
    return contexts, targets, rests


def score_lists(lists: Sequence[Sequence[str]], targets: Sequence[str], rests: Sequence[frozenset], *, k: int,
                catalog: Iterable[str], pop: Mapping[str, float]) -> dict[str, float]:
    """The metrics of top-k lists against next articles and session rests.

    >>> m = score_lists([["/b", "/c"], []], ["/c", "/x"], [frozenset({"/c", "/d"}), frozenset({"/x"})],
    ...                 k=2, catalog=["/a", "/b", "/c", "/d"], pop={"/b": 4, "/c": 2})
    >>> {name: round(v, 3) for name, v in m.items()}
    {'hr': 0.5, 'mrr': 0.25, 'precision': 0.25, 'recall': 0.25, 'ndcg': 0.193, 'coverage': 0.5, 'popularity': 0.75}
    """
    n = len(targets)
    if not n:
        return {m: float("nan") for m in METRICS}
    hr = mrr = prec = rec = ndcg = 0.0
    shown: set[str] = set()
    pops: list[float] = []
    top = max(pop.values(), default=0) or 1
    discount = [1 / math.log2(r + 2) for r in range(k)]
    for lst, target, rest in zip(lists, targets, rests):
        lst = list(lst)[:k]
        shown.update(lst)
        pops += [pop.get(u, 0) / top for u in lst]
        if target in lst:
            hr += 1
            mrr += 1 / (lst.index(target) + 1)
        good = [u in rest for u in lst]
        hits = sum(good)
        prec += hits / k
        rec += hits / len(rest)
        ideal = sum(discount[: min(k, len(rest))])
        ndcg += sum(d for d, g in zip(discount, good) if g) / ideal
    catalog = set(catalog)
    return {
        "hr": hr / n, "mrr": mrr / n, "precision": prec / n, "recall": rec / n, "ndcg": ndcg / n,
        "coverage": len(shown & catalog) / len(catalog) if catalog else 0.0,
        "popularity": float(np.mean(pops)) if pops else 0.0,
    }


# the methods: each gives lists for contexts --------------------------------------------------------
def _popular_lists(pop: pd.Series, contexts, k: int) -> list[list[str]]:
    ranked = list(pop.index[: k + 50])
    out = []
    for ctx in contexts:
        read = set(ctx)
        out.append([u for u in ranked if u not in read][:k])
    return out


def _pair_lists(weights: Mapping[str, Mapping[str, float]], contexts, k: int) -> list[list[str]]:
    """Lists from pairwise weights of the last article read (ties broken by URL)."""
    ranked = {a: [b for b, _ in sorted(ws.items(), key=lambda bw: (-bw[1], bw[0]))] for a, ws in weights.items()}
    out = []
    for ctx in contexts:
        read = set(ctx)
        out.append([u for u in ranked.get(ctx[-1], ()) if u not in read][:k])
    return out


def _cooccurrence(train_sessions: pd.DataFrame) -> dict[str, dict[str, float]]:
    w: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for items in train_sessions["items"]:
        for a, b in itertools.permutations(items, 2):
            w[a][b] += 1
    return w


def _sequential(train_sessions: pd.DataFrame) -> dict[str, dict[str, float]]:
    w: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for items in train_sessions["items"]:
        for i, a in enumerate(items):
            for j in range(i + 1, len(items)):
                w[a][items[j]] += 1 / (j - i)
    return w


class _Window:
    """One train/test split; what the settings evaluated on it share is trained once (the memo)."""

    def __init__(self, views: pd.DataFrame, cutoff: pd.Timestamp, end: pd.Timestamp) -> None:
        self.train = views[views["ts"] < cutoff]
        # the test sessions are cut with the default gap, whatever gap the training uses
        test = sessionize(views[(views["ts"] >= cutoff) & (views["ts"] < end)], gap=Settings().sessions.gap,
                          max_items=None)
        self.contexts, self.targets, self.rests = _test_cases(test)
        self.pop = popularity(self.train, days=7)
        urls = self.train["url"].astype(str)
        self.catalog = set(urls)
        self.pop_all = urls.value_counts().to_dict()
        self.memo: dict = {}

    def rules_lists(self, settings: Settings) -> list[list[str]]:
        """The lists of recsys's rules under ``settings``, trained as the nightly job trains."""
        model = train(self.train, settings, memo=self.memo)
        recs = model.lists_next(settings, self.contexts)
        lists: list[list[str]] = [[] for _ in self.contexts]
        for pos, url in zip(recs["context"].to_numpy(), recs["url"].to_numpy()):
            lists[pos].append(url)
        return lists

    def baseline_lists(self, method: str, k: int) -> list[list[str]]:
        if method == "popular":
            return _popular_lists(self.pop, self.contexts, k)
        sessions = baskets(self.train, Settings(), memo=self.memo)
        key = ("baseline", method)
        if key not in self.memo:
            self.memo[key] = (_cooccurrence if method == "cooccurrence" else _sequential)(sessions)
        return _pair_lists(self.memo[key], self.contexts, k)

    def score(self, lists, k: int) -> dict[str, float]:
        return score_lists(lists, self.targets, self.rests, k=k, catalog=self.catalog, pop=self.pop_all)


def _settings(settings: Settings | None, overrides: Mapping[str, object]) -> Settings:
    unknown = set(overrides) - set(defaults())
    if unknown:
        raise ValueError(f"unknown settings {', '.join(sorted(unknown))}; the rules method takes "
                         f"{', '.join(TUNABLE)} (and every other recsys.Settings name)")
    return (settings or Settings()).replace(overrides)


def _run(views: pd.DataFrame, points: list[Settings], baselines: Sequence[str], *, k: int, cutoff,
         test_days: float, windows: int, progress: bool | None) -> pd.DataFrame:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}")
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown methods {', '.join(sorted(unknown))}; methods: rules, {', '.join(BASELINES)}")
    spans = split(views, cutoff=cutoff, test_days=test_days, windows=windows)
    rows = []
    work = len(spans) * (len(points) + len(baselines))
    none = dict.fromkeys(TUNABLE)
    with progress_bar(total=work, desc="evaluating", enable=progress) as bar:
        for w, (cutoff_w, end_w) in enumerate(spans):
            window = _Window(views, cutoff_w, end_w)
            n_tests = len(window.targets)
            for method in baselines:
                rows.append({"method": method, **none, "window": w, "cases": n_tests,
                             **window.score(window.baseline_lists(method, k), k)})
                bar.update(1)
            for point in points:
                point = point.replace(k=k)
                flat = point.flat()
                rows.append({"method": "rules", **{name: flat[name] for name in TUNABLE}, "window": w,
                             "cases": n_tests, **window.score(window.rules_lists(point), k)})
                bar.update(1)
    log.info("evaluated %d settings on %d window(s)", len(points), len(spans))
    return _pool(pd.DataFrame(rows), k)


def _pool(per_window: pd.DataFrame, k: int) -> pd.DataFrame:
    """One row per method and setting: metrics averaged over windows, weighted by test cases."""
    keys = ["method", *TUNABLE]
    frame = per_window.copy()
    for c in keys:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    out = []
    for key, g in frame.groupby(keys, dropna=False, sort=False):
        weights = g["cases"].to_numpy(float)
        row = dict(zip(keys, key))
        row.update({m: float(np.average(g[m], weights=weights)) if weights.sum() else float("nan") for m in METRICS})
        row.update(k=k, cases=int(weights.sum()), windows=len(g))
        out.append(row)
    return pd.DataFrame(out, columns=keys + ["k", "cases", "windows", *METRICS])


def evaluate(
    views: pd.DataFrame,
    *,
    settings: Settings | None = None,
    k: int | None = None,
    cutoff=None,
    test_days: float = 7,
    windows: int = 1,
    methods: Sequence[str] = ("rules", *BASELINES),
    progress: bool | None = None,
    **overrides,
) -> pd.DataFrame:
    """Evaluate recsys's lists and the baselines on held-out sessions after a time split.

    Parameters
    ----------
    views : pandas.DataFrame
        Page views (:func:`recsys.page_views`).
    settings : Settings, optional
        The settings of the ``rules`` method (the defaults otherwise); trained by
        :func:`recsys.train`, as the nightly job trains.
    k : int, optional
        The length of the lists made and scored (HR@k, ...); by default the settings' ``k``.
    cutoff : timestamp, optional
        Train before it, test after it; by default the last ``test_days`` days are the test.
    test_days : float, default 7
    windows : int, default 1
        Sliding test windows of ``test_days`` each (each trains on everything before it); the
        metrics are averaged over them, weighted by their test cases.
    methods : sequence of str
        Among ``rules``, ``popular``, ``cooccurrence`` and ``sequential``.
    **overrides
        Settings to change for the ``rules`` method, by name (``min_support=5``). A rule's
        distinct readers never outnumber its baskets, so an absolute ``min_support`` below
        ``min_count`` only mines itemsets that :func:`recsys.recommend` then drops.

    Returns
    -------
    pandas.DataFrame
        One row per method, always with the same columns: ``method``, the settings of
        :data:`TUNABLE` (missing for the baselines), ``k``, ``cases`` (the predictions scored),
        ``windows``, and the metrics ``hr``, ``mrr``, ``precision``, ``recall``, ``ndcg`` (at k),
        ``coverage`` (the share of the training catalog shown in any list) and ``popularity``
        (mean training popularity of what is shown, the most popular article being 1).
    """
    baselines = [m for m in methods if m != "rules"]
    point = _settings(settings, overrides)
    points = [point] if "rules" in methods else []
    return _run(views, points, baselines, k=point.recommending.k if k is None else k, cutoff=cutoff, test_days=test_days, windows=windows,
                progress=progress)


def tune(
    views: pd.DataFrame,
    *,
    grid: Mapping[str, Sequence],
    settings: Settings | None = None,
    k: int | None = None,
    cutoff=None,
    test_days: float = 7,
    windows: int = 1,
    baselines: Sequence[str] = BASELINES,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Evaluate the ``rules`` method over every combination of ``grid`` (and the baselines once).

    ``grid`` maps settings (names of :class:`recsys.Settings`, e.g. those of :data:`TUNABLE`) to
    the values to try; the others are ``settings``'. ``k`` (default: the settings' ``k``) is the
    length of the lists scored, for every point. Sessions, itemsets and rules are trained once
    for all the points that share them (:func:`recsys.train`'s memo).

    >>> # e.g. tune(views, grid={"min_support": [2, 3, 5], "gap": ["15min", "30min"],
    >>> #                        "basket": ["session", "visitor"], "rank_by": ["confidence", "lift"]})

    Returns
    -------
    pandas.DataFrame
        As :func:`evaluate`: one row per grid point (method ``rules``) and per baseline.
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError("grid must be a non-empty mapping of setting -> list of values")
    names = list(grid)
    values = [check_sequence(list(v) if isinstance(v, (list, tuple)) else [v], name) for name, v in grid.items()]
    points = [_settings(settings, dict(zip(names, combo))) for combo in itertools.product(*values)]
    k = (settings or Settings()).recommending.k if k is None else k
    return _run(views, points, list(baselines), k=k, cutoff=cutoff, test_days=test_days, windows=windows,
                progress=progress)
