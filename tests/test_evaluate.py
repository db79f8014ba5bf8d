import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import recsys
import recsys.evaluation as ev
from recsys import evaluate, read_page_views, tune
from recsys.model import cut_baskets

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
    contexts, targets, rests = ev.next_cases(s)
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

    # min_count is a threshold of the mined rules' lists (ranking="rules")
    base = evaluate(sample_views, k=5, methods=["rules"], ranking="rules", progress=False)
    strict = evaluate(sample_views, k=5, methods=["rules"], settings=Settings.from_mapping(min_count=8, ranking="rules"),
                      progress=False)
    assert strict.loc[0, "min_count"] == 8 and strict.loc[0, "coverage"] < base.loc[0, "coverage"]
    again = evaluate(sample_views, k=5, methods=["rules"], min_count=8, ranking="rules", progress=False)
    pd.testing.assert_frame_equal(again, strict)


def test_tune_shares_sessions_itemsets_and_rules(sample_views, monkeypatch):
    import recsys.model as model

    calls = {"sessionize": 0, "eclat": 0}

    def counting(name, fn):
        def wrapped(*a, **kw):
            calls[name] += 1
            return fn(*a, **kw)
        return wrapped

    for module, name in ((model, "sessionize"), (model, "eclat")):
        monkeypatch.setattr(module, name, counting(name, getattr(module, name)))
    grid = {"min_support": [2, 4], "min_confidence": [0.02, 0.1], "gap": ["15min", "30min"],
            "basket": ["session", "visitor"], "rank_by": ["confidence", "lift"], "ranking": ["rules"]}
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


def test_a_grid_over_the_sequence_ranking_keeps_one_row_per_point(sample_views):
    """Every setting that shapes the lists is a column of the table: points differing only in the
    sequence ranking's settings stay apart (they were merged into one row, their cases summed)."""
    import recsys.settings as settings_module

    shaping = {name for owner, name, _ in settings_module.fields() if owner == "recommending"} - {"k"}
    assert shaping <= set(ev.TUNABLE)
    grid = {"backward": [0.1, 0.5], "half_life": [None, 7.0], "ranking": ["sequences", "rules"]}
    t = tune(sample_views, grid=grid, settings=recsys.Settings.from_mapping(tune=False), baselines=["popular"],
             max_cases=400, progress=False)
    rules = t[t.method == "rules"]
    assert len(rules) == 8 and len(rules[["backward", "half_life", "ranking"]].astype(str).drop_duplicates()) == 8
    assert (t["cases"] == t.loc[t.method == "popular", "cases"].iloc[0]).all() and (rules["windows"] == 1).all()
    assert not rules["tune"].any() and rules["half_life"].isna().sum() == 4
    sequences = rules[rules.ranking == "sequences"].set_index(["backward", "half_life"], drop=False)
    assert sequences["hr"].nunique() > 1  # the settings change the lists
    # under ranking = "rules" they play no part: the same lists
    assert rules.loc[rules.ranking == "rules", "hr"].nunique() == 1


def test_bad_parameters(sample_views):
    with pytest.raises(ValueError, match="unknown settings min_sup"):
        evaluate(sample_views, min_sup=2, progress=False)
    with pytest.raises(ValueError, match="unknown methods magic"):
        evaluate(sample_views, methods=["rules", "magic"], progress=False)
    with pytest.raises(ValueError, match="grid must be a non-empty mapping"):
        tune(sample_views, grid={})


# the sample of test cases and the intervals -----------------------------------------------------------------
@pytest.fixture(scope="module")
def full_window(sample_views):
    """The default split of the sample with every test case, and the rules' per-case scores."""
    from recsys import Settings

    (cutoff, end), = ev.split(sample_views, test_days=7)
    window = ev._Window(sample_views, cutoff, end)
    metrics, scores = window.score(window.rules_lists(Settings()), 5)
    return window, metrics, scores


