"""Tests of recsys.simulate: the synthetic logs, and that recsys reads them as designed."""

from __future__ import annotations

import collections
import datetime as dt
import email.utils
import gzip
import hashlib
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import recsys
from recsys.formats import PRESETS, LogFormat
from recsys.simulate import OUTCOMES, Simulation, main, simulate
from recsys.simulate.generate import generate
from recsys.simulate.render import Renderer
from recsys.simulate.state import _Tables

SMALL = dict(visitors=120, days=3, articles=30, seed=5)
ARTICLE = re.compile(r"^/+archives/\d+/?$")


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Simulation:
    return simulate(tmp_path_factory.mktemp("sim"), labels=True, **SMALL)


@pytest.fixture(scope="module")
def requests(sim) -> pd.DataFrame:
    return recsys.read_logs(sim.out_dir)


def digest(directory) -> dict[str, str]:
    return {name: hashlib.sha256(open(os.path.join(directory, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(directory))}


def view_multiset(df: pd.DataFrame) -> collections.Counter:
    return collections.Counter(zip(df["ts"], df["visitor"].astype(object), df["url"].astype(object)))


# determinism, files -----------------------------------------------------------------------------
def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path, sim):
    a = simulate(tmp_path / "a", labels=True, **SMALL)
    assert digest(a.out_dir) == digest(sim.out_dir)
    assert a.reasons == sim.reasons
    pd.testing.assert_frame_equal(a.truth, sim.truth)
    b = simulate(tmp_path / "b", labels=True, **{**SMALL, "seed": 6})
    assert digest(b.out_dir).keys() == digest(sim.out_dir).keys()
    assert all(digest(b.out_dir)[k] != v for k, v in digest(sim.out_dir).items())


def test_rotation_names_gzip_and_order(sim):
    names = [os.path.basename(f) for f in sim.files]
    assert names == ["access.log.2.gz", "access.log.1", "access.log"]
    assert sorted(os.listdir(sim.out_dir)) == sorted(names + ["feed.xml", "labels.csv.gz"])
    assert recsys.files.log_files(sim.out_dir) == sim.files  # the feed and the labels are skipped
    start = pd.Timestamp("2024-03-04", tz="UTC")
    total = 0
    for day, path in enumerate(sim.files):
        raw = open(path, "rb").read()
        assert raw[:2] == b"\x1f\x8b" if path.endswith(".gz") else raw[:2] != b"\x1f\x8b"
        if path.endswith(".gz"):
            assert raw[4:8] == b"\0\0\0\0"  # mtime 0: reproducible
            raw = gzip.decompress(raw)
        assert raw.endswith(b"\n")
        total += raw.count(b"\n")
        req = recsys.read_logs(path)
        assert req["ts"].is_monotonic_increasing  # lines in time order
        assert (req["ts"] >= start + pd.Timedelta(days=day)).all()
        assert (req["ts"] < start + pd.Timedelta(days=day + 1)).all()
        assert b"+0000]" in raw
    assert total == sim.lines


def test_no_rotation_writes_one_file(tmp_path):
    one = simulate(tmp_path, rotate=False, **SMALL)
    assert [os.path.basename(f) for f in one.files] == ["access.log"]
    assert open(one.files[0], "rb").read().count(b"\n") == one.lines


def test_other_access_logs_in_out_dir_are_refused(tmp_path):
    (tmp_path / "access.log.9.gz").write_bytes(gzip.compress(b"", mtime=0))
    with pytest.raises(ValueError, match="access.log.9.gz"):
        simulate(tmp_path, **SMALL)
    with pytest.raises(ValueError, match="is a file"):
        simulate(tmp_path / "access.log.9.gz", **SMALL)


# the labels are what recsys gives -------------------------------------------------------------
@pytest.mark.parametrize("log_format", ["combined_ut", "tsv", "json"])
def test_accounting_and_views_equal_the_truth(tmp_path, log_format):
    s = simulate(tmp_path, log_format=log_format, **SMALL)
    acc = recsys.Accounting()
    views = recsys.read_page_views(tmp_path, accounting=acc)
    acc.check()
    expected = s.expected_accounting()
    assert acc.lines == expected["lines"] == s.lines
    assert acc.malformed_kinds == expected["malformed_kinds"]
    assert acc.dropped == expected["dropped"]
    assert acc.views == expected["views"] == len(s.truth)
    assert view_multiset(views) == view_multiset(s.truth)
    # every outcome of the design happens in this small simulation ($request only in combined_ut)
    absent = {"malformed:time", "no_visitor"}
    if log_format != "combined_ut":
        absent.add("malformed:request")
    assert set(s.reasons) == set(OUTCOMES) - absent


def test_combined_has_no_visitor_so_no_view(tmp_path):
    s = simulate(tmp_path, log_format="combined", **SMALL)
    recsys.read_page_views(tmp_path, accounting=(acc := recsys.Accounting()))
    assert acc.views == s.views == 0
    assert acc.dropped == s.expected_accounting()["dropped"]
    assert acc.dropped["no_visitor"] >= len(s.truth) > 0  # the reads are there, without visitor


def test_truth_is_normalized_and_the_same_for_every_format(sim, tmp_path):
    truth = sim.truth
    assert list(truth.columns) == ["ts", "visitor", "url"]
    assert str(truth["ts"].dtype) == "datetime64[ms, UTC]"
    assert truth["url"].isin(sim.articles["url"]).all()
    assert recsys.urls.normalize_urls(truth["url"]) == truth["url"].tolist()
    published = truth["url"].map(sim.articles.set_index("url")["published"])
    assert (truth["ts"] >= published.dt.floor("s")).all()  # nobody reads an unpublished article
    readers = sim.agents.loc[sim.agents["kind"] == "reader", "visitor"]
    assert truth["visitor"].isin(readers).all()
    tsv = simulate(tmp_path, log_format="tsv", **SMALL).truth  # milliseconds there, seconds here
    assert (tsv["ts"].dt.floor("s") == truth["ts"]).all() and (tsv["ts"] != truth["ts"]).any()


def test_labels_file_lists_every_line(sim):
    labels = pd.read_csv(sim.labels)
    assert list(labels.columns) == ["file", "line", "outcome"]
    assert len(labels) == sim.lines
    assert labels["outcome"].value_counts().to_dict() == sim.reasons
    for path in sim.files:
        lines = labels.loc[labels["file"] == os.path.basename(path), "line"]
        assert lines.tolist() == list(range(1, len(lines) + 1))


def test_every_preset_parses_all_lines_but_junk(sim, tmp_path):
    labels = pd.read_csv(sim.labels)
    for log_format in PRESETS:
        s = simulate(tmp_path / log_format, log_format=log_format, labels=True, **SMALL)
        lab = pd.read_csv(s.labels)
        clean = tmp_path / f"{log_format}.log"
        with open(clean, "wb") as out:
            for path in s.files:
                raw = gzip.open(path).read() if path.endswith(".gz") else open(path, "rb").read()
                keep = ~lab.loc[lab["file"] == os.path.basename(path), "outcome"].str.startswith("malformed")
                out.writelines(line + b"\n" for line, k in zip(raw.split(b"\n")[:-1], keep) if k)
        recsys.read_logs(clean, log_format=log_format, accounting=(acc := recsys.Accounting()))
        assert acc.malformed == 0 and acc.lines == (~lab["outcome"].str.startswith("malformed")).sum()
        # the junk is there: cut lines and bad UTF-8 are malformed, and TLS with $request; empty
        # requests and spaces in the target parse (no_request, and a 400 with a target)
        has_request = "request" in LogFormat.preset(log_format).variables
        assert lab["outcome"].str.startswith("malformed").sum() >= (3 if has_request else 2)
        assert (lab["outcome"] == "no_request").sum() >= 1
        assert s.lines == len(labels)  # the same world in another format


def test_junk_lines(sim):
    raw = b"".join(gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read() for p in sim.files)
    assert b'"\\x16\\x03\\x01' in raw  # a TLS handshake, escaped as nginx does
    assert b' "" 400 0 ' in raw  # an empty request
    assert re.search(rb'"GET /archives/\d+ \S+ HTTP/1.1" 400', raw)
    lines = raw.split(b"\n")
    assert sum(not _decodes(ln) for ln in lines) == sim.reasons["malformed:encoding"] > 0
    junk = sum(v for k, v in sim.reasons.items() if k.startswith("malformed"))  # TLS, cut, bad UTF-8
    assert 3 <= junk and 1 <= sim.reasons["no_request"] and junk + sim.reasons["no_request"] < 0.01 * sim.lines


def _decodes(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# behaviour ------------------------------------------------------------------------------------
def _articles(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["path"].astype(str).str.match(ARTICLE.pattern) & (rows["method"] == "GET")]


def test_handshake_first_article_request_is_302_then_200_with_cookie(sim, requests):
    handshakes = returning = 0
    for _, agent in sim.agents[sim.agents["kind"] == "reader"].iterrows():
        rows = requests[requests["ip"].isin(agent["ips"].split())]
        arts = _articles(rows)
        if arts.empty:
            continue
        first = arts.iloc[0]
        if pd.isna(first["visitor"]):
            assert first["status"] == 302
            before = rows.loc[: first.name]
            assert before["visitor"].isna().all()  # no cookie before the handshake
            after = rows.loc[first.name + 1 :]
            if after.empty:  # the period ended in between
                continue
            nxt = after.iloc[0]
            assert (nxt["visitor"], nxt["status"], nxt["path"], nxt["query"]) == (
                agent["visitor"], 200, first["path"], first["query"])
            assert (nxt["ts"] - first["ts"]) <= pd.Timedelta(seconds=1)
            assert (after["visitor"] == agent["visitor"]).all()  # from then on, always the cookie
            handshakes += 1
        else:
            assert first["visitor"] == agent["visitor"]  # got the cookie before the period
            assert (rows["visitor"] == agent["visitor"]).all()
            returning += 1
    assert handshakes > 10 and returning > 5


def test_cookie_refusers_loop_and_never_produce_a_view(sim, requests):
    refusers = sim.agents[sim.agents["kind"] == "cookie_refuser"]
    ips = " ".join(refusers["ips"]).split()
    assert len(refusers) >= 2
    rows = requests[requests["ip"].isin(ips)]
    assert rows["visitor"].isna().all()
    arts = _articles(rows)
    assert len(arts) and (arts["status"] == 302).all()
    for _, one in arts.groupby(arts["ip"].astype(str), observed=True):
        for _, loop in one.groupby((one["ts"].diff() > pd.Timedelta(seconds=5)).cumsum()):
            assert 20 <= len(loop) <= 21 or loop["ts"].max() > pd.Timestamp("2024-03-06 23:59", tz="UTC")
    views = recsys.read_page_views(sim.out_dir)
    assert not views["ip"].isin(ips).any()


def test_robots_and_scrapers(sim, requests):
    agents = sim.agents.set_index("kind")
    bots = sim.agents[sim.agents["kind"].isin(["crawler", "scanner"])]["user_agent"]
    assert recsys.views.is_bot([ua if isinstance(ua, str) else None for ua in bots]).all()  # none: a bot too
    bots = [ua for ua in bots if isinstance(ua, str)]
    kinds = ["reader", "cookie_refuser", "robots_scraper", "fast_scraper"]
    people = sim.agents[sim.agents["kind"].isin(kinds)]
    assert not recsys.views.is_bot(people["user_agent"]).any()
    crawl = requests[requests["user_agent"].isin(bots)]
    assert (crawl["visitor"].isna()).all() and (crawl["path"] == "/robots.txt").any()
    assert (_articles(crawl)["status"] == 302).all()
    scraper = requests[requests["ip"] == agents.loc["robots_scraper", "ips"]]
    assert scraper["path"].iloc[0] == "/robots.txt"
    fast = requests[requests["visitor"] == agents.loc["fast_scraper", "visitor"]]
    ts = _articles(fast)["ts"].sort_values()
    assert (ts.iloc[20:].to_numpy() - ts.iloc[:-20].to_numpy() < np.timedelta64(60, "s")).any()
    assert sim.reasons["robots_txt"] > 0 and sim.reasons["too_fast"] > 20
    assert (requests["method"] == "HEAD").any()
    scanners = " ".join(sim.agents.loc[sim.agents["kind"] == "scanner", "ips"]).split()
    probes = requests[requests["ip"].isin(scanners)]
    assert probes["path"].isin(["/wp-login.php", "/.env", "/xmlrpc.php", "/.git/config"]).any()
    assert set(probes["status"]) >= {404}
    feeds = requests[requests["path"] == "/feed/"]
    assert len(feeds) > 24 and set(feeds["status"]) <= {200, 304}


def test_readers_look_real(sim, requests):
    human = requests[requests["visitor"].isin(sim.truth["visitor"].unique())]
    assert human["user_agent"].nunique() > 5
    assert human["ip"].astype(str).str.contains(":").any()  # some IPv6
    assert set(human["status"]) >= {200, 302, 304, 404}
    assert (human["path"].astype(str).str.startswith("/static/")).any()
    queries = human["query"].dropna().astype(str)
    assert queries.str.startswith("utm_source=").any()
    referers = human["referer"].dropna().astype(str)
    assert referers.str.startswith("https://www.google.").any()
    assert referers.str.startswith("https://blog.example.org/archives/").any()
    # visits: a few articles each, at most 25 min apart; visits at least an hour apart
    t = sim.truth.sort_values(["visitor", "ts"])
    gaps = t.groupby("visitor")["ts"].diff().dropna()
    within = gaps[gaps <= pd.Timedelta(minutes=25, seconds=2)]
    assert ((gaps <= pd.Timedelta(minutes=25, seconds=2)) | (gaps >= pd.Timedelta(hours=1, seconds=-2))).all()
    assert pd.Timedelta(seconds=40) < within.median() < pd.Timedelta(minutes=8)
    visits = t["visitor"].nunique() + (gaps > pd.Timedelta(minutes=25, seconds=2)).sum()
    assert 1.8 < len(t) / visits < 3.5


def test_articles_and_feed(sim):
    arts = sim.articles
    assert list(arts.columns[:4]) == ["url", "title", "topic", "published"]
    assert arts["title"].is_unique and arts["url"].is_unique
    ids = arts["id"].to_numpy()
    assert (np.diff(ids) > 0).all() and (np.diff(ids) > 1).any() and ids[0] > 100
    assert arts["published"].is_monotonic_increasing
    assert (arts["published"] >= pd.Timestamp("2024-03-04", tz="UTC")).any()
    assert (arts["published"] < pd.Timestamp("2024-03-04", tz="UTC")).mean() > 0.8
    root = ET.parse(sim.feed).getroot()
    items = root.findall("./channel/item")
    assert len(items) == len(arts)
    when = lambda item: email.utils.parsedate_to_datetime(item.findtext("pubDate"))
    feed = {i.findtext("link"): (i.findtext("title"), when(i)) for i in items}
    for row in arts.itertuples():
        title, when = feed["https://blog.example.org" + row.url]
        assert title == row.title
        assert when == row.published.floor("s").to_pydatetime()


def test_series_are_parts_in_order(tmp_path):
    s = simulate(tmp_path, visitors=5, days=2, articles=200, seed=3)
    series = s.articles.dropna(subset=["series"])
    assert len(series)
    for _, parts in series.groupby("series"):
        assert parts["part"].tolist() == list(range(1, len(parts) + 1))
        assert parts["title"].str.endswith(tuple(f"part {p}" for p in parts["part"])).all()
        assert parts["topic"].nunique() == 1


# rendering -----------------------------------------------------------------------------------
@pytest.mark.parametrize("log_format", list(PRESETS))
def test_fast_renderer_gives_the_lines_of_render(log_format):
    g, ev = generate(visitors=20, days=2, articles=10, topics=3, seed=1, start=dt.date(2024, 3, 4))
    fmt = LogFormat.preset(log_format)
    r = Renderer(fmt, g.tab, dt.date(2024, 3, 4), 2)
    assert r.lines(ev) == [fmt.render(r.values(ev, i)) for i in range(len(ev["t"]))]


text_or_bytes = st.one_of(st.text(max_size=30), st.binary(max_size=30))


@settings(max_examples=60, deadline=None)
@given(st.lists(text_or_bytes, min_size=1, max_size=4, unique=True))
def test_fast_renderer_escapes_any_value_like_render(values):
    tab = _Tables()
    ev = {k: np.zeros(len(values), np.int64) for k in ("ip", "ck", "req", "ref")}
    ev["t"] = np.full(len(values), 1709546400123, np.int64)
    ev["ua"] = np.array([tab.ua(v) for v in values])
    ev["ref"] = np.array([tab.ref(v if isinstance(v, str) else None) for v in values])
    ev["status"], ev["size"] = np.full(len(values), 200), np.arange(len(values))
    tab.ip("::1"), tab.cookie("c"), tab.req("GET", "/a?b=\"c\"", "HTTP/1.1")
    for log_format in PRESETS:
        fmt = LogFormat.preset(log_format)
        r = Renderer(fmt, tab, dt.date(2024, 3, 4), 1)
        assert r.lines(ev) == [fmt.render(r.values(ev, i)) for i in range(len(values))]


# arguments and command line ---------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [dict(visitors=0), dict(days=-1), dict(articles="5"), dict(topics=13),
                                    dict(seed=-1), dict(start="yesterday"), dict(log_format="apache")])
