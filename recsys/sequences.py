"""Trusted sequential pair rules: what ranks the lists (``ranking = "sequences"``, the default).

A rule ``a -> b`` says "readers who read a read b in the same session, mostly after it". Its
evidence is counted from the session baskets (:func:`recsys.sessionize`, articles in the order
first read) by who is behind it, so that a script cannot buy its way into the lists:

*Sources.* A session's source is its network (/24, /48) when known, else its visitor. Every sum
below counts a source at most once per article and once per pair, with the largest weight among
its sessions (as :func:`recsys.popularity` counts readers once per network).

*Credibility.* A visitor whose first and last sessions are at least ``returning_days`` (7) days
apart is *returning* and weighs 1; any other weighs ``anonymous_weight`` (0.2). Weights are
divided by their mean, and with ``half_life`` they halve every ``half_life`` days before the last
session. When fewer than ``min_returning`` (5%) of the sessions are by returning visitors (logs
without a lasting visitor id) every session weighs 1 and there is no admission check.

*Evidence.* ``n_a`` sums the weights of the sources of the sessions holding a (``readers`` of the
articles table), ``N`` those of all sessions; ``evidence(a, b)`` those of the sessions holding
both; ``forward(a, b)`` those of the sessions where b was read after a, each weighing ``w / d``,
d the distance in reads (d <= ``steps``: sequential rules, Ludewig & Jannach 2018);
``seq_evidence(a, b) = forward(a, b) + backward * forward(b, a)``.

*Measures of a rule.* Integer ``count`` (sessions holding both), ``count_after`` (sessions where b
came after a), ``sources`` (distinct sources co-reading); ``support = evidence / N``,
``confidence = evidence / n_a``, ``lift = confidence / (n_b / N)``; ``score = seq_evidence / n_a``
(the sequential confidence, what ranks); ``tier`` 1 when ``evidence >= tier_min`` (2 trusted
co-readers), else 2 (the rarer pairs: a tier, not a cut-off, since pairs seen once or twice still
carry signal on sparse logs).

*Admission.* An article may be recommended (by a rule or by the fill) only when at least
``admit_min`` (1) sources of returning visitors read it: scripted one-off cookies cannot bring a
new article in.

*Lists.* For what a reader has read, the latest ``recent`` (5) distinct articles x_0 (the last),
x_1, ... add up: ``score(b) = sum_j score(x_j -> b) / (1 + j)``; ``tier(b)`` is 1 if any of these
rules is. Candidates rank by tier, score, then ``n_b`` and URL; what was read is never listed;
short lists are filled with the admitted articles by ``n_b`` (``source="popular"``, tier 3). An
article's own list is the list of having read it alone. Each entry keeps the rule that weighs most
in it (its ``confidence``, ``lift``, ``count`` = its sources) and ``because``: every rule behind it.

:func:`tune` picks ``half_life`` and ``backward`` on a time split of the training sessions (the
nightly ``--tune``) and says what it chose and why.

>>> s = pd.DataFrame({"visitor": list("uvwx"), "items": [("/a", "/b"), ("/a", "/b"), ("/a", "/c"), ("/b", "/c")],
...                   "start": pd.to_datetime(["2024-03-01"] * 4, utc=True)})
>>> rank(sequence_rules(s), k=2)[["item", "rank", "url", "tier", "source"]].head(4)
  item  rank url  tier source
0   /a     1  /b     1  rules
1   /a     2  /c     2  rules
2   /b     1  /a     1  rules
3   /b     2  /c     2  rules

(/b -> /a has two co-readers, so it comes first though /a was read before /b: its score is
0.1 x 2/3, /b -> /c's 1/3.)
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["Sequences", "Tuning", "sequence_rules", "rank", "tune", "TUNE_GRID", "RULE_PARAMS", "LIST_COLUMNS"]

log = logging.getLogger(__name__)

#: The parameters of :func:`sequence_rules`, and their defaults (those of :class:`recsys.Settings`).
RULE_PARAMS: dict[str, object] = {"steps": 10, "backward": 0.1, "half_life": None, "anonymous_weight": 0.2,
                                  "returning_days": 7.0, "min_returning": 0.05, "admit_min": 1, "tier_min": 2.0}
#: What :func:`tune` tries by default (first values first: on equal validation scores the first wins).
TUNE_GRID: dict[str, tuple] = {"half_life": (None, 60.0, 30.0, 14.0), "backward": (0.1, 0.5)}
#: The columns of a ranked list (``item`` is ``context`` for the lists of reading histories).
LIST_COLUMNS = ("item", "rank", "url", "score", "confidence", "lift", "count", "source", "tier", "because")
RULE_COLUMNS = ("antecedent", "consequent", "count", "count_after", "sources", "evidence", "seq_evidence",
                "antecedent_n", "consequent_n", "support", "confidence", "lift", "score", "tier", "admitted")


@dataclass
class Sequences:
    """What :func:`sequence_rules` returns.

    Attributes
    ----------
    rules : pandas.DataFrame
        One row per rule ``antecedent -> consequent`` (every pair read in a session, both ways),
        with the columns of :data:`RULE_COLUMNS`, ranked within each antecedent.
    articles : pandas.DataFrame
        ``url``, ``readers`` (n, the trusted readers), ``sessions``, ``returning_sources``,
        ``admitted``.
    total : float
        N, the trusted readers of all sessions.
    params : dict
        The parameters, and ``credibility`` (whether the credibility weights were on).
    """

    rules: pd.DataFrame
    articles: pd.DataFrame
    total: float
    params: dict = field(default_factory=dict)
    #: each rule's forward(a, b) and forward(b, a), row by row: :func:`tune` re-scores them for
    #: another ``backward`` without fitting again
    directions: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def usable(self, max_rules: int | None) -> pd.DataFrame:
        """The rules the lists are made of: those leading to an admitted article, each antecedent's
        ``max_rules`` best (all with None or 0)."""
        rules = self.rules[self.rules["admitted"]]
        return rules.groupby("antecedent", sort=False).head(max_rules) if max_rules else rules

    def by_readers(self) -> tuple[np.ndarray, np.ndarray]:
        """Each article's trusted readers as the lists weigh them (their sessions break ties), and the
        articles' positions from the most read (ties by URL): the fill, and what breaks ties."""
        readers = self.articles["readers"].to_numpy(float) + 1e-9 * self.articles["sessions"].to_numpy()
        return readers, np.lexsort((np.arange(len(readers)), -readers))