def test_the_sample_is_seeded_bounded_and_made_of_whole_readers(sample_views):
    one = evaluate(sample_views, methods=["rules", "popular"], max_cases=200, seed=1, progress=False)
    again = evaluate(sample_views, methods=["rules", "popular"], max_cases=200, seed=1, progress=False)
    pd.testing.assert_frame_equal(one, again)
    other = evaluate(sample_views, methods=["rules", "popular"], max_cases=200, seed=2, progress=False)
    assert not one[list(ev.MEANS)].equals(other[list(ev.MEANS)])
    assert (one["test_cases"] == 638).all() and (150 < one["cases"]).all() and (one["cases"] <= 200).all()
    (cutoff, _), = ev.split(sample_views, test_days=7)
    test = recsys.sessionize(sample_views[(sample_views.ts >= cutoff)][["ts", "visitor", "url"]], max_items=None)
    for max_cases in (1, 37, 200, 637):
        sample = ev._sample(test, max_cases, seed=3)
        readers = set(sample["visitor"])
        whole = test[test["visitor"].isin(readers)].reset_index(drop=True)
        pd.testing.assert_frame_equal(sample, whole)  # every session of a reader drawn, in order
        cases = (sample["items"].map(len) - 1).clip(lower=0).sum()
        assert cases <= max_cases and (cases > max_cases / 2 or max_cases < 100)
    assert ev._sample(test, 638, seed=3) is test


def test_max_cases_above_the_test_cases_is_the_full_evaluation(sample_views):
    full = evaluate(sample_views, progress=False)
    pd.testing.assert_frame_equal(evaluate(sample_views, max_cases=638, seed=5, progress=False), full)
    assert (full["cases"] == full["test_cases"]).all()
    assert ((full["hr_low"] < full["hr"]) & (full["hr"] < full["hr_high"])).all()
    with pytest.raises(ValueError, match="max_cases must be None"):
        evaluate(sample_views, max_cases=0, progress=False)


def test_the_interval_of_a_sample_covers_the_value_on_every_case(sample_views, full_window):
    window, _, scores = full_window
    test = recsys.sessionize(sample_views[sample_views.ts >= window.train.ts.max()][["ts", "visitor", "url"]],
                         max_items=None)
    assert len(window.targets) == 638
    covered, widths = 0, []
    for seed in range(40):
        readers = set(ev._sample(test, 200, seed=seed)["visitor"])
        drawn = np.isin(window.readers, list(readers))
        low, high = ev.interval(scores[drawn], window.readers[drawn])
        covered += bool(np.all((low <= scores.mean(axis=0)) & (scores.mean(axis=0) <= high)))
        widths.append(high[0] - low[0])
    # a 95% interval for each of the five means; readers drawn without replacement make it conservative
    assert covered >= 34, covered
    assert 0.05 < np.mean(widths) < 0.25
    # and the shortcut above is what evaluate scores for a seed
    r = evaluate(sample_views, methods=["rules"], max_cases=200, seed=7, progress=False).iloc[0]
    drawn = np.isin(window.readers, list(set(ev._sample(test, 200, seed=7)["visitor"])))
    assert r["cases"] == drawn.sum() and r["hr"] == pytest.approx(scores[drawn, 0].mean())


def test_the_interval_agrees_with_a_bootstrap_over_readers(full_window):
    import random

    window, _, scores = full_window
    low, high = ev.interval(scores, window.readers)
    by_reader: dict = {}
    for reader, row in zip(window.readers, scores.tolist()):
        by_reader.setdefault(reader, []).append(row)
    groups = list(by_reader.values())
    rng = random.Random(0)
    means = []
    for _ in range(2000):
        drawn = [rng.choice(groups) for _ in groups]
        n = sum(len(g) for g in drawn)
        means.append([sum(row[j] for g in drawn for row in g) / n for j in range(len(ev.MEANS))])
    boot = np.array(means)
    b_low, b_high = np.percentile(boot, 2.5, axis=0), np.percentile(boot, 97.5, axis=0)
    assert np.allclose(high - low, b_high - b_low, rtol=0.15), (high - low, b_high - b_low)
    assert np.allclose((low + high) / 2, (b_low + b_high) / 2, atol=0.01)


