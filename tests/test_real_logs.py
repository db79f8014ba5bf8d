"""recsys on real access logs no one here wrote: ``../shared/data/real/logs`` (its README gives the sources).

Every count asserted here was checked by independent means first: the ``zcat | awk`` lines in the
comments, and :func:`oracle`, a per-line classifier in plain Python written from the README's rules
(only the crawler list is recsys's). The figures the source projects publish are reproduced: lnav's
report of the zanbil shop log, Elastic's expected fields of its nginx fixtures, the well-formed line
counts of the Apache and leo7723 logs.
"""

import gzip
import json
import os
import re
from collections import Counter
from datetime import datetime

import pandas as pd
import pytest
from integration import shared_data

import recsys
from recsys import Accounting, LogFormat, page_views, read_logs
from recsys.mine import main

PARSERS = ["auto", "regex"]
TAIL = '- $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"'
COMBINED = LogFormat.parse("$remote_addr " + TAIL)
#: nginx's ``main`` of its sample configuration: what the zanbil shop logged
MAIN = LogFormat.parse("$remote_addr " + TAIL + ' "$http_x_forwarded_for"')
OPENRESTY = re.compile(r"^/archives/\d+$")
BLOG_ARTICLES = r"^/blog/(?!wp-|feed|category/|tag/|page/|author/|comments)[^/]+/?$"


def logs(*parts):
    return shared_data("real", "logs", *parts)


def accounting(acc):
    return {"lines": acc.lines, "malformed": acc.malformed_kinds, "dropped": acc.dropped, "views": acc.views}


# an independent oracle ---------------------------------------------------------------------------
_LINE = re.compile(r'^(\S+) \S+ \S+ \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" '
                   r'"((?:[^"\\]|\\.)*)"(?: "([^"]*)")?$')
_ASSET = re.compile(r"(?i)(?:\.(?:css|js|mjs|map|png|jpe?g|gif|svg|ico|webp|avif|bmp|tiff?|woff2?|ttf|otf|eot"
                    r"|mp3|mp4|m4a|webm|ogg|wav|pdf|zip|gz)$|^/wp-(?:content|includes)/)")
_HEX = re.compile(r"\\x([0-9A-Fa-f]{2})")


def oracle(path, article, *, ip_ua: bool, main_format: bool) -> dict:
    """The accounting of ``combined`` (or ``main``) logs, line by line in plain Python.

    The README's cascade: malformed lines, then ``no_request``, ``bot``, ``method``, ``handshake``,
    ``status``, ``asset``, ``not_article``, ``no_visitor``, then ``robots_txt`` and ``too_fast`` (more
    than 20 articles within a minute). Only the crawler list (``recsys.views.is_bot``) is recsys's.
    """
    out, cand, robots, bots = Counter(), [], set(), {}
    files = [os.fspath(path)] if os.path.isfile(path) else recsys.files.log_files(path)
    for f in files:
        with (gzip.open if f.endswith(".gz") else open)(f, "rb") as fh:
            lines = fh.read().decode("utf-8", "replace").split("\n")[:-1]
        for line in lines:
            m = _LINE.match(line)
            if not m or (m.group(8) is None) == main_format:
                out["malformed:format"] += 1
                continue
            ip, when, request, status, _, _, ua, _ = m.groups()
            if request in ("-", ""):
                out["no_request"] += 1
                continue
            words = request.split(" ")
            if len(words) > 2 and re.fullmatch(r"HTTP/\d(\.\d)?", words[-1]):
                words = words[:-1]  # the protocol
            method, target = words[0], " ".join(words[1:])
            if not re.fullmatch(r"[A-Z][A-Z0-9_-]*", method) or not target or target[0] == " ":
                out["malformed:request"] += 1
                continue
            target = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*", "", target) or "/"  # absolute-form
            path_ = _HEX.sub(lambda h: chr(int(h.group(1), 16)), target.split("?")[0])
            ua = None if ua in ("-", "") else _HEX.sub(lambda h: chr(int(h.group(1), 16)), ua)
            visitor = (ip, ua) if ip_ua else None
            if path_ == "/robots.txt":
                robots.add((ip, ua))
            if ua not in bots:
                bots[ua] = ua is None or bool(recsys.views.is_bot([ua])[0])
            url = re.sub("/{2,}", "/", path_).rstrip("/") or "/"
            reason = ("bot" if bots[ua] else "method" if method != "GET"
                      else "handshake" if int(status) in (301, 302, 303, 307) and visitor is None
                      else "status" if int(status) not in (200, 304) else "asset" if _ASSET.search(path_)
                      else "not_article" if not article.search(url) else "no_visitor" if visitor is None else None)
            if reason:
                out[reason] += 1
            else:
                cand.append((datetime.strptime(when, "%d/%b/%Y:%H:%M:%S %z").timestamp(), visitor))
    times: dict = {}
    for t, v in cand:
        if v in robots:
            out["robots_txt"] += 1
        else:
            times.setdefault(v, []).append(t)
    for ts in times.values():
        ts.sort()
        fast = any(ts[i + 20] - ts[i] < 60 for i in range(len(ts) - 20))
        out["too_fast" if fast else "view"] += len(ts)
    return {
        "lines": sum(out.values()),
        "malformed": {k.split(":")[1]: v for k, v in out.items() if k.startswith("malformed")},
        "dropped": {k: v for k, v in out.items() if ":" not in k and k != "view"},
        "views": out["view"],
    }


