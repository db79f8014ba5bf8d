"""Offline evaluation: are the lists better than listing the most popular articles?

A time split trains on the page views before a cut-off and tests on the sessions after it (several
sliding windows on request). In each test session with two or more articles, at each position the
articles read so far are given to a method and its list is scored against the next article (hit
rate, reciprocal rank) and against the rest of the session (precision, recall, NDCG). An article
never seen in training is a miss, and so is an empty list: nothing is dropped from the averages.

Methods trained on the same split: ``rules`` (recsys's lists as published, trained by
:func:`recsys.train`: by default the trusted sequential pair rules, tuned on the training split;
under ``ranking="rules"`` the itemsets, rules and trust thresholds; with the popular fill), ``popular`` (the most popular articles of the last
week of training), ``cooccurrence`` (articles ranked by how many training sessions held them with
the last one read, no thresholds: the "AR" baseline of the session-based recommendation
literature) and ``sequential`` (articles read *after* the last one, weighted by 1/distance: the
"SR" baseline). :func:`tune` evaluates ``rules`` over a grid of parameters, reusing what it can.

Bounded cost: ``max_cases`` scores a seeded sample of the test readers (all their test cases, up to
``max_cases`` in each window) rather than every case, so the evaluation inside the nightly job does
not grow with the traffic. Each mean metric comes with a 95% interval (``hr_low``, ``hr_high``,
...): a normal approximation of the mean over cases with the readers as the independent units
(a reader's cases share their context and their tastes, so they need not be independent; the
sample draws whole readers for the same reason); see :func:`interval`.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from statistics import NormalDist

import numpy as np
import pandas as pd

from .model import Model, basket_key, baskets, cut_baskets, train, training_baskets
from .progress import progress_bar
from .recommend import popularity
from .sequences import next_cases
from .settings import Settings, check_sequence, defaults

__all__ = ["evaluate", "tune", "split", "score_lists", "interval", "METRICS", "MEANS", "TUNABLE", "BASELINES"]

log = logging.getLogger(__name__)

METRICS = ("hr", "mrr", "precision", "recall", "ndcg", "coverage", "popularity")
#: The metrics that are means over test cases: each has an interval (``hr_low``, ``hr_high``, ...).
MEANS = ("hr", "mrr", "precision", "recall", "ndcg")
#: The confidence of the intervals.
CONFIDENCE = 0.95
BASELINES = ("popular", "cooccurrence", "sequential")
#: The settings of the ``rules`` method that evaluation tables show (and :func:`tune` varies best):
#: everything that shapes the lists after the page views: the sessions, the mined rules and their
#: ranking (``ranking = "rules"``), then the ranking by sequential pair rules (the default) and its
#: nightly tuning. Their defaults are :class:`recsys.Settings`'. (With ``tune`` on, ``half_life``
#: and ``backward`` are where the tuning starts, not necessarily what it chose: give ``tune=False``
#: to a grid over them.)
TUNABLE = ("gap", "basket", "max_items", "algorithm", "min_support", "max_len", "min_confidence",
           "max_antecedent_len", "rank_by", "min_count", "min_networks", "lift_above_one", "popular_days",
           "ranking", "recent", "steps", "backward", "half_life", "tier_min", "anonymous_weight", "returning_days",
           "min_returning", "admit_min", "max_rules", "tune")


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


def _sample(test_sessions: pd.DataFrame, max_cases: int | None, seed: int) -> pd.DataFrame:
    """The test sessions of a seeded sample of readers holding at most ``max_cases`` test cases.

    The readers are taken in a random order (``seed``) while their cases add up to no more than
    ``max_cases``; all their sessions are kept, in their order. Every reader is kept when their
    cases add up to ``max_cases`` or fewer (and when ``max_cases`` is None).

    >>> s = pd.DataFrame({"visitor": ["a", "b", "b", "c"], "items": [("/x", "/y"), ("/x", "/y", "/z"), ("/q",), ("/y",)]})
    >>> _sample(s, 2, seed=0)["visitor"].tolist(), len(_sample(s, 3, seed=0))
    (['a'], 4)
    """
    cases = np.maximum(test_sessions["items"].map(len).to_numpy(np.int64) - 1, 0)
    if max_cases is None or cases.sum() <= max_cases:
        return test_sessions
    reader, _ = pd.factorize(test_sessions["visitor"])  # in order of first session
    per_reader = np.bincount(reader, weights=cases).astype(np.int64)
    order = np.random.default_rng(seed).permutation(np.flatnonzero(per_reader))  # readers with a case
    chosen = order[np.cumsum(per_reader[order]) <= max_cases]
    return test_sessions[np.isin(reader, chosen)].reset_index(drop=True)


def _case_scores(lists: Sequence[Sequence[str]], targets: Sequence[str], rests: Sequence[frozenset], *,
                 k: int) -> tuple[np.ndarray, set[str], list[str]]:
    """Per case, the metrics of :data:`MEANS` (one row each); what the lists show; every entry shown."""
    scores = np.zeros((len(targets), len(MEANS)))
    shown: set[str] = set()
    entries: list[str] = []
    discount = [1 / math.log2(r + 2) for r in range(k)]
    for row, (lst, target, rest) in enumerate(zip(lists, targets, rests)):
        lst = list(lst)[:k]
        shown.update(lst)
        entries += lst
        good = [u in rest for u in lst]
        hits = sum(good)
        ideal = sum(discount[: min(k, len(rest))])
        scores[row] = (target in lst, 1 / (lst.index(target) + 1) if target in lst else 0.0, hits / k,
                       hits / len(rest), sum(d for d, g in zip(discount, good) if g) / ideal)
    return scores, shown, entries


def score_lists(lists: Sequence[Sequence[str]], targets: Sequence[str], rests: Sequence[frozenset], *, k: int,
                catalog: Iterable[str], pop: Mapping[str, float]) -> dict[str, float]:
    """The metrics of top-k lists against next articles and session rests.

    >>> m = score_lists([["/b", "/c"], []], ["/c", "/x"], [frozenset({"/c", "/d"}), frozenset({"/x"})],
    ...                 k=2, catalog=["/a", "/b", "/c", "/d"], pop={"/b": 4, "/c": 2})
    >>> {name: round(v, 3) for name, v in m.items()}
    {'hr': 0.5, 'mrr': 0.25, 'precision': 0.25, 'recall': 0.25, 'ndcg': 0.193, 'coverage': 0.5, 'popularity': 0.75}
    """
    if not len(targets):
        return {m: float("nan") for m in METRICS}
    scores, shown, entries = _case_scores(lists, targets, rests, k=k)
    return {**dict(zip(MEANS, scores.mean(axis=0).tolist())), **_set_metrics(shown, entries, catalog, pop)}


def _set_metrics(shown: set[str], entries: list[str], catalog: Iterable[str], pop: Mapping[str, float]) -> dict:
    """Catalog coverage and popularity bias of what the lists show."""
    catalog = set(catalog)
    top = max(pop.values(), default=0) or 1
    return {"coverage": len(shown & catalog) / len(catalog) if catalog else 0.0,
            "popularity": float(np.mean([pop.get(u, 0) / top for u in entries])) if entries else 0.0}


def interval(values: np.ndarray, clusters: np.ndarray, *, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray]:
    """The interval of the mean of ``values`` (one row per case, a column per metric), the
    ``clusters`` (each case's reader) being the independent units.

    The mean over cases is a ratio of sums over readers, ``R = sum(y) / sum(n)``; its variance is
    estimated by linearization, ``G / (G - 1) * sum((y - R n)^2) / sum(n)^2`` over the ``G``
    readers (the cluster-robust variance of a mean), and the interval is ``R`` plus or minus the
    normal quantile times its square root, clipped to [0, 1]. Deterministic, and at the thousands
    of readers of a nightly sample it agrees with a bootstrap over readers (tests/test_evaluate.py
    checks both). NaN with fewer than two readers.

    >>> low, high = interval(np.array([1.0, 0.0, 1.0, 0.0]), np.array(["a", "a", "b", "c"]))
    >>> round(float(low[0]), 3), round(float(high[0]), 3)  # 0.5 -+ 1.96 * sqrt(3 / 2 * 0.5) / 4
    (0.076, 0.924)
    """
    values = np.asarray(values, float)
    values = values[:, None] if values.ndim == 1 else values
    codes, uniques = pd.factorize(np.asarray(clusters, dtype=object))
    g = len(uniques)
    if g < 2:
        nan = np.full(values.shape[1], np.nan)
        return nan, nan.copy()
    mean = values.mean(axis=0)
    n = np.bincount(codes, minlength=g)
    y = np.stack([np.bincount(codes, weights=values[:, j], minlength=g) for j in range(values.shape[1])], axis=1)
    e = y - n[:, None] * mean
    half = NormalDist().inv_cdf(0.5 + confidence / 2) * np.sqrt(g / (g - 1) * (e * e).sum(axis=0)) / len(values)
    return np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1)


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
    """One train/test split; what the settings evaluated on it share is trained once (the memo).

    ``model`` (with its ``settings``), trained on all the views, lends its session baskets: those
    of the training split and of the test are mostly among them (:func:`recsys.model.cut_baskets`).
    """

    def __init__(self, views: pd.DataFrame, cutoff: pd.Timestamp, end: pd.Timestamp, *,
                 max_cases: int | None = None, seed: int = 0, model: Model | None = None,
                 settings: Settings | None = None) -> None:
        self.train = views[views["ts"] < cutoff]
        # what the model computed on these training days (train's tune_before): their baskets and tuning
        ready = model is not None and model.before is not None and model.before[0] == cutoff
        self.memo: dict = dict(model.before[1]) if ready else {}
        settings = settings or Settings()
        s = settings.sessions
        known = model.sessions if model is not None and s.basket == "session" else None
        key = ("sessions", basket_key(settings))  # the training split's baskets, as train's memo keys them
        if known is not None and key not in self.memo:
            self.memo[key] = training_baskets(views, cutoff, settings, known=known)
        # the test sessions are cut with the default gap, whatever gap the training uses (and
        # without the addresses: the test needs no networks)
        gap = Settings().sessions.gap
        same_gap = known is not None and pd.Timedelta(s.gap) == pd.Timedelta(gap)
        test, _, _ = cut_baskets(views.loc[(views["ts"] >= cutoff) & (views["ts"] < end), ["ts", "visitor", "url"]],
                          cutoff, end, gap=gap, max_items=None, known=known if same_gap else None)
        self.test_cases = int(np.maximum(test["items"].map(len).to_numpy(np.int64) - 1, 0).sum())
        test = _sample(test, max_cases, seed)
        self.contexts, self.targets, self.rests = next_cases(test)
        self.readers = np.repeat(test["visitor"].astype(object).to_numpy(),
                                 np.maximum(test["items"].map(len).to_numpy(np.int64) - 1, 0))
        # the popular baseline is what recsys.train fills lists with under the default popular_days:
        # computed once, under the key train's memo reads it by
        days = Settings().recommending.popular_days
        self.pop = self.memo[("popular", days, None)] = popularity(self.train, days=days)
        counts = self.train["url"].value_counts()
        counts = counts[counts > 0]
        self.catalog = set(counts.index.astype(str))
        self.pop_all = dict(zip(counts.index.astype(str), counts.to_numpy().tolist()))

    def rules_lists(self, settings: Settings) -> list[list[str]]:
        """The lists of recsys's rules under ``settings``, trained as the nightly job trains
        (made once per distinct context)."""
        sequential = settings.recommending.ranking == "sequences"  # lists in which mined rules play no part
        model = train(self.train, settings, memo=self.memo, mine_rules=not sequential)
        distinct = list(dict.fromkeys(self.contexts))
        if not sequential:
            model = replace(model, rules=_applicable(model.rules, distinct))
        recs = model.lists_next(settings, distinct, explain=False)
        lists: list[list[str]] = [[] for _ in distinct]
        for pos, url in zip(recs["context"].to_numpy(), recs["url"].to_numpy()):
            lists[pos].append(url)
        where = {context: i for i, context in enumerate(distinct)}
        return [lists[where[context]] for context in self.contexts]

    def baseline_lists(self, method: str, k: int) -> list[list[str]]:
        if method == "popular":
            return _popular_lists(self.pop, self.contexts, k)
        sessions = baskets(self.train, Settings(), memo=self.memo)
        key = ("baseline", method)
        if key not in self.memo:
            self.memo[key] = (_cooccurrence if method == "cooccurrence" else _sequential)(sessions)
        return _pair_lists(self.memo[key], self.contexts, k)

    def score(self, lists, k: int) -> tuple[dict[str, float], np.ndarray]:
        """The metrics of the lists, and the per-case scores of :data:`MEANS` (for the intervals)."""
        if not self.targets:
            return {m: float("nan") for m in METRICS}, np.zeros((0, len(MEANS)))
        scores, shown, entries = _case_scores(lists, self.targets, self.rests, k=k)
        return {**dict(zip(MEANS, scores.mean(axis=0).tolist())),
                **_set_metrics(shown, entries, self.catalog, self.pop_all)}, scores


def _applicable(rules: pd.DataFrame, contexts: Sequence[tuple]) -> pd.DataFrame:
    """The rules whose antecedent is made of articles of one of the ``contexts``: the only ones
    :func:`recsys.recommend_next` can use for them (it looks rules up by subsets of what was read),
    so that ranking a sample of contexts does not index every rule. All the rules when listing
    those subsets would cost more than looking at every rule (a few very long contexts)."""
    if rules.empty or not contexts:
        return rules
    longest = int(rules["antecedents"].map(len).max())
    lengths = [len(set(c)) for c in contexts]
    if sum(math.comb(n, size) for n in lengths for size in range(1, longest + 1)) > len(rules):
        return rules
    wanted = {frozenset(sub) for c in contexts for size in range(1, longest + 1)
              for sub in itertools.combinations(dict.fromkeys(c), size)}
    return rules[rules["antecedents"].isin(wanted)]


def _settings(settings: Settings | None, overrides: Mapping[str, object]) -> Settings:
    unknown = set(overrides) - set(defaults())
    if unknown:
        raise ValueError(f"unknown settings {', '.join(sorted(unknown))}; the rules method takes "
                         f"{', '.join(TUNABLE)} (and every other recsys.Settings name)")
    return (settings or Settings()).replace(overrides)


def _run(views: pd.DataFrame, points: list[Settings], baselines: Sequence[str], *, k: int, cutoff,
         test_days: float, windows: int, max_cases: int | None, seed: int, progress: bool | None,
         model: Model | None = None) -> pd.DataFrame:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1; got {k!r}")
    if max_cases is not None and (isinstance(max_cases, bool) or not isinstance(max_cases, int) or max_cases < 1):
        raise ValueError(f"max_cases must be None (every test case) or an int >= 1; got {max_cases!r}")
    unknown = set(baselines) - set(BASELINES)
    if unknown:
        raise ValueError(f"unknown methods {', '.join(sorted(unknown))}; methods: rules, {', '.join(BASELINES)}")
    spans = split(views, cutoff=cutoff, test_days=test_days, windows=windows)
    rows, cases = [], []  # a row per method, setting and window; its per-case scores and readers
    work = len(spans) * (len(points) + len(baselines))
    none = dict.fromkeys(TUNABLE)
    with progress_bar(total=work, desc="evaluating", enable=progress) as bar:
        for w, (cutoff_w, end_w) in enumerate(spans):
            window = _Window(views, cutoff_w, end_w, max_cases=max_cases, seed=seed, model=model,
                             settings=points[0].replace(k=k) if points else None)
            sizes = {"window": w, "cases": len(window.targets), "test_cases": window.test_cases}
            for method in baselines:
                metrics, scores = window.score(window.baseline_lists(method, k), k)
                rows.append({"method": method, **none, **sizes, **metrics})
                cases.append((scores, window.readers))
                bar.update(1)
            for point in points:
                point = point.replace(k=k)
                flat = point.flat()
                metrics, scores = window.score(window.rules_lists(point), k)
                rows.append({"method": "rules", **{name: flat[name] for name in TUNABLE}, **sizes, **metrics})
                cases.append((scores, window.readers))
                bar.update(1)
            log.info("window %d: scored %d of %d test cases", w, sizes["cases"], sizes["test_cases"])
    log.info("evaluated %d settings on %d window(s)", len(points), len(spans))
    return _pool(pd.DataFrame(rows), cases, k)


#: The columns of the intervals: hr_low, hr_high, mrr_low, ...
INTERVAL_COLUMNS = tuple(f"{m}_{end}" for m in MEANS for end in ("low", "high"))


def _pool(per_window: pd.DataFrame, cases: list[tuple[np.ndarray, np.ndarray]], k: int) -> pd.DataFrame:
    """One row per method and setting: metrics averaged over windows, weighted by test cases, and
    the intervals of the means over all their cases (a reader is one unit across windows)."""
    keys = ["method", *TUNABLE]
    frame = per_window.copy()
    for c in keys:
        frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    out = []
    for key, g in frame.groupby(keys, dropna=False, sort=False):
        weights = g["cases"].to_numpy(float)
        row = dict(zip(keys, key))
        row.update({m: float(np.average(g[m], weights=weights)) if weights.sum() else float("nan") for m in METRICS})
        row.update(k=k, cases=int(weights.sum()), test_cases=int(g["test_cases"].sum()), windows=len(g))
        low, high = interval(np.concatenate([cases[i][0] for i in g.index]),
                             np.concatenate([cases[i][1] for i in g.index]))
        for j, m in enumerate(MEANS):
            row[f"{m}_low"], row[f"{m}_high"] = float(low[j]), float(high[j])
        out.append(row)
    return pd.DataFrame(out, columns=keys + ["k", "cases", "test_cases", "windows", *METRICS, *INTERVAL_COLUMNS])


def evaluate(
    views: pd.DataFrame,
    *,
    settings: Settings | None = None,
    k: int | None = None,
    cutoff=None,
    test_days: float = 7,
    windows: int = 1,
    methods: Sequence[str] = ("rules", *BASELINES),
    max_cases: int | None = None,
    seed: int = 0,
    model: Model | None = None,
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
    max_cases : int, optional
        Score at most this many test cases in each window: those of a sample of the test's
        readers, drawn with ``seed`` (every case of each reader drawn, so that the intervals can
        treat readers as the independent units). By default (None) every case is scored. The
        cost of the scoring then stays the same however many readers the logs hold; the
        training is that of the nightly job on the training days.
    seed : int, default 0
        The seed of that sample: the same views, seed and ``max_cases`` score the same cases.
    model : Model, optional
        What :func:`recsys.train` made of all these ``views`` with these settings (the nightly
        job has it): the session baskets of the training days and of the test are mostly among
        its sessions, and are taken from them rather than cut again. The results are the same.
    **overrides
        Settings to change for the ``rules`` method, by name (``min_support=5``). A rule's
        distinct readers never outnumber its baskets, so an absolute ``min_support`` below
        ``min_count`` only mines itemsets that :func:`recsys.recommend` then drops.

    Returns
    -------
    pandas.DataFrame
        One row per method, always with the same columns: ``method``, the settings of
        :data:`TUNABLE` (missing for the baselines), ``k``, ``cases`` (the predictions scored),
        ``test_cases`` (the predictions the test windows hold, of which ``cases`` were scored),
        ``windows``, the metrics ``hr``, ``mrr``, ``precision``, ``recall``, ``ndcg`` (at k),
        ``coverage`` (the share of the training catalog shown in any list scored) and
        ``popularity`` (mean training popularity of what is shown, the most popular article
        being 1), and the 95% interval of each mean over cases (:data:`MEANS`): ``hr_low``,
        ``hr_high``, ``mrr_low``, ... (:func:`interval`; readers are the independent units).
        Coverage depends on how many lists are scored: on a sample it is lower than on all cases.
    """
    baselines = [m for m in methods if m != "rules"]
    point = _settings(settings, overrides)
    points = [point] if "rules" in methods else []
    if model is not None:
        valid = len(views.dropna(subset=["ts", "visitor", "url"]))
        if int(model.sessions["n_views"].sum()) + model.dropped_long_views != valid:
            raise ValueError(f"model holds {int(model.sessions['n_views'].sum()) + model.dropped_long_views:,} "
                             f"page views where views has {valid:,}: pass the model recsys.train made of "
                             "these views, or none")
    return _run(views, points, baselines, k=point.recommending.k if k is None else k, cutoff=cutoff,
                test_days=test_days, windows=windows, max_cases=max_cases, seed=seed, progress=progress,
                model=model if points else None)


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
    max_cases: int | None = None,
    seed: int = 0,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Evaluate the ``rules`` method over every combination of ``grid`` (and the baselines once).

    ``grid`` maps settings (names of :class:`recsys.Settings`, e.g. those of :data:`TUNABLE`) to
    the values to try; the others are ``settings``'. ``k`` (default: the settings' ``k``) is the
    length of the lists scored, for every point. Sessions, itemsets and rules are trained once
    for all the points that share them (:func:`recsys.train`'s memo). Every point is scored on the
    same cases: all of them by default, or the sample ``max_cases`` and ``seed`` draw (as in
    :func:`evaluate`), which makes a large grid on a large log faster and keeps the comparison
    between points paired.

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
                max_cases=max_cases, seed=seed, progress=progress)
