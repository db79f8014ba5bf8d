"""recsys.check: what the latest lines of a live log say about the setup.

Oracles: the nightly job on the same lines (its accounting and lists), the simulator's labels (the
outcome of every line, by construction), hand-written logs whose pairs are known, the real
cookie-less blog log of the shared data, and brute force over the baskets.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings as hsettings
from hypothesis import strategies as st
from integration import shared_data

import recsys
from recsys import Settings
from recsys import check as check_module
from recsys.check import _best_pair, _suggest_pattern, _tail, check, latest_lines, live_files, main
from recsys.urls import is_article_url
from recsys.model import baskets

SAMPLE = "data/sample/"
SMALL = {"visitors": 120, "days": 3, "articles": 30, "seed": 5}
NOW = datetime(2024, 4, 1, tzinfo=timezone.utc)
YUVI_PATTERN = r"^/blog/(?!wp-|feed|category/|tag/|page/|author/|comments)[^/]+/?$"


def lines_of(data: bytes) -> list[bytes]:
    """The lines of a file as nginx ends them (a last line without newline is given one)."""
    parts = data.split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return [p + b"\n" for p in parts]


def family_lines(files: list[str]) -> list[bytes]:
    """Every line of a family (given oldest first), decompressed."""
    out = []
    for f in files:
        raw = Path(f).read_bytes()
        out += lines_of(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    return out


# which lines --------------------------------------------------------------------------------------------
@hsettings(max_examples=60, deadline=None)
@given(lines=st.lists(st.binary(max_size=12).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       final_newline=st.booleans(), n=st.integers(1, 35), block=st.integers(1, 9), compressed=st.booleans())
def test_tail_is_the_last_n_lines(tmp_path_factory, lines, final_newline, n, block, compressed):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    path = tmp_path_factory.mktemp("tail") / ("access.log.2.gz" if compressed else "access.log")
    path.write_bytes(gzip.compress(data) if compressed else data)
    want = lines_of(data)[-n:]
    old, check_module._BLOCK = check_module._BLOCK, block  # blocks of a few bytes: every edge is crossed
    try:
        got, count = _tail(str(path), n)
    finally:
        check_module._BLOCK = old
    assert (got, count) == (b"".join(want), len(want))


def test_the_latest_lines_run_back_through_the_rotated_files():
    files = live_files(SAMPLE)
    assert files[:3] == ["data/sample/access.log", "data/sample/access.log.1", "data/sample/access.log.2.gz"]
    every = family_lines(files[::-1])
    for n in (1, 1194, 1195, 2070, 2071, 5000, len(every) + 10):
        data, taken = latest_lines(files, n)
        assert data == b"".join(every[-n:])
        assert sum(t["lines"] for t in taken) == min(n, len(every))
        assert taken[-1]["path"] == "data/sample/access.log"


def test_the_live_family_is_the_one_written_last(tmp_path):
    for name, when in [("access.log", 200), ("access.log.1", 100), ("shop.access.log", 300),
                       ("shop.access.log.1", 50), ("error.log", 400)]:
        (tmp_path / name).write_text("x\n")
        os.utime(tmp_path / name, (when, when))
    assert live_files(tmp_path) == [str(tmp_path / "shop.access.log"), str(tmp_path / "shop.access.log.1")]
    os.utime(tmp_path / "access.log", (500, 500))
    assert live_files(tmp_path) == [str(tmp_path / "access.log"), str(tmp_path / "access.log.1")]
    assert live_files(tmp_path / "access.log.1") == [str(tmp_path / "access.log.1")]  # a file: itself


# the counts --------------------------------------------------------------------------------------------
def test_the_whole_sample_counts_as_the_nightly_job_does(tmp_path):
    result = check(SAMPLE, lines=10**6, now=NOW)
    job = recsys.run(SAMPLE, Settings.from_mapping(evaluate=False), cache=tmp_path)
    acc = job.accounting
    assert result["lines"] == acc.lines == 37221
    assert result["accounting"]["dropped"] == acc.dropped and result["views"] == acc.views == 6150
    assert result["accounting"]["malformed_kinds"] == acc.malformed_kinds
    assert result["articles_with_rules"] == job.counts["articles_with_rules"]
    assert result["articles_with_trusted_rules"] == job.counts["articles_with_trusted_rules"] == 120
    assert result["ranking"] == "sequences" and result["credibility"] is True
    assert result["needs"] == {"co_readers": 2, "returning_networks": 1}
    assert result["readers"] == job.counts["visitors"]
    assert result["handshakes"] == acc.dropped["handshake"] and result["bots"] == acc.dropped["bot"]
    assert result["with_visitor"] == result["article_views"] == acc.views + acc.dropped["robots_txt"] + acc.dropped[
        "too_fast"]
    assert result["visitor_share"] == 1.0
    per_day = job.views["ts"].dt.strftime("%Y-%m-%d").value_counts().sort_index()
    assert result["views_per_day"] == per_day.to_dict() and len(per_day) == 28
    assert result["format"] == "combined_ut" and result["problems"] == [] and result["warnings"] == []


@pytest.mark.parametrize("extra", [0, 150])
def test_a_window_of_lines_counts_as_the_simulator_labels_say(tmp_path, extra):
    sim = recsys.simulate(tmp_path, labels=True, **SMALL)
    labels = pd.read_csv(tmp_path / "labels.csv.gz")
    newest = (tmp_path / "access.log").read_bytes().count(b"\n")
    n = newest + extra  # the live file alone, or reaching back into access.log.1
    order = {os.path.basename(f): i for i, f in enumerate(sim.files)}
    labels = labels.assign(order=labels["file"].map(order)).sort_values(["order", "line"])
    window = Counter(labels["outcome"].iloc[-n:])
    result = check(tmp_path, lines=n, now=NOW)
    assert result["lines"] == n
    dropped = result["accounting"]["dropped"]
    # what a line's own fields decide is the same in any window
    for reason in ("no_request", "bot", "method", "handshake", "status", "asset", "not_article"):
        assert dropped.get(reason, 0) == window[reason], reason
    assert result["accounting"]["malformed_kinds"] == {k.split(":")[1]: v for k, v in window.items()
                                                       if k.startswith("malformed:")}
    # the article views with a visitor id: views, or dropped by the rules on behaviour
    assert result["with_visitor"] == window["view"] + window["robots_txt"] + window["too_fast"]
    assert dropped.get("no_visitor", 0) == window["no_visitor"] == 0
    assert result["handshakes"] == window["handshake"] > 0 and result["problems"] == []


def test_best_pair_equals_brute_force_over_the_baskets():
    views = recsys.read_page_views(SAMPLE)
    sessions = baskets(views, Settings())
    stats: dict[tuple, list] = {}
    for items, visitor, network in zip(sessions["items"], sessions["visitor"], sessions["network"]):
        for pair in itertools.combinations(sorted(items), 2):
            b, readers, networks = stats.setdefault(pair, [0, set(), set()])
            stats[pair][0] = b + 1
            readers.add(visitor)
            if network is not None:
                networks.add(network)
    table = sorted(((-len(r), -len(n), -b, pair) for pair, (b, r, n) in stats.items()))
    r, n, b, pair = table[0]
    assert _best_pair(sessions) == {"articles": list(pair), "baskets": -b, "readers": -r, "networks": -n}
    for first in (1, 5):  # a small first batch: the bound brings in every pair that could come first
        assert _best_pair(sessions, first=first) == _best_pair(sessions)
    assert _best_pair(sessions.iloc[:0]) is None


# what is broken, and its fix --------------------------------------------------------------------------------
def test_a_cookie_less_log_names_visitor_ip_ua(tmp_path, capsys):
    recsys.simulate(tmp_path, log_format="combined", **SMALL)
    assert main([str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "carries a visitor id" in err[0]
    assert "--visitor ip+ua" in err[0] and "deploy/openresty" in err[0]
    result = check(tmp_path, Settings.from_mapping(visitor="ip+ua"), now=NOW)
    assert result["problems"] == [] and result["views"] > 0 and result["articles_with_rules"] >= 0
    assert main([str(tmp_path), "--visitor", "ip+ua"]) == 0


def test_the_real_cookie_less_blog(capsys):
    """The 2012 blog of the shared data: nginx combined, no cookie, WordPress under /blog/."""
    logs = shared_data("real", "logs", "yuvi-blog-2012")
    whole = ["--lines", "400000", "--article-pattern", YUVI_PATTERN]
    assert main([str(logs), *whole]) == 1
    out, err = capsys.readouterr()
    assert "read the latest 341,163 lines of 53 files" in out  # the README's count of lines and files
    assert "log format: combined (detected)" in out
    assert "--visitor ip+ua" in err and "none of the" in err
    assert main([str(logs), *whole, "--visitor", "ip+ua"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "ok:" in out and "the pair read together most" in out
    # the default pattern matches none of its pages: the most read ones are named, and a pattern for them
    result = check(logs, now=NOW)
    (problem,) = result["problems"]
    assert "matches the article pattern 'openresty'" in problem["problem"] and "/blog/ (" in problem["problem"]
    suggested = r"^/blog/(?!feed/?$|wp-|xmlrpc\.php/?$)[^/]+/?$"
    assert problem["fix"].startswith(f"give --article-pattern '{suggested}'")
    # it takes what the pattern written for this blog takes, but WordPress's XML-RPC script, which
    # pingback scanners fetch with a browser's user agent (15 of its requests pass every other rule)
    mine, theirs = (set(recsys.read_page_views(logs, visitor="ip+ua", article_pattern=p, progress=False)["url"].astype(str))
                    for p in (suggested, YUVI_PATTERN))
    assert theirs - mine == {"/blog/xmlrpc.php"} and mine < theirs and len(mine) == 147


def test_a_format_not_recognised_says_which_option_to_give(capsys):
    assert main(["tests/data/custom.log"]) == 1
    err = capsys.readouterr().err
    assert "in no log format recsys knows" in err and "--log-format" in err and "--nginx-conf" in err
    directive = ("log_format custom '$host $remote_addr [$time_iso8601] \"$request_method $request_uri\" '\n"
                 "                  '$status $request_time \"$http_user_agent\" \"$upstream_addr\" uid=$cookie_UT_ID';")
    result = check("tests/data/custom.log", Settings.from_mapping(log_format=directive), now=NOW)
    assert result["problems"] == [] and result["format"] == "custom"
    assert (result["article_views"], result["with_visitor"]) == (3, 2)  # one line logs uid=-
    assert any("only 67% of the article views" in w for w in result["warnings"])


def test_an_article_pattern_matching_nothing_shows_the_pages_read_most():
    result = check(SAMPLE, Settings.from_mapping(article_pattern="hugo"), lines=5000, now=NOW)
    (problem,) = result["problems"]
    assert "matches the article pattern 'hugo'" in problem["problem"]
    top = re.findall(r"(/\S*) \((\d[\d,]*)\)", problem["problem"])
    assert len(top) == 5 and all(u.startswith("/archives/") or u == "/" for u, _ in top)
    assert problem["fix"].startswith("give --article-pattern openresty")


def log_line(ip, when, article, visitor, browser=120):
    return (f'{ip} - - [{when} +0000] "GET /archives/{article} HTTP/1.1" 200 512 "-" '
            f'"Mozilla/5.0 (X11; Linux x86_64) Firefox/{browser}.0" "{visitor:08d}-0000-4000-8000-000000000000"')


def one_office(tmp_path):
    """Four readers on one office network read two articles together."""
    lines = [log_line(f"198.51.100.{10 + i}", f"01/Mar/2024:10:{i:02d}:{j:02d}", article, i, 120 + i)
             for i in range(4) for j, article in enumerate((1, 2))]
    (tmp_path / "access.log").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_readers_from_one_network_never_make_a_trusted_rule(tmp_path):
    """Under the default ranking the office's pair is a rule, but of one source: not a trusted one."""
    when = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    result = check(one_office(tmp_path), now=when)
    assert result["pair"] == {"articles": ["/archives/1", "/archives/2"], "sessions": 4, "sources": 1,
                              "co_readers": 1.0, "tier": 2, "needs": {"co_readers": 1, "admission": []}}
    assert result["problems"] == [] and result["articles_with_rules"] == 2 and result["articles_with_trusted_rules"] == 0
    assert result["credibility"] is False and result["needs"] == {"co_readers": 2, "returning_networks": 0}
    (warning,) = result["warnings"]
    assert warning.startswith("every reader comes from 1 network(s) (/24 or /48): they count as 1 source(s), and a "
                              "trusted rule needs co-readers from --tier-min 2")
    text = check_module.report(result)
    assert "4 sessions, 1 networks or readers, 1 co-readers; it needs 1 more co-reader(s) to be trusted" in text
    assert "from these lines alone: 2 (0 from trusted rules)" in text and "--min-count" not in text
    assert "too few of these sessions are by returning readers" in text
    assert text.endswith("ok: the setup works; rules come as readers do")
    loose = check(tmp_path, Settings.from_mapping(tier_min=1), now=when)
    assert loose["pair"]["needs"] == {"co_readers": 0, "admission": []} and loose["pair"]["tier"] == 1
    assert loose["articles_with_trusted_rules"] == 2 and loose["warnings"] == []
    assert check_module.report(loose, Settings.from_mapping(tier_min=1)).endswith("ok: the logs can give recommendations")