def test_the_interval_by_hand():
    # readers a (1, 1), b (0, 0): the mean 0.5, y - R n = (1, -1), variance 2 / 1 * 2 / 16
    low, high = ev.interval(np.array([1.0, 1.0, 0.0, 0.0]), np.array(["a", "a", "b", "b"]))
    half = 1.959964 * math.sqrt(2 * 2 / 16)
    assert low[0] == pytest.approx(max(0, 0.5 - half)) and high[0] == pytest.approx(min(1, 0.5 + half))
    low, high = ev.interval(np.array([[0.2, 1.0], [0.4, 1.0], [0.6, 0.0]]), np.array(["a", "b", "c"]))
    assert low[1] == pytest.approx(max(0, 2 / 3 - 1.959964 * math.sqrt(1.5 * (2 * (1 / 3) ** 2 + (2 / 3) ** 2) / 9)))
    assert low[0] < 0.4 < high[0]
    assert np.isnan(ev.interval(np.array([1.0, 0.0]), np.array(["a", "a"]))[0]).all()
    assert np.isnan(ev.interval(np.zeros((0, 5)), np.array([]))[1]).all()


def test_lists_once_per_distinct_context_and_popularity_once(sample_views, monkeypatch):
    from recsys import model

    seen, calls = [], []
    lists_next, popularity = model.Model.lists_next, model.popularity

    def recording(self, settings, contexts, **kw):
        seen.append(list(contexts))
        return lists_next(self, settings, contexts, **kw)

    def counting(*a, **kw):
        calls.append(kw.get("days"))
        return popularity(*a, **kw)

    monkeypatch.setattr(model.Model, "lists_next", recording)
    monkeypatch.setattr(ev, "popularity", counting)
    monkeypatch.setattr(model, "popularity", counting)
    (cutoff, end), = ev.split(sample_views, test_days=7)
    contexts = ev._Window(sample_views, cutoff, end).contexts
    calls.clear()
    r = evaluate(sample_views, methods=["rules", "popular"], progress=False)
    assert len(seen) == 1 and len(seen[0]) == len(set(seen[0])) == len(set(contexts)) < len(contexts)
    assert calls == [7]  # the popular baseline is the rules' fill: computed once
    assert r.loc[r.method == "popular", "hr"].iloc[0] > 0
    calls.clear()
    evaluate(sample_views, methods=["rules", "popular"], popular_days=3, progress=False)
    assert calls == [7, 3]


def test_the_nightly_report_says_how_many_cases_and_the_interval(tmp_path):
    from recsys import Settings, run

    result = run(ROOT / "data" / "sample", Settings.from_mapping(max_cases=300), cache=tmp_path / "cache")
    result.write(tmp_path / "out")
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    rows = {r["method"]: r for r in report["evaluation"]}
    assert set(rows) == {"rules", "popular"}
    for r in rows.values():
        assert r["test_cases"] == 638 and 250 < r["cases"] <= 300
        for m in ev.MEANS:
            assert 0 <= r[f"{m}_low"] < r[m] < r[f"{m}_high"] <= 1
    rules = rows["rules"]
    half = max(rules["hr"] - rules["hr_low"], rules["hr_high"] - rules["hr"])
    assert f"HR@5 {rules['hr']:.3f} ± {half:.3f}" in result.summary()
    assert f"({rules['cases']:,} of 638 test cases)" in result.summary()
    everything = run(ROOT / "data" / "sample", Settings.from_mapping(max_cases=0), cache=tmp_path / "cache")
    assert (everything.evaluation["cases"] == 638).all()
    assert Settings().evaluation.max_cases == 5000


# the job's sessions lent to the evaluation ----------------------------------------------------------------
def _baskets(frame: pd.DataFrame) -> pd.DataFrame:
    """Baskets as comparable rows: any order, plain dtypes, no numbering."""
    out = frame.drop(columns=["session"], errors="ignore").astype(object)
    return out.sort_values(["visitor", "start"], ignore_index=True)


def _views(rows):
    ts, visitor, url = zip(*rows)
    return pd.DataFrame({"ts": pd.to_datetime(ts, utc=True).as_unit("ms"), "visitor": pd.Categorical(visitor),
                         "url": pd.Categorical(url), "ip": pd.Categorical(["198.51.100.7"] * len(rows))})


