import ipaddress
from itertools import pairwise

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import sessionize
from recsys.sessions import long_baskets, network_of


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


def reference_sessions(v, gap, basket, max_items):
    """Sessions the plain way: per visitor (in order of first appearance), views by time then URL,
    cut on the gap; ordered by start, then visitor as text."""
    gap = pd.Timedelta(gap)
    per_visitor = {}
    for row in v.dropna(subset=["ts", "visitor", "url"]).itertuples(index=False):
        per_visitor.setdefault(row.visitor, []).append(row)
    found = []
    for visitor, rows in per_visitor.items():
        rows = sorted(rows, key=lambda r: (r.ts, r.url))
        current = [rows[0]]
        for prev, row in pairwise(rows):
            if basket == "session" and row.ts - prev.ts > gap:
                found.append((visitor, current))
                current = []
            current.append(row)
        found.append((visitor, current))

    def network(ip):
        if pd.isna(ip):
            return None
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return ip
        return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 48}", strict=False))

    every = [{"visitor": visitor, "start": rows[0].ts, "end": rows[-1].ts,
              "items": tuple(dict.fromkeys(r.url for r in rows)), "n_views": len(rows),
              "views": tuple(r.url for r in rows), "network": network(getattr(rows[0], "ip", None))}
             for visitor, rows in found]
    kept = [s for s in every if max_items is None or len(s["items"]) <= max_items]
    kept.sort(key=lambda s: (s["start"], str(s["visitor"])))
    return every, kept


ADDRESSES = ["203.0.113.7", "203.0.113.9", "198.51.100.1", "2001:db8:0:1::5", "2001:DB8::1", "::1", "unix:", None]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 600), st.sampled_from(["a", "b", "c", "d10", "d9"]),
                          st.sampled_from(["/1", "/2", "/3", "/10", "/4"]), st.sampled_from(ADDRESSES)),
                max_size=60),
       st.integers(1, 90), st.sampled_from(["session", "visitor"]), st.sampled_from([None, 1, 2, 3]),
       st.booleans(), st.booleans())
def test_sessions_are_those_of_a_plain_reference(rows, gap_min, basket, max_items, categorical, numbers):
    """Every column, its dtype and the order of the rows are those of a plain per-visitor loop."""
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    # visitors as numbers: 10 sorts before 9 as text (the order of sessions that start together)
    who = {"a": 1, "b": 2, "c": 3, "d10": 10, "d9": 9} if numbers else {}
    v = pd.DataFrame({"ts": pd.to_datetime([t0 + pd.Timedelta(minutes=m) for m, *_ in rows], utc=True).as_unit("ms"),
                      "visitor": [who.get(r[1], r[1]) for r in rows], "url": [r[2] for r in rows],
                      "ip": [r[3] for r in rows]})
    if categorical:  # as recsys.page_views gives them
        v = v.astype({"visitor": "category", "url": "category", "ip": "category"})
    s = sessionize(v, gap=f"{gap_min}min", basket=basket, max_items=max_items)
    every, kept = reference_sessions(v, f"{gap_min}min", basket, max_items)
    assert s["session"].tolist() == list(range(len(kept)))
    for column in ["visitor", "start", "end", "items", "n_views", "views"]:
        assert s[column].tolist() == [k[column] for k in kept], column
    assert [None if pd.isna(n) else n for n in s["network"].tolist()] == [k["network"] for k in kept]
    assert list(s["visitor"].cat.categories) == sorted({e["visitor"] for e in every})
    assert list(s["network"].cat.categories) == sorted({e["network"] for e in every} - {None})
    assert s["n_views"].dtype == "int64" and s["items"].dtype == s["views"].dtype == object
    assert str(s["start"].dt.tz) == str(s["end"].dt.tz) == "UTC"


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**128 - 1), st.integers(0, 128), st.sampled_from(["compressed", "exploded", "upper", "padded"]))
def test_network_of_ipv6_is_what_ipaddress_writes(value, zeros, form):
    """The vectorized /48 equals ipaddress's, however the address is written."""
    addr = ipaddress.IPv6Address(value >> zeros << zeros)  # trailing zero groups: "::" forms
    text = {"compressed": addr.compressed, "exploded": addr.exploded, "upper": addr.compressed.upper(),
            "padded": ":".join(g.zfill(3) if g else g for g in addr.compressed.split(":"))}[form]
    expected = str(ipaddress.ip_network(f"{addr}/48", strict=False))
    assert network_of(pd.Series([text])).tolist() == [expected]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text("0123456789abcdefABCDEF:.%x", max_size=42), max_size=20))
def test_network_of_text_that_is_no_address_stays(texts):
    """Text is a network only when ipaddress reads it as an address; otherwise it stays as it is."""
    def expected(t):
        try:
            addr = ipaddress.ip_address(t)
        except ValueError:
            return t
        return str(ipaddress.ip_network(f"{addr}/{24 if addr.version == 4 else 48}", strict=False))

    assert network_of(pd.Series(texts, dtype=object)).tolist() == [expected(t) for t in texts]


def test_views_at_the_same_time_are_ordered_by_url_whatever_the_order_of_the_categories():
    # the same views read from 53 rotated files or from one file give categoricals whose categories
    # are in another order (the order each reader met them): the sessions must not depend on it
    t = pd.Timestamp("2024-03-01 10:00:00", tz="UTC")
    views = pd.DataFrame({"ts": [t, t + pd.Timedelta(seconds=5), t + pd.Timedelta(seconds=5)],
                          "visitor": ["v"] * 3, "url": ["/c", "/z", "/a"]})
    orders = (["/c", "/z", "/a"], ["/a", "/c", "/z"], ["/z", "/a", "/c"])
    got = [sessionize(views.assign(url=pd.Categorical(views["url"], categories=c)))["items"].tolist()
           for c in orders]
    assert got == [[("/c", "/a", "/z")]] * 3
    assert sessionize(views)["items"].tolist() == got[0]