def test_readers_from_one_network_never_make_a_mined_rule(tmp_path):
    """Under ranking = "rules" a rule needs three networks."""
    when = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    result = check(one_office(tmp_path), Settings.from_mapping(ranking="rules"), now=when)
    assert result["pair"] == {"articles": ["/archives/1", "/archives/2"], "baskets": 4, "readers": 4,
                              "networks": 1, "needs": {"baskets": 0, "readers": 0, "networks": 2}}
    assert result["problems"] == [] and result["articles_with_rules"] == 0
    assert any("every reader comes from 1 network" in w for w in result["warnings"])
    text = check_module.report(result, Settings.from_mapping(ranking="rules"))
    assert "it needs 2 more networks" in text
    loose = check(tmp_path, Settings.from_mapping(ranking="rules", min_networks=1), now=when)
    assert loose["pair"]["needs"] == {"baskets": 0, "readers": 0, "networks": 0}
    assert loose["articles_with_rules"] == 2 and loose["warnings"] == []


def test_an_article_no_returning_reader_has_read_is_not_admitted(tmp_path):
    """A returning reader (two sessions 8 days apart) read /archives/1; two one-off readers, from
    other networks, read /archives/1 then /archives/2: no returning reader has read /archives/2."""
    lines = [log_line("192.0.2.1", "01/Mar/2024:10:00:00", 1, 1), log_line("192.0.2.1", "09/Mar/2024:10:00:00", 1, 1),
             log_line("198.51.100.7", "09/Mar/2024:11:00:00", 1, 2), log_line("198.51.100.7", "09/Mar/2024:11:01:00", 2, 2),
             log_line("203.0.113.9", "09/Mar/2024:12:00:00", 1, 3), log_line("203.0.113.9", "09/Mar/2024:12:01:00", 2, 3)]
    (tmp_path / "access.log").write_text("\n".join(lines) + "\n")
    result = check(tmp_path, now=datetime(2024, 3, 9, 13, tzinfo=timezone.utc))
    # 4 sessions, 2 by the returning reader: weights 1, 1, 0.2, 0.2 divided by their mean 0.6
    assert result["credibility"] is True and result["needs"] == {"co_readers": 2, "returning_networks": 1}
    assert result["pair"] == {"articles": ["/archives/1", "/archives/2"], "sessions": 2, "sources": 2,
                              "co_readers": 0.67, "tier": 2, "needs": {"co_readers": 2, "admission": ["/archives/2"]}}
    # /archives/2 -> /archives/1 is listed: its 2 sources make it count for the guard, though it ranks in tier 2
    assert result["articles_with_rules"] == 1 and result["articles_with_trusted_rules"] == 1
    text = check_module.report(result)
    assert "it needs 2 more co-reader(s) to be trusted, a returning reader of /archives/2" in text
    assert "recommended once returning readers (first and last sessions --returning-days 7 days apart) from 1 " \
           "networks (--admit-min) have read it" in text