def test_the_baskets_of_a_split_from_the_jobs_sessions_by_hand():
    from recsys import Settings, train

    day = "2024-03-01 "
    rows = [(day + "09:00", "a", "/1"), (day + "09:10", "a", "/2"),           # before the cut
            (day + "11:50", "b", "/1"), (day + "12:10", "b", "/3"),           # across it
            *[(day + f"08:{m:02d}", "c", f"/c{m}") for m in range(6)],         # long, before: dropped
            *[(day + f"11:{55 + m}", "d", f"/d{m}") for m in range(3)],        # long across, short before
            *[(day + f"12:{m:02d}", "d", f"/e{m}") for m in range(3)],
            (day + "13:00", "e", "/1"), (day + "13:05", "e", "/2"),           # after it
            (day + "07:00", "f", "/1"), (day + "07:05", "f", "/2"), (day + "10:00", "f", "/3"),
            (day + "11:59", "f", "/4"), (day + "12:01", "f", "/1")]
    views = _views(rows)
    settings = Settings.from_mapping(max_items=4)
    model = train(views, settings)
    assert model.dropped_long == 2  # c's, and d's six articles
    cut, end = pd.Timestamp(day + "12:00", tz="UTC"), views.ts.max() + pd.Timedelta("1ms")
    before = views[views.ts < cut]
    lent = cut_baskets(before, views.ts.min(), cut, gap="30min", max_items=4, known=model.sessions)
    cut_again = cut_baskets(before, views.ts.min(), cut, gap="30min", max_items=4)
    pd.testing.assert_frame_equal(_baskets(lent[0]), _baskets(cut_again[0]))
    assert lent[1:] == cut_again[1:] == (1, 6)  # c's; d's three articles before the cut are kept
    assert sorted(map(tuple, lent[0]["items"])) == sorted(
        [("/1", "/2"), ("/1",), ("/d0", "/d1", "/d2"), ("/1", "/2"), ("/3",), ("/4",)])
    after = views[views.ts >= cut]
    lent = cut_baskets(after, cut, end, gap="30min", max_items=None, known=model.sessions)[0]
    pd.testing.assert_frame_equal(_baskets(lent), _baskets(cut_baskets(after, cut, end, gap="30min", max_items=None)[0]))



@hsettings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.sampled_from("abcd"), st.sampled_from(["/1", "/2", "/3", "/4"])),
                min_size=1, max_size=40),
       st.integers(0, 300), st.integers(1, 3), st.sampled_from(["20min", "45min"]))
def test_the_baskets_from_the_jobs_sessions_are_those_cut_again(rows, cut_minute, max_items, gap):
    from recsys import Settings, train

    start = pd.Timestamp("2024-03-01", tz="UTC")
    views = _views([(start + pd.Timedelta(minutes=m), v, u) for m, v, u in rows])
    model = train(views, Settings.from_mapping(max_items=max_items, gap=gap, min_networks=0))
    cut = start + pd.Timedelta(minutes=cut_minute)
    for low, high in ((views.ts.min(), cut), (cut, views.ts.max() + pd.Timedelta("1ms"))):
        part = views[(views.ts >= low) & (views.ts < high)]
        lent = cut_baskets(part, low, high, gap=gap, max_items=max_items, known=model.sessions)
        again = cut_baskets(part, low, high, gap=gap, max_items=max_items)
        pd.testing.assert_frame_equal(_baskets(lent[0]), _baskets(again[0]))
        assert lent[1:] == again[1:]
        assert lent[0]["session"].tolist() == list(range(len(lent[0])))


def test_the_evaluation_with_the_jobs_model_is_the_same_and_cuts_less(sample_views, monkeypatch):
    from recsys import Settings, train
    from recsys import model as model_module

    settings = Settings()
    model = train(sample_views, settings)
    cut = []
    sessionize = model_module.sessionize

    def counting(views, **kw):
        cut.append(len(views))
        return sessionize(views, **kw)

    without = evaluate(sample_views, methods=["rules", "popular", "cooccurrence"], progress=False)
    monkeypatch.setattr(model_module, "sessionize", counting)
    lent = evaluate(sample_views, methods=["rules", "popular", "cooccurrence"], model=model, progress=False)
    pd.testing.assert_frame_equal(lent, without)
    assert sum(cut) < 0.1 * len(sample_views), cut  # only visitors across the cut-off are cut again
    with pytest.raises(ValueError, match="model holds 6,150 page views where views has 6,149"):
        evaluate(sample_views.iloc[1:], model=model, progress=False)