# the Apache log, leo7723's and the zanbil shop's ---------------------------------------------------
@pytest.mark.parametrize("parser", PARSERS)
def test_the_apache_log_has_one_malformed_line_not_670(parser):
    """Apache's %b writes "-" for zero bytes: 669 lines, no longer malformed.

    zcat elastic-apache_logs.gz | awk '$10 == "-"' | wc -l                 -> 669
    zcat elastic-apache_logs.gz | awk -F'"' 'NF != 7 {print NR}'           -> 8899 (its agent is cut)
    """
    path = logs("elastic-apache_logs.gz")
    acc = Accounting()
    requests = read_logs(path, log_format="combined", parser=parser, accounting=acc)
    assert (acc.lines, acc.malformed_kinds) == (10_000, {"format": 1})  # 9,999 well-formed
    assert [(e["line"], e["kind"]) for e in acc.examples] == [(8899, "format")]
    assert int(requests.bytes.isna().sum()) == 669
    page_views(requests, accounting=acc)
    expected = {"lines": 10_000, "malformed": {"format": 1}, "views": 0, "dropped": {
        "asset": 5236, "not_article": 2344, "bot": 2145, "handshake": 66, "status": 181, "method": 27}}
    assert accounting(acc.check()) == expected
    assert oracle(path, OPENRESTY, ip_ua=False, main_format=False) == expected


def test_the_leo7723_log_is_all_well_formed():
    """zcat leo7723-nginx_access.log.gz | awk -F'"' 'NF != 7' | wc -l  -> 0 (6,558 lines)"""
    path = logs("leo7723-nginx_access.log.gz")
    acc = Accounting()
    recsys.read_page_views(path, read_options={"log_format": "combined"}, progress=False, accounting=acc)
    expected = {"lines": 6558, "malformed": {}, "views": 0, "dropped": {
        "status": 4086, "handshake": 1044, "not_article": 416, "method": 212, "bot": 798, "asset": 2}}
    assert accounting(acc.check()) == expected
    assert oracle(path, OPENRESTY, ip_ua=False, main_format=False) == expected


