"""Training: from page views to what the lists are made of, the one way every caller does it.

:func:`train` runs the chain ``sessionize -> eclat (or apriori) -> association_rules -> audience``
(the mined rules, written to rules.parquet), then, under ``ranking = "sequences"`` (the default),
the trusted sequential pair rules that rank the lists (:mod:`recsys.sequences`; with ``tune``, their
``half_life`` and ``backward`` picked on a time split first), and the popular articles, with the
settings of a :class:`recsys.Settings`. The nightly job
(:func:`recsys.run`), the evaluation and the tuning (:mod:`recsys.evaluation`) all call it; a
``memo`` shared between calls keeps what several settings have in common (the sessions of one gap,
the itemsets of one support), so a tuning grid computes each of them once.

>>> import pandas as pd
>>> from recsys import Settings
>>> views = pd.DataFrame({"ts": pd.to_datetime(["2024-03-01 10:00", "2024-03-01 10:05"] * 3, utc=True),
...                       "visitor": ["a", "a", "b", "b", "c", "c"], "url": ["/x", "/y"] * 3})
>>> model = train(views, Settings.from_mapping(min_support=2, min_networks=0))
>>> len(model.sessions), len(model.rules), model.lists(Settings()).shape[0] > 0
(3, 2, True)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, MutableMapping

import numpy as np
import pandas as pd

from .itemsets import apriori, eclat
from .recommend import audience, popularity, recommend, recommend_next
from .rules import association_rules
from .sequences import RULE_PARAMS, Sequences, Tuning, rank, sequence_rules
from .sequences import tune as tune_sequences
from .sessions import long_baskets, sessionize
from .settings import Settings

__all__ = ["Model", "train", "baskets", "sequences_of", "training_baskets", "cut_baskets", "basket_key",
           "tuning_key"]


@dataclass
class Model:
    """What the lists are made of: the baskets, their itemsets and rules, and the popular articles.

    Attributes
    ----------
    sessions : pandas.DataFrame
        The baskets mined (:func:`recsys.sessionize`), without those over ``max_items``.
    dropped_long, dropped_long_views : int
        The baskets (and their views) dropped for holding more than ``max_items`` articles.
    itemsets, rules : pandas.DataFrame
        The frequent itemsets, and the rules with their ``visitors`` and ``networks``
        (:func:`recsys.audience`).
    popular : pandas.Series
        Article -> readers in the last ``popular_days`` (:func:`recsys.popularity`).
    timings : dict
        Seconds spent on ``sessions``, ``itemsets``, ``rules``, ``sequences`` (0 for what came
        from the memo).
    sequences : Sequences or None
        The trusted sequential pair rules that rank the lists (``ranking = "sequences"``).
    tuning : Tuning or None
        What the nightly tuning chose for them, and why (``tune``).
    before : (timestamp, dict) or None
        With ``train(..., tune_before=t)``: ``t`` and what was computed on the views before it (their
        baskets and the tuning), keyed as :func:`train`'s memo of those views keys them: an
        evaluation with its cut-off at ``t`` starts from it (under other settings it finds nothing).
    """

    sessions: pd.DataFrame
    dropped_long: int
    dropped_long_views: int
    itemsets: pd.DataFrame
    rules: pd.DataFrame
    popular: pd.Series
    timings: dict[str, float] = field(default_factory=dict)
    sequences: Sequences | None = None
    tuning: Tuning | None = None
    before: tuple[pd.Timestamp, dict] | None = None

    def lists(self, settings: Settings, *, items=None) -> pd.DataFrame:
        """The per-article lists under the recommending settings: ranked by the sequential pair
        rules (:func:`recsys.sequences.rank`) or by the mined rules (:func:`recsys.recommend`)."""
        if self._sequential(settings):
            r = settings.recommending
            return rank(self.sequences, k=r.k, recent=r.recent, max_rules=r.max_rules, items=items)
        return recommend(self.rules, popular=self.popular, items=items, **_ranking(settings))

    def lists_next(self, settings: Settings, contexts, *, explain: bool = True) -> pd.DataFrame:
        """The lists for what readers have read so far (the ``context`` column numbers them;
        without ``explain``, the sequential ranking leaves out the measures and ``because``)."""
        if self._sequential(settings):
            r = settings.recommending
            return rank(self.sequences, list(contexts), k=r.k, recent=r.recent, max_rules=r.max_rules,
                        explain=explain)
        return recommend_next(self.rules, contexts, popular=self.popular, **_ranking(settings))

    def _sequential(self, settings: Settings) -> bool:
        if settings.recommending.ranking != "sequences":
            return False
        if self.sequences is None:
            raise ValueError("ranking = 'sequences' needs the model's sequences: train it with recsys.train "
                             "under these settings, or set ranking='rules'")
        return True


def _ranking(settings: Settings) -> dict[str, Any]:
    r = settings.recommending
    return {"k": r.k, "rank_by": r.rank_by, "min_count": r.min_count, "min_networks": r.min_networks or None,
            "lift_above_one": r.lift_above_one}


def _memo(memo: MutableMapping | None, key: tuple, make, timings: dict, name: str):
    if memo is not None and key in memo:
        timings[name] = 0.0
        return memo[key]
    start = time.perf_counter()
    value = make()
    timings[name] = round(time.perf_counter() - start, 3)
    if memo is not None:
        memo[key] = value
    return value


def train(views: pd.DataFrame, settings: Settings | None = None, *, memo: MutableMapping | None = None,
          until: pd.Timestamp | None = None, tune_before: pd.Timestamp | None = None,
          mine_rules: bool = True) -> Model:
    """Sessions, itemsets, rules with their audience, and popular articles, from page views.

    Parameters
    ----------
    views : pandas.DataFrame
        Page views (:func:`recsys.page_views`): ``ts``, ``visitor``, ``url`` and ideally ``ip``.
    settings : Settings, optional
        Its ``sessions``, ``mining`` and ``recommending.popular_days`` are used (defaults otherwise).
    memo : dict, optional
        Shared between calls on the same views: what two settings have in common is computed once.
    until : timestamp, optional
        The end of the training period, for the popular articles (default: the last view).
    tune_before : timestamp, optional
        With ``tune``, pick the sequential rules' parameters on the baskets of the views before
        this time (:func:`training_baskets`) rather than on all: the nightly job gives its
        evaluation's cut-off, so that the one tuning serves the published model and the model the
        evaluation trains on those days (:func:`recsys.evaluate` takes the choice from the model).
    mine_rules : bool, default True
        Mine the itemsets and association rules; without, they are empty: what the evaluation
        trains when the lists are ranked by the sequential rules, in which they play no part.

    Returns
    -------
    Model
    """
    settings = settings or Settings()
    m = settings.mining
    timings: dict[str, float] = {}
    basket, (sessions, dropped, dropped_views) = _baskets(views, settings, memo, timings)
    mined = ("itemsets", basket, m.algorithm, m.min_support, m.max_len)
    miner = eclat if m.algorithm == "eclat" else apriori
    baskets_mined = sessions if mine_rules else sessions.iloc[:0]  # none: the frames mining gives, empty
    kept = memo if mine_rules else None
    itemsets = _memo(kept, mined, lambda: miner(baskets_mined["items"], min_support=m.min_support, max_len=m.max_len),
                     timings, "itemsets")
    rules = _memo(kept, ("rules", *mined[1:], m.min_confidence, m.max_antecedent_len),
                  lambda: audience(association_rules(itemsets, min_threshold=m.min_confidence,
                                                     max_antecedent_len=m.max_antecedent_len), baskets_mined),
                  timings, "rules")
    days = settings.recommending.popular_days
    popular = _memo(memo, ("popular", days, until), lambda: popularity(views, days=days, until=until),
                    timings, "popular")
    prior: dict = {}  # train's memo of the views before tune_before
    if tune_before is not None and settings.recommending.ranking == "sequences" and settings.recommending.tune:
        prior[("sessions", basket)] = training_baskets(views, tune_before, settings, known=sessions)
    tune_on = prior[("sessions", basket)][0] if prior else None
    sequences, tuning = sequences_of(sessions, settings, memo=memo, key=basket, timings=timings,
                                     tune_on=tune_on, until=tune_before)
    if prior:
        prior[tuning_key(settings, basket)] = tuning
    return Model(sessions, dropped, dropped_views, itemsets, rules, popular, timings, sequences, tuning,
                 (tune_before, prior) if prior else None)


def rule_params(settings: Settings) -> dict[str, Any]:
    """The parameters of :func:`recsys.sequences.sequence_rules` the settings give."""
    r = settings.recommending
    return {name: getattr(r, name) for name in RULE_PARAMS}


def sequences_of(sessions: pd.DataFrame, settings: Settings, *, memo: MutableMapping | None = None,
                 key: tuple = (), timings: dict | None = None, tune_on: pd.DataFrame | None = None,
                 until: pd.Timestamp | None = None) -> tuple[Sequences | None, Tuning | None]:
    """The sequential pair rules of the sessions (None unless ``ranking = "sequences"``), and with
    ``tune`` what the tuning chose: the grid of :data:`recsys.sequences.TUNE_GRID`, the settings'
    own ``half_life`` and ``backward`` tried first (kept on ties and when the logs are too short),
    tried on ``sessions`` or on ``tune_on``, the baskets of the views before ``until``.
    Both engines call it on the same sessions (Spark's collected to the driver)."""
    r = settings.recommending
    timings = {} if timings is None else timings
    if r.ranking != "sequences":
        return None, None
    params = rule_params(settings)
    tuning = None
    if r.tune:
        grid = {"half_life": tuple(dict.fromkeys([r.half_life, None, 60.0, 30.0, 14.0])),
                "backward": tuple(dict.fromkeys([r.backward, 0.1, 0.5]))}
        on = sessions if tune_on is None else tune_on
        memo_key = tuning_key(settings, key) if tune_on is None else ("before", until, *tuning_key(settings, key))
        tuning = _memo(memo, memo_key, lambda: tune_sequences(on, grid=grid, k=r.k, recent=r.recent,
                                                              max_rules=r.max_rules, until=until, **params),
                       timings, "tuning")
        params = {**params, **{n: tuning.params[n] for n in grid}}
    sequences = _memo(memo, ("sequences", key, tuple(params.items())), lambda: sequence_rules(sessions, **params),
                      timings, "sequences")
    return sequences, tuning


def tuning_key(settings: Settings, key: tuple) -> tuple:
    """Where a memo keeps the tuning of the baskets of ``key`` (:func:`basket_key`) under ``settings``."""
    r = settings.recommending
    return ("tuning", key, tuple(rule_params(settings).items()), r.k, r.recent, r.max_rules)


def basket_key(settings: Settings) -> tuple:
    """What the baskets depend on: a memo keeps the baskets of equal keys once."""
    s = settings.sessions
    # a visitor's basket is their whole history: the gap plays no part, so settings share it
    return ("visitor", s.max_items) if s.basket == "visitor" else ("session", s.gap, s.max_items)


def training_baskets(views: pd.DataFrame, cutoff: pd.Timestamp, settings: Settings, *,
                     known: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int, int]:
    """The baskets :func:`train` mines from the views before ``cutoff`` (an evaluation's training
    days), taken from ``known`` (the baskets of all the views under the same settings) where they
    lie within: ``(kept, dropped, their views)``."""
    s = settings.sessions
    before = views[views["ts"] < cutoff]
    if known is None or s.basket != "session":
        return _sessions(before, settings)
    return cut_baskets(before, views["ts"].min(), cutoff, gap=s.gap, max_items=s.max_items, known=known)


def baskets(views: pd.DataFrame, settings: Settings | None = None, *, memo: MutableMapping | None = None) -> pd.DataFrame:
    """The baskets :func:`train` mines under ``settings`` (those over ``max_items`` dropped), from
    the ``memo`` when it holds them: what the evaluation's baselines are trained on."""
    return _baskets(views, settings or Settings(), memo, {})[1][0]


def _baskets(views, settings: Settings, memo, timings: dict) -> tuple[tuple, tuple[pd.DataFrame, int, int]]:
    key = basket_key(settings)
    return key, _memo(memo, ("sessions", key), lambda: _sessions(views, settings), timings, "sessions")


def _sessions(views: pd.DataFrame, settings: Settings) -> tuple[pd.DataFrame, int, int]:
    s = settings.sessions
    every = sessionize(views, gap=s.gap, basket=s.basket, max_items=None)
    long = long_baskets(every, s.max_items)
    if not long.any():
        return every, 0, 0
    kept = every[~long].reset_index(drop=True)
    kept["session"] = range(len(kept))
    return kept, int(long.sum()), int(every.loc[long, "n_views"].sum())


def cut_baskets(views: pd.DataFrame, low: pd.Timestamp, high: pd.Timestamp, *, gap: str, max_items: int | None,
         known: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int, int]:
    """The session baskets of ``views`` (all the views from ``low`` to before ``high``), cut with
    ``gap``, those of more than ``max_items`` articles dropped: ``(kept, dropped, their views)``,
    as :func:`recsys.train` keeps them.

    ``known`` are baskets cut with the same gap from a wider span of views (the nightly job's, some
    perhaps dropped): a visitor all of whose views here make up some of those baskets, lying
    within the span, has those baskets here too (the views around them are more than ``gap``
    away); only the other visitors' views (sessions across ``low`` or ``high``, dropped baskets)
    are cut again. The baskets are the same as without ``known``, perhaps in another order.
    """
    valid = views.dropna(subset=["ts", "visitor", "url"])
    if known is None or known.empty or low != low.floor("ms") or high != high.floor("ms"):  # baskets know ms
        every = sessionize(valid, gap=gap, max_items=None)
    else:
        visitors = known["visitor"].astype("category")
        names = visitors.cat.categories
        here = valid["visitor"].astype("category")
        code = names.get_indexer(here.cat.categories)[here.cat.codes.to_numpy()]  # -1: in no known basket
        inside = ((known["start"] >= low) & (known["end"] < high)).to_numpy()
        owner = visitors.cat.codes.to_numpy()[inside]
        covered = np.bincount(owner, weights=known["n_views"].to_numpy()[inside], minlength=len(names))
        again = np.bincount(code[code >= 0], minlength=len(names)) != covered
        redone = sessionize(valid[(code < 0) | again[code]], gap=gap, max_items=None)
        dtype = pd.CategoricalDtype(names.append(redone["visitor"].cat.categories.difference(names)))
        kept = known[inside][~again[owner]]
        every = pd.concat([kept.assign(visitor=kept["visitor"].astype(dtype)),
                           redone.assign(visitor=redone["visitor"].astype(dtype))], ignore_index=True)
        every = every.sort_values("start", kind="stable", ignore_index=True)
    long = long_baskets(every, max_items)
    kept = every[~long].reset_index(drop=True)
    kept["session"] = range(len(kept))
    return kept, int(long.sum()), int(every.loc[long, "n_views"].sum())
