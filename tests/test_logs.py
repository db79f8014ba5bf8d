import gzip
import io
import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys import Accounting, LogFormat, LogParseError, RecsysError, read_logs
from recsys.files import log_files
from recsys.formats import PRESETS
from recsys.logs import STANDARD_COLUMNS

DATA = Path(__file__).parent / "data"
V1 = "6f1c2d3e-0000-4000-8000-000000000001"
PARSERS = ["auto", "regex"]


def counted(path, **options):
    """``read_logs`` and the accounting it filled."""
    acc = Accounting()
    return read_logs(path, accounting=acc, **options), acc


def ts(text):
    return pd.Timestamp(text, tz="UTC")


@pytest.mark.parametrize("parser", PARSERS)
def test_combined_ut(parser):
    df, acc = counted(DATA / "combined_ut.log", parser=parser)
    assert acc.lines == 18 and acc.malformed == 2
    assert acc.malformed_kinds == {"request": 1, "format": 1}
    assert list(df.columns) == list(STANDARD_COLUMNS) + ["request_host", "protocol", "remote_user"]
    assert len(df) == 16
    first = df.iloc[0]
    assert first.ts == ts("2024-03-01 10:00:00") and pd.isna(first.visitor) and first.status == 302
    assert (first.method, first.path, first.ip, first.bytes) == ("GET", "/archives/101", "203.0.113.5", 145)
    assert first.referer == "https://www.google.com/"
    assert df.iloc[1].visitor == V1
    # query split off the path; +0100 converted to UTC
    row = df[df.path == "/archives/102"].iloc[0]
    assert row.query == "utm_source=twitter"
    assert df[df.method == "HEAD"].iloc[0].ts == ts("2024-03-01 09:03:20")
    # IPv6, escaped quotes and UTF-8 in the user agent
    assert "2001:db8::1" in set(df.ip)
    assert 'Mozilla/5.0 "Quoted" Browser/1.0 é' in set(df.user_agent)
    assert df.status.dtype == "Int16" and str(df.ts.dtype) == "datetime64[ms, UTC]"
    assert df.visitor.dtype == "category"


@pytest.mark.parametrize("parser", PARSERS)
def test_malformed_lines_are_kept_as_examples_with_line_numbers(parser):
    _, acc = counted(DATA / "combined_ut.log", parser=parser)
    lines = (DATA / "combined_ut.log").read_text().splitlines()
    assert sorted((e["line"], e["kind"]) for e in acc.examples) == [(13, "request"), (14, "format")]
    for e in acc.examples:
        assert e["text"] == lines[e["line"] - 1]
        assert e["path"] == str(DATA / "combined_ut.log")


@pytest.mark.parametrize("parser", PARSERS)
def test_tsv(parser):
    df, acc = counted(DATA / "tsv.log", log_format="tsv", parser=parser)
    assert acc.malformed == 0
    assert df.ts.tolist()[:2] == [ts("2024-03-01 10:00:01.123"), ts("2024-03-01 10:03:00.500")]
    assert df.path.tolist() == ["/archives/101", "/archives/102", "/posts/café", "/archives/103"]
    assert df["query"].tolist()[1] == "p=1&utm_medium=x"
    assert df.user_agent.tolist()[2] == "Mozilla/5.0 with\ttab"
    assert df.iloc[3].isna()[["visitor", "referer", "user_agent"]].all()


@pytest.mark.parametrize("parser", PARSERS)
def test_json(parser):
    df, acc = counted(DATA / "json.log", parser=parser)  # auto-detected
    assert acc.files[0]["format"] == "json"
    assert (acc.lines, acc.malformed, acc.malformed_kinds) == (5, 1, {"format": 1})
    assert df.ts.tolist()[:2] == [ts("2024-03-01 10:00:01"), ts("2024-03-01 10:03:00")]
    assert df.user_agent.tolist()[1] == 'Mozilla/5.0 "Quoted" \\ back\x01slash é'
    assert pd.isna(df.referer.iloc[1]) and pd.isna(df.visitor.iloc[2])
    assert df.status.tolist() == [200, 200, 302, 200]


@pytest.mark.parametrize("parser", PARSERS)
def test_custom_format_keeps_extra_variables(parser):
    fmt = ('$host $remote_addr [$time_iso8601] "$request_method $request_uri" $status $request_time '
           '"$http_user_agent" "$upstream_addr" uid=$cookie_UT_ID')
    df, acc = counted(DATA / "custom.log", log_format=fmt, parser=parser)
    assert acc.malformed == 0
    assert list(df.columns) == list(STANDARD_COLUMNS) + ["request_host", "host", "request_time", "upstream_addr"]
    assert df.host.tolist() == ["blog.example.org", "blog.example.org", "www.example.org"]
    assert df.request_time.tolist() == [0.012, 0.004, 0.1]
    assert df.upstream_addr.tolist()[0] == "10.0.0.2:8080, 10.0.0.3:8080"
    assert pd.isna(df.upstream_addr.tolist()[1])
    assert df.visitor.tolist()[:2] == [V1, V1] and pd.isna(df.visitor.iloc[2])
    assert df["query"].tolist()[1] == "replytocom=7"
    assert df.bytes.isna().all() and df.referer.isna().all()


@pytest.mark.parametrize("parser", PARSERS)
def test_nginx_conf_format_with_every_kind_of_malformed_line(parser):
    df, acc = counted(DATA / "recsys_format.log", nginx_conf=DATA / "nginx" / "nginx.conf", parser=parser)
    assert acc.lines == 6  # the last line has no newline
    assert acc.malformed_kinds == {"format": 1, "encoding": 1, "time": 1}
    assert df.path.tolist() == ["/archives/101", "/archives/103", "/archives/104"]
    assert df.request_time.tolist() == [0.012, 0.001, 0.002]
    ex = {e["kind"]: e for e in acc.examples}
    assert ex["encoding"]["line"] == 3 and ex["encoding"]["text"].startswith("\\xff\\xfe junk")
    assert ex["time"]["line"] == 4 and "31/Feb/2024" in ex["time"]["text"]
    assert ex["format"]["line"] == 2