@pytest.mark.parametrize("parser", PARSERS)
def test_the_zanbil_shop_log_gives_lnavs_report(parser):
    """lnav's report (lnav-zanbil-shop_access_log.expected_report.md): 1,000 requests, 0 invalid,
    110 unique visitors (address and agent), 751 requested files (method, path, protocol), 15 not
    found (paths), 19.0 MB. Checked with awk:

    zcat ... | awk -F'"' '{split($1,a," "); print a[1] "\\t" $6}' | sort -u | wc -l                -> 110
    zcat ... | awk -F'"' '{split($2,r," "); u=r[2]; sub(/\\?.*/,"",u); print r[1], u, r[3]}' | sort -u | wc -l -> 751
    zcat ... | awk -F'"' '{split($3,s," "); if (s[1]==404) {split($2,r," "); u=r[2]; sub(/\\?.*/,"",u); print u}}' | sort -u | wc -l -> 15
    zcat ... | awk -F'"' '{split($3,s," "); b+=s[2]} END {print b}'                              -> 18963364
    zcat ... | awk -F'"' '{split($1,a," "); print ($8=="-" ? a[1] : $8) "\\t" $6}' | sort -u | wc -l -> 105
    """
    path = logs("lnav-zanbil-shop_access_log.gz")
    acc = Accounting()
    df = read_logs(path, log_format=MAIN, parser=parser, accounting=acc)
    assert (acc.lines, acc.malformed) == (1000, 0)
    # lnav's visitor is the address that connected: the last entry of the chain
    peer = df.forwarded_for.astype(str).str.split(",").str[-1]
    assert len(pd.DataFrame({"ip": peer, "ua": df.user_agent.astype(str)}).drop_duplicates()) == 110
    # recsys's ip is the client the chain names: 13 lines came through Google's proxy for 103.28.132.65
    assert (df.ip == "103.28.132.65").sum() == 13 and df.ip.astype(str).ne(peer).sum() == 13
    assert len(df[["ip", "user_agent"]].astype(str).drop_duplicates()) == 105
    assert len(df[["method", "path", "protocol"]].astype(str).drop_duplicates()) == 751
    assert df.loc[df.status == 404, "path"].nunique() == 15
    assert int(df.bytes.sum()) == 18_963_364
    # the zone +0330: 22/Jan/2019:03:56:14 +0330 is 00:26:14 UTC
    assert df.ts.iloc[0] == pd.Timestamp("2019-01-22 00:26:14", tz="UTC")
    expected = {"lines": 1000, "malformed": {}, "views": 0, "dropped": {
        "bot": 347, "not_article": 544, "asset": 76, "method": 24, "handshake": 9}}
    page_views(df, accounting=acc)
    assert accounting(acc.check()) == expected
    assert oracle(path, OPENRESTY, ip_ua=False, main_format=True) == expected


# Elastic's nginx fixtures ----------------------------------------------------------------------------
# Each line in the log_format that would have written it (the files mix several, line by line).
PROXY_ADD = "$proxy_add_x_forwarded_for " + TAIL
XFF_LAST = "$remote_addr " + TAIL + ' "$http_x_forwarded_for"'
XFF_QUOTED = '"$http_x_forwarded_for" $remote_addr ' + TAIL
XFF_BARE = "$http_x_forwarded_for $remote_addr " + TAIL
TEST_LOG = [PROXY_ADD, XFF_LAST, PROXY_ADD, PROXY_ADD, XFF_QUOTED, XFF_BARE, PROXY_ADD]


def read_line(tmp_path, line: str, fmt: str, parser: str):
    """The requests of one line, and the accounting they were read with."""
    p = tmp_path / f"line-{parser}.log"
    p.write_text(line + "\n")
    acc = Accounting()
    return read_logs(p, log_format=fmt, parser=parser, accounting=acc), acc


@pytest.mark.parametrize("parser", PARSERS)
def test_the_beats_fixture_gives_elastics_expected_fields(tmp_path, parser):
    """Every field of test.log.expected.tsv (from Elastic's test.log-expected.json)."""
    lines = logs("beats-nginx-fixtures", "test.log").read_text().splitlines()
    rows = logs("beats-nginx-fixtures", "test.log.expected.tsv").read_text().splitlines()
    expected = [r.split("\t") for r in rows if not r.startswith("#")]
    header = expected.pop(0)
    assert len(lines) == len(expected) == len(TEST_LOG) == 7
    for line, fmt, want in zip(lines, TEST_LOG, expected):
        df, acc = read_line(tmp_path, line, fmt, parser)
        assert acc.malformed == 0 and len(df) == 1, line
        r = df.iloc[0]
        text = lambda v: "" if pd.isna(v) else str(v)
        url = "" if pd.isna(r.path) else r.path + ("" if pd.isna(r.query) else "?" + r.query)
        got = [r.ts.strftime("%Y-%m-%dT%H:%M:%S.000Z"), r.ip, r.forwarded_for, text(r.method), url,
               text(r.protocol).removeprefix("HTTP/"), str(r.status), str(r.bytes)]
        assert dict(zip(header, got)) == dict(zip(header, want)), line
    # the last line, "" 400: a connection that sent no request line
    page_views(df, accounting=acc)
    assert acc.dropped == {"no_request": 1}