def test_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        simulate(tmp_path, **kwargs)


def test_cli_writes_and_summarizes(tmp_path, capsys):
    out = tmp_path / "logs"
    assert main([str(out), "--visitors", "40", "--days", "2", "--articles", "15", "--seed", "3",
                 "--format", "tsv", "--labels", "--start", "2024-01-30"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "2 files" in printed[0] and "human article views" in printed[0]
    assert sorted(os.listdir(out)) == ["access.log", "access.log.1", "feed.xml", "labels.csv.gz"]
    first = open(out / "access.log.1").readline().split("\t")[0]  # $msec of the first line
    assert re.fullmatch(r"\d{10}\.\d{3}", first)
    assert int(float(first)) // 86400 * 86400 == 1706572800  # 2024-01-30 00:00 UTC
    assert main([str(tmp_path / "one"), "--visitors", "5", "--days", "2", "--no-rotate"]) == 0
    assert sorted(os.listdir(tmp_path / "one")) == ["access.log", "feed.xml"]


@pytest.mark.parametrize("argv", [["--visitors", "0"], ["--visitors", "many"], ["--days", "1.5"],
                                  ["--format", "apache"], ["--start", "2024-13-01"], ["--topics", "40"], []])
def test_cli_user_errors_exit_2_with_one_line(tmp_path, capsys, argv):
    args = [str(tmp_path / "x")] + argv if argv else []
    with pytest.raises(SystemExit) as e:
        code = main(args)
        raise SystemExit(code)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("python -m recsys.simulate: error: ")
    assert "Traceback" not in err


def test_cli_out_dir_is_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main([str(f), "--visitors", "5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is a file" in err


def test_cli_help_ends_with_an_example(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out.rstrip()
    assert out.splitlines()[-1].strip().startswith("python -m recsys.simulate ")
    assert "example" in out.splitlines()[-2]