def test_the_nightly_job_tunes_once_and_its_evaluation_is_unchanged(tmp_path, monkeypatch):
    """One tuning a night, on the evaluation's training days: the evaluation takes the model's
    choice instead of tuning again (the same table as an evaluation tuning on its own), and the
    published lists are those of that choice fitted on every session."""
    from recsys import Settings, run, train
    from recsys import model as model_module

    tunings = []
    tune_sequences = model_module.tune_sequences

    def counting(sessions, **kw):
        tunings.append(len(sessions))
        return tune_sequences(sessions, **kw)

    monkeypatch.setattr(model_module, "tune_sequences", counting)
    settings = Settings.from_mapping(max_cases=400)
    result = run(ROOT / "data" / "sample", settings, cache=tmp_path / "cache")
    views = result.views
    (cutoff, _), = ev.split(views, test_days=settings.evaluation.test_days)
    assert len(tunings) == 1 and result.tuning.until == cutoff
    assert tunings[0] < len(result.sessions)  # the training days' baskets, not all
    assert result.tuning.record()["sessions_before"].startswith(f"{cutoff:%Y-%m-%dT%H:%M:%S}")
    assert "the evaluation's training days" in result.tuning.why
    alone = evaluate(views, settings=settings, k=settings.recommending.k, methods=("rules", "popular"),
                     max_cases=400, progress=False)  # no model: it tunes on the training days itself
    assert len(tunings) == 2
    pd.testing.assert_frame_equal(result.evaluation, alone)
    chosen = {n: result.tuning.params[n] for n in ("half_life", "backward")}
    fixed = settings.replace(tune=False, **chosen)
    pd.testing.assert_frame_equal(result.lists, train(views, fixed).lists(fixed))
    # without the evaluation, the tuning sees every session
    off = run(ROOT / "data" / "sample", settings.replace(evaluate=False), cache=tmp_path / "cache")
    assert off.tuning.until is None and tunings[-1] == len(off.sessions)


def test_the_evaluation_of_lists_ranked_by_sequences_mines_no_itemsets(sample_views, monkeypatch):
    """The mined rules play no part in lists ranked by the sequential rules: the evaluation does not
    mine them, and its table is the one it gives when it does."""
    from recsys import model as model_module

    mined = []
    eclat, train = model_module.eclat, ev.train

    def counting(baskets, **kw):
        mined.append(len(baskets))
        return eclat(baskets, **kw)

    monkeypatch.setattr(model_module, "eclat", counting)
    skipped = evaluate(sample_views, methods=["rules", "popular"], progress=False)
    assert not any(mined)
    monkeypatch.setattr(ev, "train", lambda *a, **kw: train(*a, **{**kw, "mine_rules": True}))
    pd.testing.assert_frame_equal(evaluate(sample_views, methods=["rules", "popular"], progress=False), skipped)
    assert any(mined)


def test_an_evaluation_of_other_settings_tunes_its_own(sample_views, monkeypatch):
    """The model's tuning is taken only by an evaluation of the settings it was tuned under."""
    from recsys import Settings, train
    from recsys import model as model_module

    settings = Settings()
    (cutoff, _), = ev.split(sample_views, test_days=7)
    model = train(sample_views, settings, tune_before=cutoff)
    tunings = []
    tune_sequences = model_module.tune_sequences
    monkeypatch.setattr(model_module, "tune_sequences", lambda s, **kw: tunings.append(kw) or tune_sequences(s, **kw))
    evaluate(sample_views, settings=settings, methods=["rules"], model=model, progress=False)
    assert tunings == []
    other = settings.replace(tier_min=3.0)
    evaluate(sample_views, settings=other, methods=["rules"], model=model, progress=False)  # tuned under settings
    assert len(tunings) == 1 and tunings[0]["tier_min"] == 3.0