WITH_HOST = [  # ip, forwarded_for, host, path
    (PROXY_ADD, "10.0.0.2", "10.0.0.2,10.0.0.1,127.0.0.1", "example.com", "/ocelot"),
    (XFF_LAST, "172.17.0.1", "172.17.0.1", "example.com", "/stringpatch"),
    (PROXY_ADD, "81.2.69.143", "10.0.0.2,10.0.0.1,81.2.69.143", "example.com", "/ocelot"),
    (COMBINED.template, "81.2.69.143", None, "example.com:80", "/ocelot"),
    (XFF_QUOTED, "175.16.199.1", "10.5.102.222,175.16.199.1,204.246.1.1,10.2.1.185", "example.com:80", "/assets/xxxx"),
    (XFF_BARE, "2a02:cf40:10ff:f00f:0000:0000:0:8000", "2a02:cf40:10ff:f00f:0000:0000:0:8000,10.225.192.17,10.2.2.121",
     "1.128.3.4", "/test.html"),
    (COMBINED.template, "127.0.0.1", None, "1.128.3.4:80", None),  # "" 400: no request
    (COMBINED.template, None, None, None, None),  # "hello" 400 from unix:, malformed
    (XFF_LAST, "localhost", "localhost", "1.128.3.4", "/test2"),
    (PROXY_ADD + ' "$http_x_forwarded_for"', "localhost", "localhost,localhost", "example.com", "/test2"),
]


@pytest.mark.parametrize("parser", PARSERS)
def test_the_beats_fixture_with_host_prefixes(tmp_path, parser):
    lines = logs("beats-nginx-fixtures", "test-with-host.log").read_text().splitlines()
    assert len(lines) == len(WITH_HOST) == 10
    for line, (fmt, ip, chain, host, path) in zip(lines, WITH_HOST):
        df, acc = read_line(tmp_path, line, "$host " + fmt, parser)
        if ip is None:  # "hello": a request line that is there but is none
            assert acc.malformed_kinds == {"request": 1} and acc.examples[0]["text"] == line
            assert " unix: " in line
            continue
        assert acc.malformed == 0 and len(df) == 1, line
        r = df.iloc[0]
        got = [r.ip, None if "forwarded_for" not in df or pd.isna(r.forwarded_for) else r.forwarded_for, r.host,
               None if pd.isna(r.path) else r.path]
        assert got == [ip, chain, host, path], line
        page_views(df, accounting=acc)
        assert ("no_request" in acc.dropped) == (path is None)
    # unix: (a connection over a UNIX socket) is kept as it is, chain or not
    df, _ = read_line(tmp_path, lines[7].replace('"hello"', '"GET / HTTP/1.1"') + ' "-"', "$host " + XFF_LAST, parser)
    assert (df.ip.tolist(), df.forwarded_for.tolist()) == (["unix:"], ["unix:"])
    assert recsys.columns.client_of("-", "unix:") == ("unix:", "unix:")


# the real blog: 53 rotated files -----------------------------------------------------------------------
# Its accounting, checked line by line with oracle() (about a minute of plain Python: run by hand,
#   oracle(logs("yuvi-blog-2012"), re.compile(BLOG_ARTICLES), ip_ua=True, main_format=False)):
#   zcat -f access.log* | awk -F'"' '$2 == "-"' | wc -l   -> 162586 ; '$2 == ""' -> 7 : no_request 162,593
#   the other request fields that are not METHOD TARGET [HTTP/x] -> 58, of which 2 are targets with
#   spaces (GET /\x22 + gaJsHost + \x22google-analytics.com/ga.js HTTP/1.1): 56 malformed
BLOG_ACCOUNTING = {"lines": 341_163, "malformed": {"request": 56}, "views": 3448, "dropped": {
    "no_request": 162_593, "bot": 77_440, "status": 47_717, "not_article": 22_097, "asset": 19_730, "method": 5938,
    "robots_txt": 2107, "too_fast": 37}}


