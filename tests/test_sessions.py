import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import sessionize
from recsys.sessions import long_baskets


def views(rows):
    return pd.DataFrame({
        "ts": pd.to_datetime([r[0] for r in rows], utc=True, format="ISO8601"),
        "visitor": [r[1] for r in rows],
        "url": [r[2] for r in rows],
    })


V = views([
    ("2024-03-01 10:00", "a", "/archives/1"),
    ("2024-03-01 10:10", "a", "/archives/2"),
    ("2024-03-01 10:40", "a", "/archives/3"),  # exactly 30 minutes: same session
    ("2024-03-01 11:10:01", "a", "/archives/1"),  # 30 minutes and a second: a new one
    ("2024-03-01 11:12", "a", "/archives/1"),  # a repeat counts once in items
    ("2024-03-01 10:05", "b", "/archives/2"),
    ("2024-03-01 10:05", "b", "/archives/1"),  # the same second: ordered by URL
    ("2024-03-02 09:00", "b", "/archives/4"),
])


def test_sessions_by_hand():
    s = sessionize(V)
    assert list(s.columns) == ["session", "visitor", "start", "end", "items", "n_views", "views", "network"]
    rows = [(r.visitor, r.items, r.n_views, r.views) for r in s.itertuples()]
    assert rows == [
        ("a", ("/archives/1", "/archives/2", "/archives/3"), 3, ("/archives/1", "/archives/2", "/archives/3")),
        ("b", ("/archives/1", "/archives/2"), 2, ("/archives/1", "/archives/2")),
        ("a", ("/archives/1",), 2, ("/archives/1", "/archives/1")),
        ("b", ("/archives/4",), 1, ("/archives/4",)),
    ]
    assert s.session.tolist() == [0, 1, 2, 3]
    assert s.start[0] == pd.Timestamp("2024-03-01 10:00", tz="UTC") and s.end[0] == pd.Timestamp("2024-03-01 10:40", tz="UTC")
    assert s["items"].tolist()[0] == ("/archives/1", "/archives/2", "/archives/3")


def test_gap_and_visitor_baskets():
    assert len(sessionize(V, gap="2h")) == 3
    per_visitor = sessionize(V, basket="visitor")
    assert [r.items for r in per_visitor.itertuples()] == [
        ("/archives/1", "/archives/2", "/archives/3"), ("/archives/1", "/archives/2", "/archives/4")]
    assert per_visitor.n_views.tolist() == [5, 3]


def test_long_baskets_are_dropped_and_counted():
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    crawler = [(t0 + pd.Timedelta(minutes=i), "crawler", f"/archives/{i}") for i in range(60)]
    both = pd.concat([V, views(crawler)], ignore_index=True)
    s = sessionize(both, max_items=50)
    assert "crawler" not in set(s.visitor) and s.session.tolist() == list(range(len(s)))
    every = sessionize(both, max_items=None)
    long = long_baskets(every, 50)
    assert long.sum() == 1 and every.n_views[long].sum() == 60 and len(every) == len(s) + 1
    assert not long_baskets(every, None).any()
    assert len(sessionize(views(crawler), max_items=None)) == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"gap": "soon"}, "gap must be a duration such as '30min'"),
    ({"gap": "-5min"}, "gap must be a positive duration"),
    ({"basket": "day"}, "basket must be 'session' or 'visitor'"),
    ({"max_items": 0}, "max_items must be None or an int >= 1"),
])
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sessionize(V, **kwargs)
    with pytest.raises(ValueError, match="missing: url"):
        sessionize(V.drop(columns="url"))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5000), st.sampled_from("abc"), st.sampled_from(["/1", "/2", "/3", "/4"])),
                max_size=80), st.integers(1, 120))
def test_every_view_lands_in_one_session_and_gaps_are_respected(rows, gap_min):
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    v = views([(t0 + pd.Timedelta(minutes=m), who, url) for m, who, url in rows])
    s = sessionize(v, gap=f"{gap_min}min", max_items=None)
    assert s.n_views.sum() == len(v)
    assert sorted(u for seq in s.views for u in seq) == sorted(v.url)
    gap = pd.Timedelta(minutes=gap_min)
    for who, part in s.groupby("visitor", observed=True):
        part = part.sort_values("start")
        assert (part.start.to_numpy()[1:] - part.end.to_numpy()[:-1] > gap).all()
    for r in s.itertuples():
        mine = v[(v.visitor == r.visitor) & (v.ts >= r.start) & (v.ts <= r.end)].sort_values("ts")
        assert (mine.ts.diff().dropna() <= gap).all()
        assert set(r.items) == set(r.views) and len(r.items) == len(set(r.items))
