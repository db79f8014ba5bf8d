import ipaddress
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import (LogFormat, association_rules, audience, eclat, popularity,
                    read_page_views, recommend, recommend_next, sessionize)

ROOT = Path(__file__).resolve().parents[1]


def rules_from(baskets, **kw):
    return association_rules(eclat(baskets, min_support=1), **kw)


def lists(recs):
    return {item: list(g.sort_values("rank").url) for item, g in recs.groupby("item", sort=False)}


def test_ranking_confidence_then_count_then_lift_then_url():
    # 24 sessions; /a in 17: four each with /b, /c, /d, /f and one with /e
    baskets = ([["/a", "/b"]] * 4 + [["/a", "/c"]] * 4 + [["/a", "/d"]] * 4 + [["/a", "/f"]] * 4
               + [["/a", "/e"]] + [["/b"]] * 2 + [["/c"]] * 4 + [["/x"]])
    r = rules_from(baskets)
    got = lists(recommend(r, k=5, min_count=1, min_networks=None))["/a"]
    conf = {next(iter(c)): v for a, c, v in zip(r.antecedents, r.consequents, r.confidence) if a == {"/a"}}
    assert [conf[u] for u in "/b /c /d /f /e".split()] == pytest.approx([4 / 17] * 4 + [1 / 17])
    # equal confidence and count: lift decides (/d = /f 1.41, /b 0.94, /c 0.71), then the URL (/d, /f)
    assert got == ["/d", "/f", "/b", "/c", "/e"]


def test_filters_and_fill_from_popular():
    baskets = [["/a", "/b"]] * 3 + [["/a", "/c"]] * 2 + [["/z"]] * 10
    r = rules_from(baskets)
    pop = pd.Series({"/z": 10, "/a": 5, "/b": 3, "/c": 2})
    recs = recommend(r, k=3, min_count=3, min_networks=None, popular=pop)
    a = recs[recs.item == "/a"]
    assert list(a.url) == ["/b", "/z", "/c"] and list(a.source) == ["rules", "popular", "popular"]
    assert a.iloc[1].isna()[["score", "confidence", "lift", "count"]].all()
    # an article never recommends itself, nor twice the same
    assert not (recs.item == recs.url).any() and not recs.duplicated(["item", "url"]).any()
    # lift > 1 only: /a -> /b has lift 1.3 (kept), /b -> /a has 1.3 too
    strict = recommend(r, k=3, min_count=1, min_networks=None, lift_above_one=True)
    assert (strict.lift > 1).all()
    with pytest.raises(ValueError, match="min_networks needs the rules' networks"):
        recommend(r)
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        recommend(r, k=0, min_networks=None)


def test_contexts_use_larger_antecedents_and_never_what_was_read():
    baskets = [["/a", "/b", "/c"]] * 4 + [["/a", "/d"]] * 6 + [["/b", "/d"]] * 6 + [["/a"], ["/b"]]
    r = rules_from(baskets, max_antecedent_len=2)
    recs = recommend_next(r, [("/a",), ("/a", "/b"), ("/b", "/a")], k=2, min_count=1, min_networks=None)
    assert list(recs.columns[:3]) == ["context", "rank", "url"]
    got = lists(recs.rename(columns={"context": "item"}))
    assert got[0] == ["/d", "/c"]  # /a -> /d (0.55), then /c and /b tie (0.36, count 4): /c's lift is higher
    assert got[1] == ["/c", "/d"]  # {/a, /b} -> /c has confidence 1: the larger antecedent wins
    assert got[2] == got[1]  # order of reading does not matter to rules


def test_audience_counts_distinct_visitors_and_networks():
    t = pd.Timestamp("2024-03-01", tz="UTC")
    rows = []
    for i in range(4):  # one reader, four sessions: one visitor, one network
        rows += [(t + pd.Timedelta(hours=i), "same", "/a", "10.0.0.1"), (t + pd.Timedelta(hours=i, minutes=1), "same", "/b", "10.0.0.1")]
    for i in range(3):  # three readers, three networks
        rows += [(t, f"v{i}", "/a", f"10.{i}.0.1"), (t + pd.Timedelta(minutes=1), f"v{i}", "/c", f"10.{i}.0.1")]
    views = pd.DataFrame(rows, columns=["ts", "visitor", "url", "ip"])
    s = sessionize(views)
    r = audience(rules_from(list(s["items"])), s)
    by = {(next(iter(a)), next(iter(c))): (n, v, w) for a, c, n, v, w in zip(r.antecedents, r.consequents, r["count"], r.visitors, r.networks)}
    assert by[("/a", "/b")] == (4, 1, 1)
    assert by[("/a", "/c")] == (3, 3, 3)
    recs = lists(recommend(r, k=2, min_count=3, min_networks=3))
    assert recs["/a"] == ["/c"]  # four sessions of one reader are not four readers


def test_popularity_of_the_recent_past_counts_networks():
    v = pd.DataFrame({"ts": pd.to_datetime(["2024-03-01", "2024-03-20", "2024-03-21", "2024-03-21", "2024-03-21"], utc=True),
                      "url": ["/old", "/b", "/a", "/b", "/a"],
                      "ip": ["10.0.0.1", "10.0.0.1", "10.0.0.2", "10.9.0.1", "10.0.0.3"]})
    assert popularity(v, days=7).to_dict() == {"/b": 2, "/a": 1}  # two /a views, one network
    assert list(popularity(v, days=None).index) == ["/b", "/a", "/old"]