def test_the_daylight_saving_change_inside_the_family():
    """-0800 until 11/Mar/2012 01:59, then -0700: the times stay in order in UTC.

    zcat access.log.45.gz | sed -n 4862,4863p
      ... [11/Mar/2012:01:57:56 -0800] "GET /dAta/KmSFiLESeRvEr/... HTTP/1.0" 404 ...
      ... [11/Mar/2012:03:00:06 -0700] "GET /r/4fe HTTP/1.1" 301 ...
    """
    acc = Accounting()
    df = read_logs(logs("yuvi-blog-2012", "access.log.45.gz"), log_format="combined", accounting=acc)
    assert acc.lines == 5631
    lines = (gzip.open(logs("yuvi-blog-2012", "access.log.45.gz")).read().decode().splitlines())
    # rows are lines without the malformed ones (none here but "-" requests, which are rows)
    assert acc.malformed == 0 and len(df) == len(lines)
    before, after = df.iloc[4861], df.iloc[4862]
    assert before.path.startswith("/dAta/KmSFiLESeRvEr/") and after.path == "/r/4fe"
    assert before.ts == pd.Timestamp("2012-03-11 09:57:56", tz="UTC")
    assert after.ts == pd.Timestamp("2012-03-11 10:00:06", tz="UTC")
    zones = df.ts.dt.tz_convert("America/Los_Angeles")  # the blog's zone: the log's local times back
    assert zones.iloc[4861].strftime("%H:%M:%S %z") == "01:57:56 -0800"
    assert zones.iloc[4862].strftime("%H:%M:%S %z") == "03:00:06 -0700"


@pytest.fixture(scope="module")
def blog_run(tmp_path_factory):
    """The command line over the whole family, as the nightly job would run it."""
    tmp = tmp_path_factory.mktemp("blog")
    argv = [str(logs("yuvi-blog-2012")), "--out", str(tmp / "out"), "--cache", str(tmp / "cache"), "--quiet",
            "--visitor", "ip+ua", "--article-pattern", BLOG_ARTICLES]
    assert main(argv) == 0
    read = lambda name: json.loads((tmp / "out" / name).read_text())
    return read("report.json"), read("related.json")


@pytest.mark.slow
def test_the_blog_through_the_command_line(blog_run):
    report, related = blog_run
    acc = report["accounting"]
    assert {k: acc[k] for k in ("lines", "views")} | {"malformed": acc["malformed_kinds"],
                                                      "dropped": acc["dropped"]} == BLOG_ACCOUNTING
    assert acc["malformed"] + sum(acc["dropped"].values()) + acc["views"] == acc["lines"]
    assert sum(f["lines"] for f in acc["files"]) == acc["lines"] and len(acc["files"]) == 53
    assert [os.path.basename(f["path"]) for f in acc["files"]][:2] == ["access.log.52.gz", "access.log.51.gz"]
    assert [os.path.basename(f["path"]) for f in acc["files"]][-2:] == ["access.log.1", "access.log"]
    counts = report["counts"]
    assert counts["views"] == 3448 and counts["articles"] == 148 and counts["visitors"] == 936
    assert counts["rules"] > 100 and counts["itemsets"] > 100 and counts["sessions_with_2_or_more"] > 100
    # the lists: every key and every entry an article of the blog, never the article itself
    article = re.compile(BLOG_ARTICLES)
    items = related["items"]
    assert len(items) == counts["articles_with_lists"] > 20
    for url, entries in items.items():
        assert article.search(url) and 1 <= len(entries) <= 5
        assert all(article.search(e["url"]) and e["url"] != url for e in entries)
    from_rules = sum(e["source"] == "rules" for es in items.values() for e in es)
    assert from_rules == counts["recommendations_from_rules"] > 0
    assert sum(len(es) for es in items.values()) == from_rules + counts["recommendations_popular"]
    hit_rate = {row["method"]: row["hr"] for row in report["evaluation"]}
    assert hit_rate["rules"] > hit_rate["popular"]  # the rules find what readers read next