# weights ------------------------------------------------------------------------------------------------
def credibility(sessions: pd.DataFrame, *, anonymous_weight: float = 0.2, returning_days: float = 7.0,
                min_returning: float = 0.05, half_life: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Each session's weight, and whether its visitor is returning (None: the check is off).

    >>> s = pd.DataFrame({"visitor": ["u", "u", "v"], "items": [("a",), ("b",), ("a", "b")],
    ...                   "start": pd.to_datetime(["2024-03-01", "2024-03-09", "2024-03-09"], utc=True)})
    >>> w, returning = credibility(s)
    >>> w.round(3).tolist(), returning.tolist()
    ([1.364, 1.364, 0.273], [True, True, False])
    """
    return _weights(*_days(sessions), anonymous_weight=anonymous_weight, returning_days=returning_days,
                    min_returning=min_returning, half_life=half_life)


def _days(sessions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each session's span of its visitor's sessions and its age before the last session, in days."""
    start = pd.to_datetime(sessions["start"], utc=True)
    by = start.groupby(_codes(sessions["visitor"]))
    span = (by.transform("max") - by.transform("min")).dt.total_seconds().to_numpy() / 86400
    age = (start.max() - start).dt.total_seconds().to_numpy() / 86400
    return span, age


def _weights(span: np.ndarray, age: np.ndarray, *, anonymous_weight: float, returning_days: float,
             min_returning: float, half_life: float | None) -> tuple[np.ndarray, np.ndarray | None]:
    returning = span >= returning_days
    active = len(returning) > 0 and returning.mean() >= min_returning
    w = np.where(returning, 1.0, anonymous_weight) if active else np.ones(len(span))
    w = w / w.mean() if len(w) and w.mean() > 0 else w
    if half_life:
        w = w * 0.5 ** (age / half_life)
    return w, (returning if active else None)


def _codes(values: pd.Series) -> np.ndarray:
    """A code per value (equal values, equal codes; missing values -1), without a string per row."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy().astype(np.int64)
    return pd.factorize(values)[0].astype(np.int64)


def _sources(sessions: pd.DataFrame) -> np.ndarray:
    """Each session's source, numbered in the order sources first appear: its network when known,
    else its visitor (networks, written as addresses, and visitors never share a code)."""
    who = _codes(sessions["visitor"])
    if "network" in sessions.columns:
        net = _codes(sessions["network"])
        who = np.where(net >= 0, net, net.max(initial=-1) + 1 + who)
    return pd.factorize(who)[0].astype(np.int64)


class _Groups:
    """Rows grouped by (source, a, b), to keep each group's largest weight: a source counts once
    per article and once per pair. The grouping is made once for the fits that differ only in
    their weights (the tuning's)."""

    def __init__(self, src: np.ndarray, a: np.ndarray, b: np.ndarray, m: int) -> None:
        key = (src * m + a) * m + b
        self.order = np.argsort(key)
        ks = key[self.order]
        first = np.ones(len(ks), bool)
        first[1:] = ks[1:] != ks[:-1]
        self.starts = np.flatnonzero(first)
        self.first = self.order[self.starts]  # a row of each group, in the order of the groups

    def best(self, w: np.ndarray) -> np.ndarray:
        """The largest of ``w`` in each group (in the order of :attr:`first`)."""
        return np.maximum.reduceat(w[self.order], self.starts) if len(self.starts) else np.zeros(0)


def _pair_positions(lens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions (i, j), i < j, of every pair of reads within each session."""
    starts = np.cumsum(lens) - lens
    a, b = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for n in np.unique(lens[lens >= 2]):
        first = starts[lens == n]
        iu, ju = np.triu_indices(int(n), 1)
        a.append((first[:, None] + iu[None, :]).ravel())
        b.append((first[:, None] + ju[None, :]).ravel())
    return np.concatenate(a), np.concatenate(b)


def _check(name: str, value, low: float, high: float | None = None, *, integer: bool = False) -> None:
    bad = isinstance(value, bool) or not isinstance(value, (int, np.integer) if integer else (int, float))
    if bad or value < low or (high is not None and value > high) or value != value:
        span = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be {'an int' if integer else 'a number'} {span}; got {value!r}")


# rules --------------------------------------------------------------------------------------------------
def sequence_rules(sessions: pd.DataFrame, *, steps: int = 10, backward: float = 0.1, half_life: float | None = None,
                   anonymous_weight: float = 0.2, returning_days: float = 7.0, min_returning: float = 0.05,
                   admit_min: int = 1, tier_min: float = 2.0) -> Sequences:
    """Rules a -> b between articles read in the same session, with trusted evidence.

    Parameters
    ----------
    sessions : pandas.DataFrame
        ``visitor``, ``start`` (timestamps), ``items`` (tuples of distinct articles in the order
        first read, as :func:`recsys.sessionize` makes them) and optionally ``network``.
    steps : int, default 10
        The farthest distance in reads at which "b after a" counts.
    backward : float, default 0.1
        The weight of "b before a" in a -> b, relative to "b after a".
    half_life : float, optional
        Days over which a session's weight halves (counted back from the last session).
    anonymous_weight, returning_days, min_returning, admit_min, tier_min
        The trust settings (see the module docstring).

    Returns
    -------
    Sequences

    >>> s = pd.DataFrame({"visitor": list("uuvw"), "items": [("a", "b"), ("a", "c"), ("a", "b"), ("b", "a")],
    ...                   "start": pd.to_datetime(["2024-03-01", "2024-03-09", "2024-03-09", "2024-03-09"], utc=True)})
    >>> r = sequence_rules(s, anonymous_weight=1.0, admit_min=0).rules
    >>> r[r.antecedent == "a"][["consequent", "count", "count_after", "confidence", "score", "tier"]].round(3)
      consequent  count  count_after  confidence  score  tier
    0          b      3            2       1.000  0.700     1
    1          c      1            1       0.333  0.333     2
    """
    params = dict(steps=steps, backward=backward, half_life=half_life, anonymous_weight=anonymous_weight,
                  returning_days=returning_days, min_returning=min_returning, admit_min=admit_min, tier_min=tier_min)
    _check_params(params)
    return _fit(_Prepared(sessions, steps), **params)


def _check_params(p: dict) -> None:
    _check("steps", p["steps"], 1, integer=True)
    _check("backward", p["backward"], 0, 1)
    if p["half_life"] is not None:
        _check("half_life", p["half_life"], 1e-9)
    _check("anonymous_weight", p["anonymous_weight"], 0, 1)
    _check("returning_days", p["returning_days"], 0)
    _check("min_returning", p["min_returning"], 0, 1)
    _check("admit_min", p["admit_min"], 0, integer=True)
    _check("tier_min", p["tier_min"], 0)


class _Prepared:
    """What :func:`sequence_rules` computes from the sessions whatever the weights: the articles'
    codes, the pairs read in a session and their grouping by source. The tuning fits several
    weightings of the same sessions from one."""

    def __init__(self, sessions: pd.DataFrame, steps: int) -> None:
        items = sessions["items"].to_numpy()
        lens = np.fromiter(map(len, items), np.int64, len(items))
        flat = np.fromiter(itertools.chain.from_iterable(items), object, int(lens.sum()))
        codes, labels = pd.factorize(flat, sort=True)
        self.labels = labels = pd.Index(np.asarray(labels, dtype=object))
        self.codes, self.steps = codes, steps
        self.m = m = max(len(labels), 1)
        self.session = session = np.repeat(np.arange(len(items)), lens)
        position = np.arange(len(codes)) - np.repeat(np.cumsum(lens) - lens, lens)
        self.src = src = _sources(sessions)
        self.days = _days(sessions)
        zeros = np.zeros(len(codes), np.int64)
        self.per_article = _Groups(src[session], codes, zeros, m)  # a source once per article
        self.everyone = _Groups(src, np.zeros(len(src), np.int64), np.zeros(len(src), np.int64), 1)
        self.n_sessions = np.bincount(codes, minlength=len(labels))
        # the pairs (i < j in a session): a read before b at distance d
        i, j = _pair_positions(lens)
        self.of, self.a, self.b = session[i], codes[i], codes[j]
        self.d = (position[j] - position[i]).astype(float)
        srcs = src[self.of]
        both_a, both_b = np.concatenate([self.a, self.b]), np.concatenate([self.b, self.a])
        self.pairs = _Groups(np.concatenate([srcs, srcs]), both_a, both_b, m)  # a source once per pair
        self.pair_a, self.pair_b = both_a[self.pairs.first], both_b[self.pairs.first]
        self.near = self.d <= steps
        self.forward = _Groups(srcs[self.near], self.a[self.near], self.b[self.near], m)
        shape = self.shape = (len(labels), len(labels))
        self.count = sp.coo_matrix((np.ones(len(both_a)), (both_a, both_b)), shape=shape).tocsr()
        self.sources = sp.coo_matrix((np.ones(len(self.pair_a)), (self.pair_a, self.pair_b)), shape=shape).tocsr()
        self.after = sp.coo_matrix((np.ones(len(self.a)), (self.a, self.b)), shape=shape).tocsr()


def _fit(prep: _Prepared, *, steps: int, backward: float, half_life: float | None,
         anonymous_weight: float, returning_days: float, min_returning: float, admit_min: int,
         tier_min: float) -> Sequences:
    """:func:`sequence_rules` of the sessions ``prep`` was made of (with the same ``steps``)."""
    params = dict(steps=steps, backward=backward, half_life=half_life, anonymous_weight=anonymous_weight,
                  returning_days=returning_days, min_returning=min_returning, admit_min=admit_min, tier_min=tier_min)
    labels, codes, session, m = prep.labels, prep.codes, prep.session, prep.m
    w, returning = _weights(*prep.days, anonymous_weight=anonymous_weight, returning_days=returning_days,
                            min_returning=min_returning, half_life=half_life)
    # the articles: trusted readers, sessions, returning sources, admission
    g = prep.per_article
    readers = np.bincount(codes[g.first], weights=g.best(w[session]), minlength=len(labels))
    total = float(prep.everyone.best(w).sum())
    if returning is not None:
        r = returning[session]
        theirs = codes[r]
        returning_sources = np.bincount(theirs[_Groups(prep.src[session][r], theirs, np.zeros(len(theirs), np.int64),
                                                       m).first], minlength=len(labels))
        admitted = returning_sources >= admit_min
    else:
        returning_sources = np.zeros(len(labels), np.int64)
        admitted = np.ones(len(labels), bool)
    ws = w[prep.of]
    shape = prep.shape
    evidence = sp.coo_matrix((prep.pairs.best(np.concatenate([ws, ws])), (prep.pair_a, prep.pair_b)),
                             shape=shape).tocsr()
    near, fg = prep.near, prep.forward
    forward = sp.coo_matrix((fg.best((ws / prep.d)[near]), (prep.a[near][fg.first], prep.b[near][fg.first])),
                            shape=shape).tocsr()
    e = evidence.tocoo()
    ra, rb, ev = e.row, e.col, e.data
    na, nb = readers[ra], readers[rb]
    count, after, sources = prep.count, prep.after, prep.sources
    with np.errstate(divide="ignore", invalid="ignore"):
        conf = np.where(na > 0, ev / na, 0.0)
        lift = np.where(nb > 0, conf / (nb / total), 0.0) if total else np.zeros(len(ev))
        fwd = np.asarray(forward[ra, rb]).ravel() if len(ra) else np.zeros(0)
        bwd = np.asarray(forward[rb, ra]).ravel() if len(ra) else np.zeros(0)
        seq_ev = fwd + backward * bwd
        score = np.where(na > 0, seq_ev / na, 0.0)
    rules = pd.DataFrame({
        "antecedent": labels[ra], "consequent": labels[rb],
        "count": np.asarray(count[ra, rb]).ravel().astype(np.int64) if len(ra) else np.zeros(0, np.int64),
        "count_after": np.asarray(after[ra, rb]).ravel().astype(np.int64) if len(ra) else np.zeros(0, np.int64),
        "sources": np.asarray(sources[ra, rb]).ravel().astype(np.int64) if len(ra) else np.zeros(0, np.int64),
        "evidence": ev, "seq_evidence": seq_ev, "antecedent_n": na, "consequent_n": nb,
        "support": ev / total if total else np.zeros(len(ev)), "confidence": conf, "lift": lift,
        "score": score, "tier": np.where(ev >= tier_min - 1e-9, 1, 2).astype(np.int8),
        "admitted": admitted[rb],
    }, columns=list(RULE_COLUMNS))
    rules, directions = _ranked(rules, fwd, bwd)
    articles = pd.DataFrame({"url": labels, "readers": readers, "sessions": prep.n_sessions,
                             "returning_sources": returning_sources, "admitted": admitted})
    log.info("%d sequence rules between %d articles (%d admitted; credibility %s)", len(rules), len(labels),
             int(admitted.sum()), "on" if returning is not None else "off")
    return Sequences(rules, articles, total, {**params, "credibility": returning is not None}, directions)


def _ranked(rules: pd.DataFrame, fwd: np.ndarray, bwd: np.ndarray) -> tuple[pd.DataFrame, tuple]:
    """The rules ranked within each antecedent (tier, score, the consequent's readers, its URL),
    with their forward evidence in the same order."""
    order = rules.sort_values(["antecedent", "tier", "score", "consequent_n", "consequent"],
                              ascending=[True, True, False, False, True], kind="stable").index.to_numpy()
    return rules.iloc[order].reset_index(drop=True), (fwd[order], bwd[order])


def _rescored(model: Sequences, backward: float) -> Sequences:
    """``model`` as :func:`sequence_rules` gives it with another ``backward`` (nothing else changes)."""
    fwd, bwd = model.directions
    rules = model.rules.copy()
    seq_ev = fwd + backward * bwd
    na = rules["antecedent_n"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(na > 0, seq_ev / na, 0.0)
    rules["seq_evidence"], rules["score"] = seq_ev, score
    rules, directions = _ranked(rules, fwd, bwd)
    return Sequences(rules, model.articles, model.total, {**model.params, "backward": backward}, directions)


# lists --------------------------------------------------------------------------------------------------
def rank(sequences: Sequences, contexts=None, *, k: int = 5, recent: int = 5, max_rules: int | None = 100,
         items=None, explain: bool = True, chunk: int = 2048) -> pd.DataFrame:
    """Ranked lists: one per article (``contexts`` None) or one per reading history.

    Parameters
    ----------
    sequences : Sequences
    contexts : sequence of sequences of str, optional
        What readers have read, in order (the last read last).
    k : int, default 5
    recent : int, default 5
        How many of the latest distinct reads give evidence.
    max_rules : int or None, default 100
        Only each antecedent's best rules (by tier, then score) are used.
    items : iterable of str, optional
        The articles to make lists for (default: every article of the sessions).
    explain : bool, default True
        Give each entry the measures of the rule behind it and ``because``; without, those are
        missing (the same lists, ranked the same, made faster: what the tuning and the evaluation
        score).

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`LIST_COLUMNS` (``context``, the position of the history, in place of
        ``item`` for ``contexts``): ``score`` is the summed sequential confidence, ``confidence``,
        ``lift`` and ``count`` (distinct sources) are those of the rule that weighs most in the
        entry, ``because`` names every rule behind it as ``antecedent (score)``; popular fill has
        no measures, tier 3 and ``source="popular"``.
    """
    for name, value in (("k", k), ("recent", recent)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an int >= 1; got {value!r}")
    rules = sequences.usable(max_rules)
    labels = pd.Index(sequences.articles["url"])
    m = len(labels)
    ai, bi = labels.get_indexer(rules["antecedent"]), labels.get_indexer(rules["consequent"])
    scores = sp.csr_matrix((rules["score"].to_numpy(float), (ai, bi)), shape=(m, m))
    trusted = sp.csr_matrix(((rules["tier"].to_numpy() == 1).astype(float), (ai, bi)), shape=(m, m))
    if explain:
        row_of = dict(zip(zip(ai.tolist(), bi.tolist()), range(len(rules))))
        measures = rules[["confidence", "lift", "sources"]].to_numpy(float).tolist()
        rule_score = rules["score"].to_numpy(float).tolist()
    readers, fill = sequences.by_readers()
    fill = fill[sequences.articles["admitted"].to_numpy(bool)[fill]][: k + 64]
    per_article = contexts is None
    if per_article:
        keys = list(labels) if items is None else [str(u) for u in items]
        contexts = [(u,) for u in keys]
    else:
        contexts = [tuple(c) for c in contexts]
        keys = list(range(len(contexts)))
    code = dict(zip(labels, range(m)))
    names = labels.tolist()
    rows: list[tuple] = []
    for lo in range(0, len(contexts), chunk):
        part = contexts[lo: lo + chunk]
        qr, qc, qv, reads, rr, rc = [], [], [], [], [], []
        for t, c in enumerate(part):
            latest = list(dict.fromkeys(reversed(c)))[:recent]
            for j, u in enumerate(latest):
                x = code.get(u, -1)
                if x >= 0:
                    qr.append(t), qc.append(x), qv.append(1.0 / (1 + j))
            read = {code[u] for u in c if u in code}
            reads.append(read)
            rr.extend([t] * len(read)), rc.extend(read)
        q = sp.csr_matrix((qv, (qr, qc)), shape=(len(part), m))
        s = (q @ scores).toarray()
        tier1 = (q @ trusted).toarray() > 0
        s[rr, rc] = 0  # what was read is never listed
        picked = _best(s, tier1, readers, k)
        for t in range(len(part)):
            read, chosen = reads[t], picked[t]
            from_rules = len(chosen)
            for x in fill:
                if len(chosen) >= k:
                    break
                if x not in read and x not in chosen:
                    chosen.append(int(x))
            ante = q.indices[q.indptr[t]:q.indptr[t + 1]]
            weight = q.data[q.indptr[t]:q.indptr[t + 1]]
            if not explain:
                rows.extend((keys[lo + t], r, names[x], float(s[t, x]) if r <= from_rules else np.nan, np.nan, np.nan,
                             None, "rules" if r <= from_rules else "popular",
                             (1 if tier1[t, x] else 2) if r <= from_rules else 3, "") for r, x in enumerate(chosen, 1))
                continue
            for r, x in enumerate(chosen, 1):
                if r > from_rules:
                    rows.append((keys[lo + t], r, names[x], np.nan, np.nan, np.nan, None, "popular", 3, ""))
                    continue
                behind = [(a, wa, row_of[(a, x)]) for a, wa in zip(ante.tolist(), weight.tolist()) if (a, x) in row_of]
                best = max(behind, key=lambda z: z[1] * rule_score[z[2]])  # of equals, the first by URL
                conf, lift, n = measures[best[2]]
                because = "; ".join(f"{names[a]} ({rule_score[r_]:.3f})" for a, _, r_ in behind)
                rows.append((keys[lo + t], r, names[x], float(s[t, x]), float(conf), float(lift), int(n), "rules",
                             1 if tier1[t, x] else 2, because))
    out = pd.DataFrame(rows, columns=[("item" if per_article else "context"), *LIST_COLUMNS[1:]])
    out["rank"] = out["rank"].astype("int64")
    out["count"] = out["count"].astype("Int64")
    out["tier"] = out["tier"].astype("int8")
    return out


def _best(s: np.ndarray, tier1: np.ndarray, readers: np.ndarray, k: int) -> list[list[int]]:
    """Each row's best ``k`` columns with a positive score: by tier, score, readers, column."""
    positive = s > 0
    if s.shape[1] > k:  # only what ranks at least as high as a row's k-th by tier and score is sorted
        key = np.where(positive, s + tier1 * (s.max() + 1), -1.0)  # in that order (ties may merge: kept)
        kth = np.partition(key, s.shape[1] - k, axis=1)[:, s.shape[1] - k]
        positive &= key >= kth[:, None]
    rows, cols = np.nonzero(positive)
    order = np.lexsort((cols, -readers[cols], -s[rows, cols], ~tier1[rows, cols], rows))
    rows, cols = rows[order], cols[order]
    starts = np.searchsorted(rows, np.arange(len(s) + 1))
    return [cols[a: min(a + k, b)].tolist() for a, b in zip(starts[:-1].tolist(), starts[1:].tolist())]


# self-tuning --------------------------------------------------------------------------------------------
@dataclass
class Tuning:
    """What :func:`tune` chose, and why: ``params`` (every rule parameter), ``tried`` (one row per
    point: its values, ``hr_context``, ``hr_article``, ``objective``), ``cases`` (validation cases
    scored), ``why`` (a sentence for the report) and ``until`` (the sessions tuned on were those
    of the views before it; None: all the model's)."""

    params: dict
    tried: pd.DataFrame
    cases: int
    why: str
    until: pd.Timestamp | None = None

    def record(self) -> dict:
        """What report.json keeps of it."""
        until = None if self.until is None else self.until.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return {"chosen": {n: self.params[n] for n in TUNE_GRID}, "cases": self.cases, "why": self.why,
                "sessions_before": until,
                "tried": self.tried.astype(object).where(self.tried.notna(), None).to_dict("records")}


def next_cases(sessions: pd.DataFrame) -> tuple[list[tuple], list[str], list[frozenset]]:
    """(what was read so far, the next article, the rest of the session) at every position of the
    sessions of 2+ articles: the cases the tuning and the evaluation score."""
    contexts, targets, rests = [], [], []
    for items in sessions["items"]:
        for t in range(1, len(items)):
            contexts.append(tuple(items[:t]))
            targets.append(items[t])
            rests.append(frozenset(items[t:]))
    return contexts, targets, rests


def _hit_rate(lists: pd.DataFrame, key: str, wanted, targets, k: int) -> float:
    shown: dict = {}
    for owner, url in zip(lists[key].to_numpy(), lists["url"].to_numpy()):
        shown.setdefault(owner, []).append(url)
    return float(np.mean([t in shown.get(w, [])[:k] for w, t in zip(wanted, targets)]))


def tune(sessions: pd.DataFrame, *, grid: dict | None = None, share: float = 0.2, min_cases: int = 200,
         max_cases: int = 5000, seed: int = 0, k: int = 5, recent: int = 5, max_rules: int | None = 100,
         until: pd.Timestamp | None = None, **params) -> Tuning:
    """Pick ``grid``'s parameters on a time split of ``sessions``: the last ``share`` validate.

    Every point of ``grid`` (default :data:`TUNE_GRID`) is fitted on the first sessions and scored
    by the hit rate at ``k`` of the lists of what each validation reader had read so far plus that
    of the per-article lists of the last article read, against the article read next (at most
    ``max_cases`` cases, drawn with ``seed``). The first best point wins, so put the values to
    prefer first. With fewer than ``min_cases`` cases the first point is kept untried. ``until``
    is only recorded: the ``sessions`` are those of the views before it (the nightly job tunes on
    its evaluation's training days).

    >>> s = pd.DataFrame({"visitor": list("uvw"), "items": [("/a", "/b")] * 3,
    ...                   "start": pd.to_datetime(["2024-03-01", "2024-03-02", "2024-03-03"], utc=True)})
    >>> t = tune(s)
    >>> t.params["half_life"], t.params["backward"], t.cases
    (None, 0.1, 1)
    """
    grid = TUNE_GRID if grid is None else grid
    base = {**RULE_PARAMS, **params}
    first = {name: values[0] for name, values in grid.items()}
    ordered = sessions.sort_values("start", kind="stable").reset_index(drop=True)
    cut = int(len(ordered) * (1 - share))
    fit, valid = ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
    contexts, targets, _ = next_cases(valid)
    if len(targets) > max_cases:
        pick = np.sort(np.random.default_rng(seed).choice(len(targets), max_cases, replace=False))
        contexts, targets = [contexts[i] for i in pick], [targets[i] for i in pick]
    names = list(grid)
    if len(targets) < min_cases:
        why = (f"kept {_show(first)}: the last {share:.0%} of the sessions hold {len(targets):,} next-article "
               f"cases, fewer than the {min_cases:,} a choice needs")
        return Tuning({**base, **first}, pd.DataFrame(columns=[*names, "hr_context", "hr_article", "objective"]),
                      len(targets), why + _before(until), until)
    distinct = list(dict.fromkeys(contexts))
    where = {c: i for i, c in enumerate(distinct)}
    lasts = sorted({c[-1] for c in contexts})
    rows, fitted, prepared = [], {}, {}
    for combo in itertools.product(*grid.values()):
        point = {**base, **dict(zip(names, combo))}
        _check_params(point)
        same = tuple((n, v) for n, v in point.items() if n != "backward")  # a fit serves every backward
        if same in fitted:
            model = fitted[same] = _rescored(fitted[same], point["backward"])
        else:  # the sessions' pairs and their grouping are prepared once for every weighting
            if point["steps"] not in prepared:
                prepared[point["steps"]] = _Prepared(fit, point["steps"])
            model = fitted[same] = _fit(prepared[point["steps"]], **point)
        hr_c = _hit_rate(rank(model, distinct, k=k, recent=recent, max_rules=max_rules, explain=False), "context",
                         [where[c] for c in contexts], targets, k)
        hr_a = _hit_rate(rank(model, None, k=k, max_rules=max_rules, items=lasts, explain=False), "item",
                         [c[-1] for c in contexts], targets, k)
        rows.append({**dict(zip(names, combo)), "hr_context": hr_c, "hr_article": hr_a, "objective": hr_c + hr_a})
    tried = pd.DataFrame(rows, columns=[*names, "hr_context", "hr_article", "objective"])
    best = int(tried["objective"].to_numpy().argmax())
    chosen = dict(zip(names, list(itertools.product(*grid.values()))[best]))
    top, start = tried.iloc[best], tried.iloc[0]
    why = (f"chose {_show(chosen)}: HR@{k} {top['hr_context']:.3f} (reading histories) + {top['hr_article']:.3f} "
           f"(per-article lists) on {len(targets):,} next-article cases of the last {share:.0%} of the sessions, "
           f"trained on the first {1 - share:.0%}; {_show(first)} scored {start['hr_context']:.3f} + "
           f"{start['hr_article']:.3f}; {len(tried)} points tried")
    log.info("tuning: %s", why)
    why += _before(until)
    return Tuning({**base, **chosen}, tried, len(targets), why, until)


def _before(until: pd.Timestamp | None) -> str:
    return "" if until is None else f" (sessions before {until:%Y-%m-%d %H:%M} UTC, the evaluation's training days)"


def _show(values: dict) -> str:
    return ", ".join(f"{n} = {'none' if v is None else f'{v:g}'}" for n, v in values.items())