def test_an_old_newest_line_is_a_warning(tmp_path):
    result = check(SAMPLE, lines=100, now=datetime(2024, 4, 3, tzinfo=timezone.utc))
    assert any("is nginx still writing to data/sample/access.log" in w for w in result["warnings"])


def test_usage_errors_are_one_line(capsys):
    for argv in ([], [SAMPLE, "--lines", "0"], [SAMPLE, "--gap", "30"], [SAMPLE, "--visitor", "who"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].endswith("(see --help)")
    assert main(["/no/such/dir"]) == 1
    assert capsys.readouterr().err.startswith("recsys: error: /no/such/dir: no such file")


def test_the_config_file_of_the_nightly_job_is_read(tmp_path, capsys):
    recsys.simulate(tmp_path / "logs", log_format="combined", **SMALL)
    (tmp_path / "recsys.toml").write_text('logs = ["/var/log/nginx"]\nout = "/srv/out"\nvisitor = "ip+ua"\n'
                                          '[recommending]\nmin_networks = 1\n')
    assert main([str(tmp_path / "logs"), "--config", str(tmp_path / "recsys.toml")]) == 0
    out = capsys.readouterr().out
    assert "a rule is two articles read in one session; it is trusted with 2 co-readers (--tier-min)" in out and "--min-count" not in out
    assert main([str(tmp_path / "logs"), "--config", str(tmp_path / "recsys.toml"), "--ranking", "rules"]) == 0
    assert "needs two articles read together in 3 baskets (--min-support), by 3 readers (--min-count) from 1 " \
           "networks" in capsys.readouterr().out


def test_every_flag_is_in_the_readme_section():
    readme = Path("README.md").read_text(encoding="utf-8")
    section = readme.split("## Is it working?", 1)[1].split("\n## ", 1)[0]
    flags = {s for a in check_module.build_parser()._actions for s in a.option_strings if s.startswith("--")}
    assert not sorted(f for f in flags - {"--help"} if f"`{f}" not in section)
    assert "python -m recsys.check" in section and "python -m recsys.show OUT_DIR ARTICLE" in section


def test_a_suggested_pattern_leaves_out_the_feeds_and_scripts_seen_in_the_articles_folder():
    top = ["/", "/posts/why-rust/", "/posts/", "/posts/on-vim/", "/about/"]
    assert _suggest_pattern(top) == "'^/posts/[^/]+/?$'"  # nothing of the kind requested there
    seen = [*top, "/posts/index.xml", "/posts/page/2/", "/posts/wp-login.php", "/posts/WP-admin/", "/posts/feed",
            "/posts/rss/", "/tags/feed/", "/posts/feed.json"]
    suggested = _suggest_pattern(seen)
    assert suggested == r"'^/posts/(?!WP-admin/?$|feed/?$|index\.xml/?$|rss/?$|wp-)[^/]+/?$'"
    regex = suggested.strip("'")
    taken = [u for u in seen if is_article_url(u, regex)]
    assert taken == ["/posts/why-rust/", "/posts/on-vim/", "/posts/feed.json"]  # feed.json: not a kind it knows
    assert _suggest_pattern(["/archives/1", "/archives/2", "/", "/archives/xmlrpc.php"], top=3) == "openresty"
    # a blog whose articles are .php pages keeps them; its feed and WordPress's script are left out
    old = ["/", "/notes/post.php?id=3", "/notes/post.php?id=4", "/notes/list.php"]
    assert _suggest_pattern([*old, "/notes/xmlrpc.php", "/notes/rss.xml"], top=len(old)) \
        == r"'^/notes/(?!rss\.xml/?$|xmlrpc\.php/?$)[^/]+/?$'"