def test_scripted_sessions_from_one_address_range_cannot_push_an_article(tmp_path):
    """300 fake cookie sessions from one /24 pair a spam URL with the most popular article."""
    sample = read_page_views(ROOT / "data" / "sample")
    target = popularity(sample, days=None).index[0]
    spam = "/archives/9999"
    fmt = LogFormat.preset("combined_ut")
    t0 = sample["ts"].max() - pd.Timedelta(days=3)
    lines = []
    rng = np.random.default_rng(0)
    for i in range(300):
        t = t0 + pd.Timedelta(minutes=int(rng.integers(0, 3 * 24 * 60)))
        cookie = str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i))
        for j, url in enumerate([target, spam]):
            ts = (t + pd.Timedelta(seconds=40 * j)).strftime("%d/%b/%Y:%H:%M:%S +0000")
            lines.append(fmt.render({
                "remote_addr": f"198.51.100.{int(rng.integers(1, 255))}", "time_local": ts,
                "request": f"GET {url} HTTP/1.1", "status": "200", "body_bytes_sent": "5000",
                "http_referer": None, "cookie_UT_ID": cookie,
                "http_user_agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36",
            }))
    (tmp_path / "fake.access.log").write_text("\n".join(lines) + "\n")
    views = read_page_views([ROOT / "data" / "sample", tmp_path / "fake.access.log"])
    assert (views.url == spam).sum() == 300  # the fake views are real views to the filters
    s = sessionize(views)
    r = audience(association_rules(eclat(s["items"], min_support=3, max_len=3)), s)
    spam_rule = r[(r.antecedents == frozenset([target])) & (r.consequents == frozenset([spam]))].iloc[0]
    assert spam_rule.visitors == 300 and spam_rule.networks == 1
    # without the network requirement the spam would be the first recommendation of the target
    naive = lists(recommend(r, k=5, min_networks=None, popular=popularity(views)))[target]
    assert spam in naive
    # with the defaults (3 readers on 3 networks) it is nowhere
    safe = recommend(r, k=5, popular=popularity(views))
    assert spam not in set(safe[safe.item == target].url)
    assert spam not in set(safe.url)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sets(st.sampled_from("abcdefghij"), max_size=8), min_size=1, max_size=30),
       st.sets(st.frozensets(st.sampled_from("abcdefghijk"), min_size=1, max_size=4), min_size=1, max_size=25))
def test_holders_are_the_baskets_holding_each_itemset(baskets, itemsets):
    """What holders finds by enumerating each basket's sub-itemsets is what a brute force finds."""
    from recsys.recommend import holders

    sets = sorted(itemsets, key=sorted)
    got = holders(sets, pd.Series(baskets, dtype=object), batch=7)  # a small batch: many slices
    assert list(zip(*map(list, got))) == [(b, i) for b, basket in enumerate(baskets)
                                          for i, w in enumerate(sets) if w <= basket]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sets(st.sampled_from(["/a", "/b", "/c", "/d", "/e"]), min_size=1, max_size=5),
                          st.sampled_from(["u", "v", "w", "x"]), st.sampled_from(["n1", "n2", "n3", None])),
                min_size=1, max_size=40),
       st.booleans())
def test_audience_is_the_distinct_readers_of_the_sessions_holding_each_rule(rows, categorical):
    """visitors and networks per rule are what a brute force over the sessions counts."""
    sessions = pd.DataFrame({"items": [tuple(sorted(items)) for items, _, _ in rows],
                             "visitor": [v for _, v, _ in rows], "network": [n for _, _, n in rows]})
    if categorical:  # as recsys.sessionize gives them
        sessions = sessions.astype({"visitor": "category", "network": "category"})
    rules = association_rules(eclat(sessions["items"], min_support=1, max_len=3), max_consequent_len=None)
    got = audience(rules, sessions)
    for a, c, visitors, networks in zip(got.antecedents, got.consequents, got.visitors, got.networks):
        holding = [(v, n) for items, v, n in rows if a | c <= items]
        assert visitors == len({v for v, _ in holding})
        assert networks == len({n for _, n in holding if n is not None})
    assert got.drop(columns=["visitors", "networks"]).equals(rules)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from(["/a", "/b", "/c", None]),
                          st.sampled_from(["10.0.0.1", "10.0.0.2", "10.1.0.1", "2001:db8::1", "x", None]),
                          st.sampled_from(["u", "v", "w"])), max_size=40),
       st.sampled_from([None, 1, 7]), st.sampled_from(["ip", "visitor", "plain"]))
def test_popularity_counts_distinct_readers_per_article(rows, days, who):
    """Readers per article in the window, as a plain loop counts them: networks, else visitors,
    else views; most first, then by URL."""
    t0 = pd.Timestamp("2024-03-01", tz="UTC")
    v = pd.DataFrame({"ts": [t0 + pd.Timedelta(days=d) for d, *_ in rows], "url": [r[1] for r in rows],
                      "ip": [r[2] for r in rows], "visitor": [r[3] for r in rows]})
    v["ts"] = pd.to_datetime(v["ts"], utc=True)
    v = v.drop(columns={"ip": [], "visitor": ["ip"], "plain": ["ip", "visitor"]}[who])
    got = popularity(v, days=days)
    until = v["ts"].max() if len(v) else None
    readers: dict = {}
    for i, (d, url, ip, visitor) in enumerate(rows):
        ts = t0 + pd.Timedelta(days=d)
        if url is None or (days is not None and ts <= until - pd.Timedelta(days=days)):
            continue
        reader = {"ip": str(ipaddress.ip_network(f"{ip}/24", strict=False)) if ip and ip[0] == "1"
                  else "2001:db8::/48" if ip and ip[0] == "2" else ip,
                  "visitor": visitor, "plain": i}[who]
        readers.setdefault(url, set()).add(reader)
    expected = sorted(((url, len(r)) for url, r in readers.items()), key=lambda p: (-p[1], p[0]))
    assert list(got.items()) == expected
    assert got.dtype == "int64" and got.name == "readers"
