import math
from pathlib import Path

import pandas as pd
import pytest

import recsys.evaluation as ev
from recsys import evaluate, read_page_views, tune

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample_views():
    return read_page_views(ROOT / "data" / "sample")


def test_metrics_by_hand():
    lists = [["/a", "/b", "/c"], ["/x", "/y", "/z"], [], ["/b"]]
    targets = ["/b", "/z", "/q", "/new"]  # /new never seen in training: a miss
    rests = [frozenset({"/b", "/c", "/d"}), frozenset({"/z"}), frozenset({"/q"}), frozenset({"/new", "/b"})]
    m = ev.score_lists(lists, targets, rests, k=3, catalog=["/a", "/b", "/c", "/d", "/x", "/y", "/z", "/q"],
                       pop={"/a": 10, "/b": 5, "/c": 5, "/x": 1})
    assert m["hr"] == 2 / 4  # the empty list and the unseen target count, as misses
    assert m["mrr"] == pytest.approx((1 / 2 + 1 / 3) / 4)
    assert m["precision"] == pytest.approx((2 / 3 + 1 / 3 + 0 + 1 / 3) / 4)
    assert m["recall"] == pytest.approx((2 / 3 + 1 + 0 + 1 / 2) / 4)
    d = [1 / math.log2(r + 2) for r in range(3)]
    ndcg = [(d[1] + d[2]) / sum(d), d[2] / d[0], 0, d[0] / (d[0] + d[1])]
    assert m["ndcg"] == pytest.approx(sum(ndcg) / 4)
    assert m["coverage"] == 6 / 8  # /a /b /c /x /y /z of the catalog
    assert m["popularity"] == pytest.approx((1 + .5 + .5 + .1 + 0 + 0 + .5) / 7)


def test_only_the_first_k_count():
    m = ev.score_lists([["/a", "/b", "/c"]], ["/c"], [frozenset({"/c"})], k=2, catalog=["/a", "/b", "/c"], pop={})
    assert m["hr"] == 0 and m["coverage"] == 2 / 3


def test_every_position_of_sessions_of_two_or_more_articles_is_a_case():
    s = pd.DataFrame({"items": [("/a", "/b", "/c"), ("/x",), ("/y", "/z")]})
    contexts, targets, rests = ev._test_cases(s)
    assert contexts == [("/a",), ("/a", "/b"), ("/y",)]
    assert targets == ["/b", "/c", "/z"]
    assert rests == [frozenset({"/b", "/c"}), frozenset({"/c"}), frozenset({"/z"})]


def test_baselines_by_hand():
    train = pd.DataFrame({"items": [("/a", "/b", "/c"), ("/a", "/c"), ("/c", "/a"), ("/b", "/d")]})
    co = ev._cooccurrence(train)
    assert dict(co["/a"]) == {"/b": 1, "/c": 3}
    seq = ev._sequential(train)
    assert dict(seq["/a"]) == {"/b": 1, "/c": 0.5 + 1}  # (/c, /a) is the other way round
    assert dict(seq["/c"]) == {"/a": 1}
    lists = ev._pair_lists(co, [("/b", "/a"), ("/d",), ("/q",)], k=5)
    assert lists == [["/c"], ["/b"], []]  # what was read is never listed; unknown: empty
    pop = pd.Series({"/c": 9, "/a": 5, "/b": 1})
    assert ev._popular_lists(pop, [("/c",)], k=2) == [["/a", "/b"]]


def test_split_windows_and_errors(sample_views):
    spans = ev.split(sample_views, test_days=7, windows=2)
    assert len(spans) == 2 and spans[0][1] == spans[1][0]
    assert spans[1][1] > sample_views.ts.max()
    with pytest.raises(ValueError, match="too few for 3 test window"):
        ev.split(sample_views, test_days=10, windows=3)
    with pytest.raises(ValueError, match="cutoff must fall within the views"):
        ev.split(sample_views, cutoff="2030-01-01")


def test_rules_beat_popularity_on_the_sample(sample_views):
    r = evaluate(sample_views, k=10, progress=False).set_index("method")
    assert list(r.index) == ["popular", "cooccurrence", "sequential", "rules"]
    assert r.loc["rules", "hr"] > 1.15 * r.loc["popular", "hr"]
    assert r.loc["rules", "coverage"] > 3 * r.loc["popular", "coverage"]
    assert (r["cases"] == r.loc["rules", "cases"]).all() and r.loc["rules", "cases"] > 300
    assert set(ev.METRICS) <= set(r.columns)
    w2 = evaluate(sample_views, windows=2, methods=["popular"], progress=False)
    assert w2.loc[0, "windows"] == 2 and w2.loc[0, "cases"] > r.loc["popular", "cases"]
    assert list(w2.columns) == list(r.reset_index().columns)  # one shape, whatever the methods
    assert r.loc["popular", list(ev.TUNABLE)].isna().all() and r.loc["rules", "min_support"] == 3


def test_the_evaluation_trains_with_the_settings_it_is_given(sample_views):
    from recsys import Settings

    base = evaluate(sample_views, k=5, methods=["rules"], progress=False)
    strict = evaluate(sample_views, k=5, methods=["rules"], settings=Settings.from_mapping(min_count=8),
                      progress=False)
    assert strict.loc[0, "min_count"] == 8 and strict.loc[0, "coverage"] < base.loc[0, "coverage"]
    again = evaluate(sample_views, k=5, methods=["rules"], min_count=8, progress=False)
    pd.testing.assert_frame_equal(again, strict)


def test_tune_shares_sessions_itemsets_and_rules(sample_views, monkeypatch):
    import recsys.model as model

    calls = {"sessionize": 0, "eclat": 0}

    def counting(name, fn):
        def wrapped(*a, **kw):
            calls[name] += 1
            return fn(*a, **kw)
        return wrapped

    for module, name in ((ev, "sessionize"), (model, "sessionize"), (model, "eclat")):
        monkeypatch.setattr(module, name, counting(name, getattr(module, name)))
    grid = {"min_support": [2, 4], "min_confidence": [0.02, 0.1], "gap": ["15min", "30min"],
            "basket": ["session", "visitor"], "rank_by": ["confidence", "lift"]}
    t = tune(sample_views, grid=grid, progress=False)
    assert (t.method == "rules").sum() == 32 and set(t.method) == {"rules", "popular", "cooccurrence", "sequential"}
    # the test sessions, then (recsys.train's memo) training sessions once per gap for session
    # baskets and once for visitor baskets (the gap plays no part there), the baselines sharing the
    # default (30min, session); itemsets once per such basket kind and support
    assert calls["sessionize"] == 1 + 3
    assert calls["eclat"] == 6
    visitor = t[(t.method == "rules") & (t.basket == "visitor")]
    metrics = ["hr", "mrr", "precision", "recall", "ndcg", "coverage", "popularity"]
    by_gap = [g.drop(columns="gap").reset_index(drop=True) for _, g in visitor.groupby("gap")]
    pd.testing.assert_frame_equal(by_gap[0], by_gap[1])
    assert by_gap[0][metrics].notna().all().all()
    assert t[t.method == "rules"][["min_support", "gap", "basket", "rank_by", "min_confidence"]].drop_duplicates().shape[0] == 32


def test_bad_parameters(sample_views):
    with pytest.raises(ValueError, match="unknown settings min_sup"):
        evaluate(sample_views, min_sup=2, progress=False)
    with pytest.raises(ValueError, match="unknown methods magic"):
        evaluate(sample_views, methods=["rules", "magic"], progress=False)
    with pytest.raises(ValueError, match="grid must be a non-empty mapping"):
        tune(sample_views, grid={})