def _rotated(tmp_path):
    src = (DATA / "combined_ut.log").read_bytes().splitlines(keepends=True)
    d = tmp_path / "logs"
    d.mkdir()
    (d / "access.log").write_bytes(b"".join(src[12:]))
    (d / "access.log.1").write_bytes(b"".join(src[6:12]))
    with gzip.open(d / "access.log.2.gz", "wb") as f:
        f.writelines(src[3:6])
    with gzip.open(d / "access.log.10.gz", "wb") as f:
        f.writelines(src[:3])
    (d / "error.log").write_text("2024/03/01 10:00:00 [error] 1#1: oops\n")
    (d / ".hidden.log").write_text("x\n")
    return d


def test_directories_are_read_oldest_first(tmp_path):
    d = _rotated(tmp_path)
    assert [Path(p).name for p in log_files(d)] == ["access.log.10.gz", "access.log.2.gz", "access.log.1", "access.log"]
    whole = read_logs(DATA / "combined_ut.log")
    rotated, acc = counted(d)
    pd.testing.assert_frame_equal(rotated.astype(str), whole.astype(str))
    assert acc.lines == 18 and [f["lines"] for f in acc.files] == [3, 3, 6, 6]


def test_dateext_rotation_order(tmp_path):
    for name in ["access.log", "access.log-20240302.gz", "access.log-20240301.gz", "blog.log"]:
        (tmp_path / name).write_bytes(b"")
    assert [Path(p).name for p in log_files(tmp_path)] == [
        "access.log-20240301.gz", "access.log-20240302.gz", "access.log", "blog.log"]


def test_standard_input(monkeypatch):
    data = (DATA / "combined_ut.log").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    df, acc = counted("-")
    assert len(df) == 16 and acc.files[0]["path"] == "-"


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(RecsysError, match="nope.log: no such file or directory"):
        read_logs(tmp_path / "nope.log")
    with pytest.raises(RecsysError, match="no access logs found"):
        read_logs(tmp_path)


def test_wrong_format_stops_with_the_failing_line_and_what_to_do():
    with pytest.raises(LogParseError) as e:
        read_logs(DATA / "combined_ut.log", log_format="tsv")
    msg = str(e.value)
    assert "most of the first 18 lines do not match the log format tsv" in msg
    assert "line 1 is: '203.0.113.5 - - [01/Mar/2024:10:00:00 +0000]" in msg
    assert "--log-format '$remote_addr" in msg and "--nginx-conf" in msg
    assert e.value.line_number == 1 and e.value.path.endswith("combined_ut.log")


def test_auto_detection_failure_names_the_presets(tmp_path):
    p = tmp_path / "x.log"
    p.write_text("hello world\nnot a log\n")
    with pytest.raises(LogParseError, match="do not match any preset .combined_ut, combined, tsv, json."):
        read_logs(p)


@pytest.mark.parametrize("block_size", [64, 300, 1000])
def test_block_boundaries_change_nothing(block_size):
    for name in ["combined_ut.log", "recsys_format.log"]:
        fmt = {"recsys_format.log": {"nginx_conf": DATA / "nginx" / "nginx.conf"}}.get(name, {})
        whole, b = counted(DATA / name, **fmt)
        small, a = counted(DATA / name, block_size=block_size, **fmt)
        pd.testing.assert_frame_equal(small.astype(str), whole.astype(str))
        assert (a.lines, a.malformed_kinds, a.examples) == (b.lines, b.malformed_kinds, b.examples)


def test_accounting_is_added_to_a_given_one():
    acc = Accounting()
    read_logs(DATA / "combined_ut.log", accounting=acc)
    read_logs(DATA / "combined.log", accounting=acc)
    assert acc.lines == 24 and len(acc.files) == 2


# property tests -------------------------------------------------------------------------------
FMT = LogFormat.preset("combined_ut")
text = st.text(st.characters(codec="utf-8", exclude_characters="\n\r"), max_size=30)
request = st.builds(lambda m, p: f"{m} /{p} HTTP/1.1", st.sampled_from(["GET", "POST", "HEAD"]),
                    st.text("abc/%?=&é-_.", max_size=20))
valid = st.fixed_dictionaries({
    "remote_addr": st.sampled_from(["203.0.113.5", "2001:db8::1", "::1"]),
    "time_local": st.builds(lambda d, h: f"{d:02d}/Mar/2024:{h:02d}:00:00 +0000", st.integers(1, 28), st.integers(0, 23)),
    "request": request,
    "status": st.sampled_from(["200", "304", "302", "404"]),
    "body_bytes_sent": st.integers(0, 10**9).map(str),
    "http_referer": st.one_of(st.none(), text),
    "http_user_agent": st.one_of(st.none(), text),
    "cookie_UT_ID": st.one_of(st.none(), st.uuids().map(str)),
})
junk = st.one_of(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")),
                 valid.map(lambda v: FMT.render(v).encode()[: len(FMT.render(v)) // 2]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(valid, min_size=1, max_size=25), st.lists(junk, max_size=8), st.randoms(use_true_random=False))
def test_every_line_is_counted_once_and_valid_lines_parse_exactly(tmp_path, rows, junk_lines, rnd):
    lines = [(FMT.render(r).encode(), r) for r in rows] + [(j, None) for j in junk_lines]
    rnd.shuffle(lines)
    p = tmp_path / "access.log"
    p.write_bytes(b"\n".join(line for line, _ in lines) + b"\n")
    results = []
    for parser in PARSERS:
        try:
            df, acc = counted(p, log_format=FMT, parser=parser, block_size=256)
        except LogParseError:
            assert 2 * len(rows) <= len(lines[:1000])
            return
        assert acc.lines == len(lines)
        assert acc.malformed + len(df) == acc.lines
        assert len(df) >= len(rows)
        results.append(df)
    pd.testing.assert_frame_equal(results[0].astype(str), results[1].astype(str))
    parsed = results[0]
    got = set(zip(parsed.visitor.astype(object).where(parsed.visitor.notna(), None), parsed.bytes))
    for r in rows:
        assert (r["cookie_UT_ID"], int(r["body_bytes_sent"])) in got


def test_a_truncated_archive_is_read_up_to_the_damage(tmp_path, caplog):
    data = gzip.compress((DATA / "combined_ut.log").read_bytes() * 50, mtime=0)
    p = tmp_path / "access.log.2.gz"
    p.write_bytes(data[: len(data) * 2 // 3])
    df, acc = counted(p)
    assert 0 < acc.lines < 18 * 50
    assert acc.malformed + len(df) == acc.lines
    assert acc.files[0]["warnings"] == ["the compressed file ends early (truncated); read up to the damage"]
    assert "ends early" in caplog.text
    # every byte zlib can decode is read: the lines before the damage, and the cut one
    decodable = zlib.decompressobj(wbits=31).decompress(data[: len(data) * 2 // 3])
    assert acc.lines == decodable.count(b"\n") + (not decodable.endswith(b"\n"))


def test_empty_files_are_fine(tmp_path):
    (tmp_path / "access.log").write_bytes(b"")
    df, acc = counted(tmp_path)
    assert len(df) == 0 and list(df.columns)[:10] == list(STANDARD_COLUMNS)
    assert acc.lines == 0


def test_concatenated_gzip_members_and_bzip2_xz(tmp_path):
    import bz2, lzma
    lines = (DATA / "combined_ut.log").read_bytes()
    half = len(lines) // 2
    cut = lines.rindex(b"\n", 0, half) + 1
    (tmp_path / "a.log.gz").write_bytes(gzip.compress(lines[:cut]) + gzip.compress(lines[cut:]))
    (tmp_path / "b.log.bz2").write_bytes(bz2.compress(lines))
    (tmp_path / "c.log.xz").write_bytes(lzma.compress(lines))
    whole = read_logs(DATA / "combined_ut.log").astype(str)
    for name in ["a.log.gz", "b.log.bz2", "c.log.xz"]:
        df, acc = counted(tmp_path / name, block_size=200)
        pd.testing.assert_frame_equal(df.astype(str), whole)
        assert acc.files[0]["warnings"] == []


def test_the_fast_path_reads_what_the_regex_reads_on_lines_a_csv_reader_gets_wrong(tmp_path):
    import recsys.files as files
    import recsys.tokenizer as tokenizer

    good = (DATA / "combined_ut.log").read_text().splitlines()[1]
    cut_in_quotes = good[: good.index("(X11") + 3]  # a quote left open: joins the next line
    cut_after_field = good[: good.rindex('"6f1c')]  # ends with a space: an empty unquoted field
    unquoted = good.replace('"https://www.google.com/"', "https://www.google.com/")  # quotes missing
    bad_utf8 = good.encode()[:60] + b"\xff\xfe" + good.encode()[62:]
    lines = [good.encode()] * 3 + [cut_in_quotes.encode(), good.encode(), cut_after_field.encode(),
                                   good.encode(), unquoted.encode(), bad_utf8, good.encode()] * 4
    p = tmp_path / "access.log"
    p.write_bytes(b"\n".join(lines) + b"\n")
    chunk = next(files.read_blocks(open(p, "rb"), 1 << 20, []))
    assert tokenizer._fast_path(chunk, LogFormat.preset("combined_ut")) is not None  # no fallback
    (fast, a), (ref, b) = counted(p, parser="auto"), counted(p, parser="regex")
    pd.testing.assert_frame_equal(fast.astype(str), ref.astype(str))
    assert a.malformed_kinds == b.malformed_kinds == {"format": 12, "encoding": 4}
    assert len(fast) == 3 + 4 * 3 and a.lines == len(lines)
    assert sorted(e["line"] for e in a.examples) == sorted(e["line"] for e in b.examples)


def test_a_text_log_starting_with_archive_magic_is_read_as_text(tmp_path, caplog):
    good = (DATA / "combined_ut.log").read_bytes()
    p = tmp_path / "access.log"
    p.write_bytes(b"\xfd7zXZ\x00junk\n" + good)
    _, acc = counted(p)
    assert acc.lines == 19 and acc.malformed_kinds == {"encoding": 1, "format": 1, "request": 1}
    assert "starts like a compressed file but is not one" in caplog.text


@pytest.mark.parametrize("parser", PARSERS)
def test_empty_lines_between_valid_ones(tmp_path, parser):
    good = (DATA / "combined_ut.log").read_text().splitlines()[1]
    p = tmp_path / "access.log"
    p.write_text(f"{good}\n\n{good}\n\n\n{good}\n")
    df, acc = counted(p, parser=parser)
    assert len(df) == 3 and acc.malformed_kinds == {"format": 3}


def test_reads_in_threads_at_once_do_not_mix_their_lines(tmp_path):
    """Lines set aside (bad UTF-8 here) are cut out of a block in a buffer of the block's own."""
    from concurrent.futures import ThreadPoolExecutor

    good = (DATA / "combined_ut.log").read_text().splitlines()[1]
    paths = []
    for k in range(4):
        rows = [good.replace("Mozilla/5.0", f"Moz{k}/5.0 {i}").encode() for i in range(3000)]
        rows[::50] = [r[:60] + b"\xff\xfe" + r[62:] for r in rows[::50]]
        paths.append(tmp_path / f"access{k}.log")
        paths[-1].write_bytes(b"\n".join(rows) + b"\n")
    alone = [read_logs(p, block_size=1 << 16) for p in paths]
    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda p: read_logs(p, block_size=1 << 16), paths))
        for a, b in zip(alone, together):
            pd.testing.assert_frame_equal(a.astype(str), b.astype(str))


# what real servers write (issue 11) ------------------------------------------------------------
COMBINED = LogFormat.preset("combined")
HEAD = '203.0.113.5 - - [01/Mar/2024:10:00:00 +0000] '
UA = '"-" "Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0"'


def _log(tmp_path, lines, name="access.log"):
    p = tmp_path / name
    p.write_text("".join(line + "\n" for line in lines))
    return p


def _both(path, fmt, **options):
    """The fast path's table and accounting, after checking the regex path gives the same."""
    (fast, a), (ref, b) = (counted(path, log_format=fmt, parser=p, **options) for p in PARSERS)
    pd.testing.assert_frame_equal(fast.astype(str), ref.astype(str))
    assert (a.lines, a.malformed_kinds, a.examples) == (b.lines, b.malformed_kinds, b.examples)
    return fast, a


def test_a_dash_for_a_number_is_a_missing_value_and_keeps_the_fast_path(tmp_path):
    """Apache's %b writes "-" for zero bytes (670 of 10,000 lines of a real log were malformed)."""
    import recsys.files as files
    import recsys.tokenizer as tokenizer

    p = _log(tmp_path, [HEAD + '"GET /a HTTP/1.1" 304 - ' + UA, HEAD + '"GET /b HTTP/1.1" 200 512 ' + UA] * 3)
    chunk = next(files.read_blocks(open(p, "rb"), 1 << 20, []))
    assert tokenizer._fast_path(chunk, COMBINED) is not None  # the check of "-" is no reason to fall back
    df, acc = _both(p, COMBINED)
    assert acc.malformed == 0 and df.bytes.tolist() == [pd.NA, 512] * 3
    fmt = '$remote_addr [$time_local] "$request" $status $bytes_sent $request_time $request_length'
    p = _log(tmp_path, ['::1 [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 - - -',
                        '::1 [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 10 0.250 77'], "x.log")
    df, acc = _both(p, fmt)
    assert acc.malformed == 0
    assert df.bytes.isna().tolist() == [True, False] and df.request_time.tolist() == [pd.NA, 0.25]
    assert df.request_length.tolist() == [pd.NA, 77]


def test_numbers_too_long_make_their_line_malformed_not_the_run_fail(tmp_path):
    """A 20-digit $body_bytes_sent or $msec stopped the run ("Failed to parse string ... int64")."""
    big = "12345678901234567890"
    lines = [HEAD + '"GET /a HTTP/1.1" 200 512 ' + UA,
             HEAD + f'"GET /a HTTP/1.1" 200 {big} ' + UA,  # overflows int64
             HEAD + '"GET /a HTTP/1.1" 200 999999999999999999 ' + UA,  # 18 digits: fits
             HEAD + '"GET /a HTTP/1.1" 2000 512 ' + UA,  # not a status
             HEAD + '"GET /a HTTP/1.1" 200 512 ' + UA]
    df, acc = _both(_log(tmp_path, lines), COMBINED)
    assert acc.malformed_kinds == {"format": 2} and df.bytes.tolist() == [512, 999999999999999999, 512]
    assert [(e["line"], e["kind"]) for e in acc.examples] == [(2, "format"), (4, "format")]
    assert acc.examples[0]["text"] == lines[1]
    tsv = ["\t".join([ms, "::1", "GET", "/archives/1", "200", size, "-", "Firefox", "-"])
           for ms, size in [("1709287201.123", "5"), (big + ".5", "5"), ("1709287201.123", big),
                            ("253402300799.999", "5"), ("253402300800.000", "5")]]
    df, acc = _both(_log(tmp_path, tsv, "t.log"), "tsv")
    # a time after the year 9999 is impossible (kind "time", as 31/Feb), a count too long "format"
    assert acc.malformed_kinds == {"time": 2, "format": 1}
    assert [(e["line"], e["kind"]) for e in acc.examples] == [(2, "time"), (3, "format"), (5, "time")]
    assert df.ts.astype(str).tolist() == ["2024-03-01 10:00:01.123+00:00", "9999-12-31 23:59:59.999+00:00"]
    fmt = '$remote_addr [$time_local] "$request" $status $request_time'
    df, acc = _both(_log(tmp_path, ['::1 [01/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 ' + t
                                    for t in ("0.001", big + ".001")], "r.log"), fmt)
    assert acc.malformed_kinds == {"format": 1} and df.request_time.tolist() == [0.001]


REQUESTS = [
    # request line, method, path, query, protocol, request_host
    ("GET /archives/1?utm_source=x HTTP/1.1", "GET", "/archives/1", "utm_source=x", "HTTP/1.1", None),
    ("GET http://www.example.com/path?q HTTP/1.0", "GET", "/path", "q", "HTTP/1.0", "www.example.com"),
    ("GET https://user:pw@example.org:8443 HTTP/1.1", "GET", "/", None, "HTTP/1.1", "example.org:8443"),
    ("GET /x.js type= HTTP/1.0", "GET", "/x.js type=", None, "HTTP/1.0", None),
    ("GET /a HTTP/1.0 HTTP/1.1", "GET", "/a HTTP/1.0", None, "HTTP/1.1", None),
    ("GET /\\x22 + gaJsHost + \\x22ga.js HTTP/1.1", "GET", '/" + gaJsHost + "ga.js', None, "HTTP/1.1", None),
    ("GET /old", "GET", "/old", None, None, None),  # HTTP/0.9
    ("GET //host/path HTTP/2.0", "GET", "//host/path", None, "HTTP/2.0", None),  # a path, not a host
    ("GET /search?u=http://x.org/ HTTP/1.1", "GET", "/search", "u=http://x.org/", "HTTP/1.1", None),
    ("-", None, None, None, None, None),  # a connection that sent no request line
    ("", None, None, None, None, None),
]
GARBAGE = ["hello", "\\x16\\x03\\x01\\x00\\xA5\\x01", "GET  HTTP/1.1", "HTTP/1.1 200 OK", "get / HTTP/1.1", "GET"]


def test_request_lines_as_real_servers_log_them(tmp_path):
    lines = [HEAD + f'"{r[0]}" 200 5 ' + UA for r in REQUESTS] + [HEAD + f'"{g}" 400 0 "-" "-"' for g in GARBAGE]
    df, acc = _both(_log(tmp_path, lines), COMBINED)
    assert acc.malformed_kinds == {"request": len(GARBAGE)}
    assert sorted(e["line"] for e in acc.examples) == list(range(len(REQUESTS) + 1, len(REQUESTS) + 6))
    got = df[["method", "path", "query", "protocol", "request_host"]].astype(object)
    got = [tuple(None if pd.isna(v) else v for v in row) for row in got.itertuples(index=False)]
    assert got == [r[1:] for r in REQUESTS]
    assert list(df.columns) == list(STANDARD_COLUMNS) + ["request_host", "protocol", "remote_user"]
    # the requests without request line are dropped with a reason of their own, first
    recsys.page_views(df, accounting=acc)
    assert acc.check().dropped["no_request"] == 2


def test_absolute_request_uri_and_no_request_without_request_line(tmp_path):
    rows = [("1709287201.123", "GET", "http://blog.example.org/archives/1?a=b"), ("1709287202.000", "-", "-"),
            ("1709287203.000", "GET", "/archives/2")]
    p = _log(tmp_path, ["\t".join([t, "::1", m, u, "200", "5", "-", "Firefox", "-"]) for t, m, u in rows])
    df, acc = _both(p, "tsv")
    assert acc.malformed == 0 and "protocol" not in df.columns
    assert df.path.astype(object).where(df.path.notna(), None).tolist() == ["/archives/1", None, "/archives/2"]
    assert df.request_host.astype(object).where(df.request_host.notna(), None).tolist() == ["blog.example.org", None, None]
    recsys.page_views(df, accounting=acc)
    assert acc.dropped["no_request"] == 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(
    st.sampled_from(["GET", "POST", "PROPFIND", "M-SEARCH"]),
    st.sampled_from(["", "http://h.example", "https://h.example:8443"]),
    st.text(st.sampled_from("ab/ ?=&.%"), max_size=12).filter(lambda s: not s.startswith(" ")),
    st.sampled_from(["", " HTTP/1.1", " HTTP/2", " HTTP/1.0"])), min_size=1, max_size=20))
def test_a_request_line_splits_on_its_first_and_last_space(tmp_path, requests):
    """An oracle in plain Python: the method before the first space, the protocol after the last."""
    lines = []
    for method, origin, rest, proto in requests:
        target = origin + ("/" + rest if origin or not rest.startswith("/") else rest)
        lines.append(HEAD + f'"{method} {target}{proto}" 200 5 ' + UA)
    df, acc = _both(_log(tmp_path, lines), COMBINED)
    assert acc.malformed == 0 and len(df) == len(lines)
    for (method, origin, _, proto), line, row in zip(requests, lines, df.itertuples()):
        request = line.split('"')[1]
        head, _, tail = request.rpartition(" ")
        if not (tail.startswith("HTTP/") and " " in head):
            head, tail = request, None
        target = head.split(" ", 1)[1]
        host = origin.split("://")[1] if origin else None
        if host:
            target = target[len(origin):] or "/"
        path, _, query = target.partition("?")
        got = [None if pd.isna(v) else v for v in (row.method, row.path, row.query, row.protocol, row.request_host)]
        assert got == [method, path, query or None, tail, host]


CHAIN_CASES = [
    # ($http_x_forwarded_for, $remote_addr) -> ip, forwarded_for
    ("-", "172.17.0.1", "172.17.0.1", "172.17.0.1"),
    ("10.5.102.222, 199.96.1.1, 204.246.1.1", "10.2.1.185", "199.96.1.1", "10.5.102.222,199.96.1.1,204.246.1.1,10.2.1.185"),
    ("10.0.0.2, 10.0.0.1", "127.0.0.1", "10.0.0.2", "10.0.0.2,10.0.0.1,127.0.0.1"),  # none public: the first
    ("unknown, 192.168.1.9", "10.0.0.1", "unknown", "unknown,192.168.1.9,10.0.0.1"),
    ("fe80::1, 2a03:0000:10ff:f00f:0000:0000:0:8000", "::1", "2a03:0000:10ff:f00f:0000:0000:0:8000",
     "fe80::1,2a03:0000:10ff:f00f:0000:0000:0:8000,::1"),
    ("[2001:db8:1::5]:443, 81.2.69.143:5555", "10.0.0.1", "2001:db8:1::5", "[2001:db8:1::5]:443,81.2.69.143:5555,10.0.0.1"),
    ("::ffff:192.168.0.1, 81.2.69.143", "10.0.0.1", "81.2.69.143", "::ffff:192.168.0.1,81.2.69.143,10.0.0.1"),
    ("-", "unix:", "unix:", "unix:"),
]


@pytest.mark.parametrize("fmt", [
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$http_x_forwarded_for"',
    '$http_x_forwarded_for $remote_addr [$time_local] "$request" $status',
])
def test_the_client_of_an_address_chain(tmp_path, fmt):
    fmt = LogFormat.parse(fmt)
    values = lambda xff, addr: {"remote_addr": addr, "http_x_forwarded_for": xff, "time_local": "01/Mar/2024:10:00:00 +0000",
                                "request": "GET / HTTP/1.1", "status": "200", "body_bytes_sent": "5"}
    lines = [fmt.render(values(xff, addr)).replace("\\x22", '"') for xff, addr, _, _ in CHAIN_CASES] * 2
    df, acc = _both(_log(tmp_path, lines), fmt)
    assert acc.malformed == 0
    assert list(zip(df.ip, df.forwarded_for)) == [(ip, chain) for _, _, ip, chain in CHAIN_CASES] * 2
    assert "http_x_forwarded_for" not in df.columns


def test_proxy_add_x_forwarded_for_ends_with_the_address_already(tmp_path):
    fmt = '$proxy_add_x_forwarded_for - $remote_user [$time_local] "$request" $status $body_bytes_sent'
    p = _log(tmp_path, ['10.0.0.2, 10.0.0.1, 127.0.0.1 - - [01/Mar/2024:10:00:00 +0100] "GET / HTTP/1.1" 200 5',
                        '10.0.0.2, 85.181.35.98 - - [01/Mar/2024:10:00:00 +0100] "GET / HTTP/1.1" 200 5',
                        '85.181.35.98 - - [01/Mar/2024:10:00:00 +0100] "GET / HTTP/1.1" 200 5'])
    df, _ = _both(p, fmt)
    assert df.ip.tolist() == ["10.0.0.2", "85.181.35.98", "85.181.35.98"]
    assert df.forwarded_for.tolist() == ["10.0.0.2,10.0.0.1,127.0.0.1", "10.0.0.2,85.181.35.98", "85.181.35.98"]


def test_a_named_pipe_is_read_and_a_device_refused(tmp_path):
    import threading

    from recsys.errors import RecsysError

    line = '::1 - - [01/Feb/2024:10:00:00 +0000] "GET /archives/7 HTTP/1.1" 200 512 "-" "Firefox" "abc"\n'
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(line * 3))
    writer.start()
    assert len(read_logs(str(fifo))) == 3
    writer.join()
    with pytest.raises(RecsysError, match="/dev/zero is a device, not a log file"):
        read_logs("/dev/zero")


# formats that change inside a file or a family ------------------------------------------------
@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """The same simulated requests logged as combined_ut and as tsv, line for line.

    Only the lines both formats read into a request are kept, so that either gives the same rows
    (the tsv lines' times have milliseconds, the combined_ut ones do not).
    """
    import re

    from recsys.columns import REQUEST_LINE
    from recsys.simulate import simulate

    d = tmp_path_factory.mktemp("twin")
    simulate(d / "ut", visitors=300, days=2, seed=4, rotate=False)
    simulate(d / "tsv", visitors=300, days=2, seed=4, rotate=False, log_format="tsv")
    ut, tsv = [(d / f / "access.log").read_bytes().splitlines(keepends=True) for f in ("ut", "tsv")]
    rx_ut, rx_tsv = re.compile(LogFormat.preset("combined_ut").regex), re.compile(LogFormat.preset("tsv").regex)
    keep = []
    for u, t in zip(ut, tsv, strict=True):
        try:
            m = rx_ut.match(u.decode().rstrip("\n"))
        except UnicodeDecodeError:
            continue
        # (a target with a space is read from $request, but nginx's $request_uri of it is "-")
        if m and re.match(REQUEST_LINE, m["request"]) and " " not in m["request"].split(" ", 1)[1].rsplit(" ", 1)[0] \
                and rx_tsv.match(t.decode().rstrip("\n")):
            keep.append((u, t))
    assert len(keep) > 4000
    return [u for u, _ in keep], [t for _, t in keep]


def junk(n):
    return [f"junk line {i}: not a log line\n".encode() for i in range(n)]


def _same_requests(got, ut_rows, tsv_rows, from_tsv):
    """``got`` holds the rows of the twin log's lines, each read in the format it was written in."""
    assert len(got) == len(ut_rows) == len(tsv_rows)
    for col in ["visitor", "ip", "method", "path", "query", "status", "bytes", "referer", "user_agent"]:
        assert got[col].astype(str).tolist() == ut_rows[col].astype(str).tolist(), col
    want_ts = np.where(from_tsv, tsv_rows.ts.to_numpy(), ut_rows.ts.to_numpy())
    assert (got.ts.to_numpy() == want_ts).all()


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("switch", [300, 2500])  # inside the first 1000 lines, which are probed, or after
def test_a_format_change_inside_a_file_is_followed_and_reported(tmp_path, twin, parser, switch, caplog):
    ut, tsv = twin
    n = len(ut)
    p = tmp_path / "access.log"
    p.write_bytes(b"".join(ut[:switch] + tsv[switch:]))
    ut_rows = read_logs(_write(tmp_path / "ut.log", ut))
    tsv_rows = read_logs(_write(tmp_path / "tsv.log", tsv), log_format="tsv")
    for block_size in [1 << 20, 1 << 15]:
        caplog.clear()
        got, acc = counted(p, parser=parser, block_size=block_size)
        _same_requests(got, ut_rows, tsv_rows, np.arange(n) >= switch)
        assert (acc.lines, acc.malformed) == (n, 0)
        assert acc.files[0]["format"] == "combined_ut"
        assert acc.files[0]["formats"] == [
            {"format": "combined_ut", "escape": "default", "template": PRESETS["combined_ut"][0],
             "first_line": 1, "last_line": switch, "lines": switch},
            {"format": "tsv", "escape": "default", "template": PRESETS["tsv"][0],
             "first_line": switch + 1, "last_line": n, "lines": n - switch},
        ]
        assert f"line {switch + 1} is the first in log format tsv (the lines before are in combined_ut)" in caplog.text
        assert str(p) in caplog.text


def _write(path, lines):
    path.write_bytes(b"".join(lines))
    return path


@pytest.mark.parametrize("parser", PARSERS)
def test_interleaved_formats_each_line_read_by_its_own_in_log_order(tmp_path, twin, parser):
    """Two access_log directives writing one file: the lines alternate between two formats."""
    ut, tsv = twin
    n = len(ut)
    from_tsv = np.arange(n) % 3 == 0
    lines = [t if k else u for u, t, k in zip(ut, tsv, from_tsv)]
    junk = {17: b"\xff\xfe not UTF-8\n", 1234: b"hello\n", 3000: ut[5][:40] + b"\n"}  # cut, bad bytes, junk
    for at in sorted(junk, reverse=True):
        lines.insert(at, junk[at])
    p = _write(tmp_path / "access.log", lines)
    ut_rows = read_logs(_write(tmp_path / "ut.log", ut))
    tsv_rows = read_logs(_write(tmp_path / "tsv.log", tsv), log_format="tsv")
    auto, acc = counted(p, parser=parser, block_size=1 << 16)
    _same_requests(auto, ut_rows, tsv_rows, from_tsv)
    assert (acc.lines, acc.malformed_kinds) == (n + 3, {"format": 2, "encoding": 1})
    # lines in no format stay malformed, shown with their real line numbers
    assert sorted((e["line"], e["kind"]) for e in acc.examples) == [(18, "encoding"), (1236, "format"), (3003, "format")]
    text = p.read_bytes().decode("utf-8", "backslashreplace").split("\n")
    assert all(e["text"] == text[e["line"] - 1] for e in acc.examples)
    formats = acc.files[0]["formats"]
    assert [(f["format"], f["first_line"], f["lines"]) for f in formats] == [
        ("tsv", 1, int(from_tsv.sum())), ("combined_ut", 2, n - int(from_tsv.sum()))]
    last = lambda mask: int(np.flatnonzero(mask)[-1]) + 1 + 3  # the junk lines are before it
    assert (formats[0]["last_line"], formats[1]["last_line"]) == (last(from_tsv), last(~from_tsv))
    # a list of formats given: the same rows
    given, given_acc = counted(p, log_format=["combined_ut", "tsv"], parser=parser)
    pd.testing.assert_frame_equal(given.astype(str), auto.astype(str))
    assert given_acc.malformed_kinds == acc.malformed_kinds
    # one format given: the lines of the other are malformed, as before
    _, one = counted(p, log_format="combined_ut", parser=parser)
    assert one.malformed_kinds == {"format": 2 + int(from_tsv.sum()), "encoding": 1}
    assert [f["format"] for f in one.files[0]["formats"]] == ["combined_ut"]


def test_a_list_of_formats_is_tried_in_its_order(tmp_path):
    """A line two formats match is read by the first of the list."""
    xff = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
           '"$http_referer" "$http_user_agent" "$http_x_trace"')
    p = DATA / "combined_ut.log"
    ut_first = read_logs(p, log_format=["combined_ut", xff])
    xff_first, xff_acc = counted(p, log_format=[xff, "combined_ut"])
    assert ut_first.visitor.notna().sum() == 12 and "http_x_trace" not in ut_first
    assert xff_first.visitor.isna().all() and xff_first.http_x_trace.notna().sum() == 12
    assert list(xff_first.http_x_trace.dropna()) == list(ut_first.visitor.dropna())
    assert [f["format"] for f in xff_acc.files[0]["formats"]] == [xff]
    with pytest.raises(recsys.LogFormatError, match="a list of formats"):
        read_logs(p, log_format=["auto", "tsv"])
    with pytest.raises(recsys.LogFormatError, match="a list of formats"):
        read_logs(p, log_format=[])
    # from an nginx.conf: several format names
    conf = DATA / "nginx" / "nginx.conf"
    _, both = counted(DATA / "recsys_format.log", nginx_conf=conf, format_name=["short", "recsys"])
    assert both.malformed_kinds == {"format": 1, "encoding": 1, "time": 1}


def test_a_family_whose_format_changed_at_rotation(tmp_path, twin):
    ut, tsv = twin
    d = tmp_path / "logs"
    d.mkdir()
    _write(d / "access.log.1", ut[:100])
    _write(d / "access.log", junk(1) + tsv[100:101] + junk(2))  # a new file, mostly junk so far
    df, acc = counted(d)
    assert (acc.lines, acc.malformed, len(df)) == (104, 3, 101)
    assert [f["format"] for f in acc.files] == ["combined_ut", "tsv"]
    assert acc.files[1]["formats"][0]["first_line"] == 2
    # alone, the same file stops the read: its format is not known
    with pytest.raises(LogParseError, match="most of the first 4 lines do not match any preset"):
        read_logs(d / "access.log")


# a rotated family read as one stream (issue 13) ----------------------------------------------------
def _family(d, ut, tsv):
    """A logrotate family of small files, oldest first, holding what a real one may: malformed lines
    of every kind, an empty file, a format changed inside a file and at a rotation, a file that
    begins with junk, and a first line only an earlier preset reads (the probe may not reuse the
    format of the file before). Returns the files, oldest first."""
    import re

    bad_time = re.sub(rb"\[[^]]+\]", b"[31/Feb/2024:00:00:00 +0000]", ut[7], count=1)
    bad_request = re.sub(rb'"[A-Z]+ ', b'"get ', ut[8], count=1)
    combined = [re_cut(u) for u in ut[900:930]]  # combined_ut without the cookie: combined lines
    parts = [
        ut[:300],
        ut[300:310] + [b"junk\n", b"\xff\xfe not UTF-8\n", bad_time, bad_request] + ut[310:500],
        [],
        ut[500:520] + tsv[520:560],  # nginx reloaded with another log_format
        tsv[560:700],  # and rotated
        junk(3) + tsv[700:800],
        ut[800:900],
        combined,  # the probe must not take combined_ut from the file before
        ut[930:1000],
    ]
    names = [f"access.log.{k}.gz" if k > 1 else f"access.log.{k}" if k else "access.log"
             for k in range(len(parts) - 1, -1, -1)]
    files = []
    for name, lines in zip(names, parts):
        data = b"".join(lines)
        (d / name).write_bytes(gzip.compress(data, mtime=0) if name.endswith(".gz") else data)
        files.append(d / name)
    assert [Path(f).name for f in log_files(d)] == names
    return files


def re_cut(line: bytes) -> bytes:
    """A combined_ut line without its cookie field: a combined line."""
    return line.rstrip(b"\n").rsplit(b' "', 1)[0] + b"\n"


def _alone(files, **options):
    """Each file read by itself, as the family's read takes it (its family read already but for
    the first): the oracle of a family read. Their frames and accountings."""
    from recsys.files import family_of

    out = [_read(f, families={family_of(str(f))} if k else set(), **options) for k, f in enumerate(files)]
    return [df for df, _ in out], [acc for _, acc in out]


@pytest.mark.parametrize("parser", PARSERS)
@pytest.mark.parametrize("block_size", [1 << 20, 1 << 13])
def test_a_family_of_small_files_shares_blocks_and_reads_as_each_file_alone(tmp_path, twin, parser, block_size):
    from recsys.logs import iter_pieces

    ut, tsv = twin
    files = _family(tmp_path, ut, tsv)
    frames, alone = _alone(files, parser=parser, block_size=block_size)
    # one accounting for the family: the same rows, records, counts and examples as file by file
    df, acc = _read(tmp_path, parser=parser, block_size=block_size)
    pd.testing.assert_frame_equal(df.astype(str), pd.concat(frames, ignore_index=True).astype(str)[list(df.columns)])
    merged = Accounting()
    for a in alone:
        merged.merge(a)
    assert acc.to_dict() == merged.to_dict()
    assert acc.malformed_kinds == {"format": 4, "encoding": 1, "time": 1, "request": 1}
    assert [f["format"] for f in acc.files] == ["combined_ut", "combined_ut", None, "combined_ut", "tsv", "tsv",
                                                 "combined_ut", "combined", "combined_ut"]
    # an accounting per file: each file's own, and the rows of each block say whose they are
    accs = [Accounting() for _ in files]
    blocks = list(iter_pieces(tmp_path, accounting=accs, parser=parser, block_size=block_size))
    assert [a.to_dict() for a in accs] == [a.to_dict() for a in alone]
    rows = np.zeros(len(files), int)
    for table, pieces in blocks:
        assert sum(n for _, n in pieces) == table.num_rows
        for i, n in pieces:
            rows[i] += n
    assert rows.tolist() == [len(f) for f in frames]
    assert sorted({i for _, pieces in blocks for i, _ in pieces}) == list(range(len(files)))
    if block_size == 1 << 20:  # small files share a block while their first format is the same
        assert [[i for i, _ in pieces] for _, pieces in blocks] == [[0, 1, 2, 3], [4, 5], [6], [7], [8]]


@pytest.mark.parametrize("parser", PARSERS)
def test_blocks_read_ahead_are_not_overwritten_while_the_reader_is_slow(tmp_path, twin, monkeypatch, parser):
    """The reader thread runs ahead of a slow parser, over files whose ends share blocks and whose
    blocks fill several buffers: no block's bytes change before it is parsed (the regex, the
    malformed lines and their examples read them)."""
    import re
    import time

    from recsys import logs

    ut, _ = twin
    for k in range(12):
        lines = ut[k * 300 : k * 300 + 300 + 37 * k]
        lines[k * 7] = re.sub(rb'"[A-Z]+ ', b'"get ', lines[k * 7], count=1)  # a malformed request line
        _write(tmp_path / ("access.log" if k == 11 else f"access.log.{11 - k}"), lines)
    files = log_files(tmp_path)
    alone = [_read(f, parser=parser, block_size=1 << 14, families={("x", "y")}) for f in files]
    parse = logs._parse_block

    def slow(*args):
        time.sleep(0.01)  # the reader thread fills every buffer it may meanwhile
        return parse(*args)

    monkeypatch.setattr(logs, "_parse_block", slow)
    got, accs = [[] for _ in files], [Accounting() for _ in files]
    for table, pieces in logs.iter_pieces(tmp_path, accounting=accs, parser=parser, block_size=1 << 14):
        at = 0
        for i, n in pieces:
            got[i].append(table.slice(at, n))
            at += n
    for (df, acc), parts, mine in zip(alone, got, accs):
        pd.testing.assert_frame_equal(logs.to_pandas(logs._concat(parts)).astype(str), df.astype(str))
        assert mine.to_dict() == acc.to_dict()


text_lines = st.lists(st.sampled_from(["ut", "tsv", "combined", "junk", "empty"]), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=text_lines, hint=st.sampled_from(["combined_ut", "combined", "tsv", "json"]))
def test_a_format_checked_first_on_a_new_file_finds_what_detection_finds(twin, kinds, hint):
    from recsys.detection import start_formats

    ut, tsv = twin
    pick = {"ut": ut[1], "tsv": tsv[2], "combined": re_cut(ut[3]), "junk": b"junk\n", "empty": b"\n"}
    head = b"".join(pick[k] for k in kinds)
    want = start_formats(None, head, "f", known=[], strict=False)
    got = start_formats(None, head, "f", known=[], strict=False, hint=[LogFormat.preset(hint)])
    assert [(f.template, f.escape) for f in got] == [(f.template, f.escape) for f in want]


def test_a_log_that_starts_with_junk_is_read(tmp_path, twin, caplog):
    ut, _ = twin
    p = _write(tmp_path / "access.log", junk(600) + ut[:900])
    df, acc = counted(p)
    assert (acc.lines, acc.malformed_kinds, len(df)) == (1500, {"format": 600}, 900)
    assert acc.files[0]["formats"][0]["first_line"] == 601
    assert "lines 1 to 600 match no log format" in caplog.text
    # junk throughout is a wrong format, not a junk start
    with pytest.raises(LogParseError, match="most of the first 1000 lines"):
        read_logs(_write(tmp_path / "b.log", [line for g in ut[:400] for line in (b"junk\n", b"junk\n", g)]))


# a grown file read from where an earlier read stopped ---------------------------------------------
def _read(path, **options):
    from recsys.logs import _concat, iter_tables, to_pandas

    acc = Accounting()
    tables = list(iter_tables(path, accounting=acc, **options))
    return to_pandas(_concat(tables)), acc


@pytest.mark.parametrize("parser", PARSERS)
def test_a_grown_file_resumed_reads_as_the_whole_file(tmp_path, twin, parser):
    """nginx reloaded with another log_format writing on in the same file, and half a line."""
    ut, tsv = twin
    p = _write(tmp_path / "access.log", ut[:3000])
    size = p.stat().st_size
    _, before = _read(p, parser=parser)
    record = before.files[0]
    half = ut[3300][:50]  # no newline yet
    _write(p, ut[:3000] + junk(1) + tsv[3000:3300] + [half])
    tail, acc = _read(p, parser=parser, resume={str(p): (size, record["lines"], record)})
    whole, cold = _read(p, parser=parser)
    head, _ = _read(_write(tmp_path / "head.log", ut[:3000]), parser=parser)
    pd.testing.assert_frame_equal(pd.concat([head, tail], ignore_index=True).astype(str), whole.astype(str))
    assert acc.files == cold.files  # the record of the whole file
    assert (before.lines + acc.lines, acc.malformed_kinds) == (cold.lines, cold.malformed_kinds) == (
        3302, {"format": 2})
    assert acc.examples == cold.examples  # with the file's line numbers
    assert [e["line"] for e in acc.examples] == [3001, 3302]
    assert [(f["format"], f["first_line"]) for f in acc.files[0]["formats"]] == [("combined_ut", 1), ("tsv", 3002)]


def test_a_resumed_tail_with_its_format_known_counts_what_does_not_match(tmp_path, twin):
    """As the cache resumes today: (offset, lines) and the format of the part read before."""
    ut, _ = twin
    p = _write(tmp_path / "access.log", ut[:20])
    size = p.stat().st_size
    _write(p, ut[:20] + [ut[20][:50]])  # half a line, the newline not written yet
    tail, acc = _read(p, log_format=LogFormat.preset("combined_ut"), resume={str(p): (size, 20)})
    assert len(tail) == 0 and (acc.lines, acc.malformed_kinds) == (1, {"format": 1})
    assert acc.examples[0]["line"] == 21 and acc.files[0]["lines"] == 21
