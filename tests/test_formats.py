import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys import LogFormat, LogFormatError
from recsys.formats import PRESETS
from recsys.formats import resolve_log_format, unescape

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_parse_their_own_lines(name):
    fmt = LogFormat.preset(name)
    values = {
        "remote_addr": "2001:db8::1", "remote_user": None, "time_local": "01/Mar/2024:10:00:00 +0100",
        "time_iso8601": "2024-03-01T10:00:00+01:00", "msec": "1709283600.250",
        "request": "GET /archives/1 HTTP/1.1", "request_method": "GET", "request_uri": "/archives/1",
        "status": "200", "body_bytes_sent": "512", "http_referer": 'https://x.org/?q="a b"',
        "http_user_agent": "Mozilla/5.0 (X11) \\ é", "cookie_UT_ID": "abc",
    }
    m = re.match(fmt.regex, fmt.render(values))
    assert m is not None
    got = m.groupdict()
    assert unescape(got["http_user_agent"], fmt.escape) == values["http_user_agent"]
    assert unescape(got["http_referer"], fmt.escape) == values["http_referer"]


def test_combined_has_a_fast_path_and_splits_time_local():
    fmt = LogFormat.preset("combined_ut")
    assert fmt.delimiter == " "
    names = [f.variables for f in fmt.fields]
    assert ("time_local__date",) in names and ("time_local__zone",) in names
    assert [f.quoted for f in fmt.fields].count(True) == 4


def test_formats_only_the_regex_can_parse():
    # an unquoted variable that may hold spaces, and JSON escaping, need the regex
    assert LogFormat.parse("$remote_addr $http_x_forwarded_for $status").fields is None
    assert LogFormat.preset("json").fields is None
    # a quote in the middle of a field
    assert LogFormat.parse('$remote_addr x"$request" $status').fields is None
    # tab-separated: any variable, nginx escapes tabs
    assert LogFormat.preset("tsv").delimiter == "\t"


def test_parse_as_nginx_writes_it():
    fmt = LogFormat.parse("escape=json '{\"a\":\"$remote_addr\",' '\"s\":$status}'")
    assert fmt.escape == "json"
    assert fmt.template == '{"a":"$remote_addr","s":$status}'
    bare = LogFormat.parse('"$request" $status')
    assert bare.template == '"$request" $status' and bare.escape == "default"
    assert LogFormat.parse("${remote_addr}x$status").variables == ("remote_addr", "status")


def test_nginx_conf_multiline_escape_include_and_default():
    conf = DATA / "nginx" / "nginx.conf"
    fmt = LogFormat.from_nginx_conf(conf)  # the one access_log uses
    assert fmt.name == "recsys"
    assert fmt.template.endswith('"$cookie_UT_ID" $request_time')
    assert fmt.template.startswith("$remote_addr - $remote_user [$time_local] \"$request\"")
    js = LogFormat.from_nginx_conf(conf, "jsonlog")
    assert js.escape == "json" and js.template == '{"t":"$time_iso8601","ip":"$remote_addr","req":"$request","st":$status}'
    short = LogFormat.from_nginx_conf(conf, "short")  # from conf.d/site.conf, escaped quotes
    assert short.template == '$remote_addr "$request" $status'
    assert LogFormat.from_nginx_conf(conf, "combined") == LogFormat.preset("combined")


def test_nginx_conf_errors_say_what_to_do(tmp_path):
    conf = DATA / "nginx" / "nginx.conf"
    with pytest.raises(LogFormatError, match="no log_format named 'nope'; defined: jsonlog, recsys, short"):
        LogFormat.from_nginx_conf(conf, "nope")
    bad = tmp_path / "bad.conf"
    bad.write_text("http {\n log_format x '$a\n}\n")
    with pytest.raises(LogFormatError, match="unbalanced ' quote starting on line 2"):
        LogFormat.from_nginx_conf(bad)
    two = tmp_path / "two.conf"
    two.write_text("log_format a '$status'; log_format b '$status $remote_addr';")
    with pytest.raises(LogFormatError, match="several log formats .a, b.; choose one with --format-name"):
        LogFormat.from_nginx_conf(two)
    with pytest.raises(LogFormatError, match="cannot read nginx configuration"):
        LogFormat.from_nginx_conf(tmp_path / "missing.conf")


def test_bad_formats_are_named():
    with pytest.raises(LogFormatError, match="unknown log format preset 'apache'; presets are"):
        resolve_log_format("apache")
    with pytest.raises(LogFormatError, match="has no \\$variable"):
        LogFormat("just text")
    with pytest.raises(LogFormatError, match="escape must be one of default, json, none"):
        LogFormat("$status", "xml")
    assert resolve_log_format("auto") is None


def test_render_escapes_like_nginx():
    fmt = LogFormat.parse('"$http_user_agent"')
    assert fmt.render({"http_user_agent": 'a"b\\c\x01\x7f é'}) == '"a\\x22b\\x5Cc\\x01\\x7F \\xC3\\xA9"'
    assert fmt.render({"http_user_agent": b"\x16\x03"}) == '"\\x16\\x03"'
    assert fmt.render({}) == '"-"'
    js = LogFormat('"$http_user_agent"', "json")
    assert js.render({"http_user_agent": 'a"b\\c\n\x01é'}) == '"a\\"b\\\\c\\n\\u0001é"'
    assert js.render({}) == '""'


@settings(max_examples=200)
@given(st.text(), st.sampled_from(["default", "json"]))
def test_unescape_inverts_render(value, mode):
    fmt = LogFormat('"$http_referer"', mode)
    line = fmt.render({"http_referer": value})
    m = re.match(fmt.regex, line)
    assert m is not None
    expected = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    assert unescape(m.group("http_referer"), mode) == expected


# defects the corpus of real log_format directives showed (tests/test_log_format_corpus.py) --------
@pytest.mark.parametrize("after, line", [
    ("    server {\n        access_log /x.log main;\n    }\n}\n", 3),  # nginx: not terminated, on the '{' line
    ("}\n", 3),  # nginx: unexpected "}"
    ("", 2),  # the end of the file
])
def test_a_log_format_without_its_semicolon_is_an_error_naming_the_line(tmp_path, after, line):
    conf = tmp_path / "nginx.conf"
    conf.write_text("http {\n    log_format main '$remote_addr \"$request\"' '$status'\n" + after)
    with pytest.raises(LogFormatError, match=rf'nginx.conf:{line}: directive "log_format" is not terminated by ";"'):
        LogFormat.from_nginx_conf(conf)
    conf.write_text("http {\n    log_format main '$remote_addr \"$request\"'\n        '$status'\n"
                    "    access_log /x.log main;\n}\n")  # nginx takes "access_log" as more of the format
    with pytest.raises(LogFormatError, match="runs on into 'access_log' on line 4"):
        LogFormat.from_nginx_conf(conf)


def _both(tmp_path, fmt, lines):
    import recsys

    p = tmp_path / "access.log"
    p.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    a, b = recsys.Accounting(), recsys.Accounting()
    fast, ref = (recsys.read_logs(p, log_format=fmt, parser=parser, accounting=acc)
                 for parser, acc in (("auto", a), ("regex", b)))
    assert a.malformed == b.malformed == 0
    import pandas as pd

    pd.testing.assert_frame_equal(fast.astype(str), ref.astype(str))
    return fast


def test_a_request_line_rebuilt_from_scheme_host_and_uri(tmp_path):
    """trimstray's formats: "$request_method $scheme://$host$request_uri $server_protocol". The
    two parsers split the quoted field differently, and $host took the path."""
    fmt = LogFormat('$remote_addr [$time_local] "$request_method $scheme://$host$request_uri $server_protocol" $status')
    df = _both(tmp_path, fmt, ['::1 [01/Mar/2024:10:00:00 +0000] "GET https://blog.example.org/a/b?x=1 HTTP/2.0" 200'])
    row = df.iloc[0]
    assert (row.host, row.path, row["query"], row.scheme, row.server_protocol) == (
        "blog.example.org", "/a/b", "x=1", "https", "HTTP/2.0")


def test_ltsv_time_local_in_a_tab_field(tmp_path):
    """LTSV (alp's "time:$time_local\\thost:$remote_addr..."): the fast path lost the time."""
    fmt = LogFormat("time:$time_local\thost:$remote_addr\treq:$request\tstatus:$status")
    df = _both(tmp_path, fmt, ["time:01/Mar/2024:10:00:00 +0100\thost:::1\treq:GET /a HTTP/1.1\tstatus:200"])
    assert df.ts.iloc[0] == pd_ts("2024-03-01 09:00:00") and "time_local" not in df


def pd_ts(text):
    import pandas as pd

    return pd.Timestamp(text, tz="UTC")


def test_unquoted_variables_with_escape_json_and_none(tmp_path):
    """nginx's own tests: escape=json writes a quote in an unquoted $arg_b as \\", and escape=none
    writes values as they are: a "\\x41" sent by a client is not an escape."""
    js = LogFormat("$uri $arg_b $status", "json")
    line = js.render({"uri": "/a", "arg_b": 'say"hi\\', "status": "200"})
    assert line == '/a say\\"hi\\\\ 200'
    assert _both(tmp_path, js, [line]).arg_b.iloc[0] == 'say"hi\\'
    none = LogFormat("$uri $arg_b $status", "none")
    df = _both(tmp_path, none, ["/a%20b x\\x41y 200"])
    assert (df.path.iloc[0], df.arg_b.iloc[0]) == ("/a%20b", "x\\x41y")
    assert unescape("x\\x41y", "none") == "x\\x41y"


def test_a_decoded_uri_may_hold_a_space(tmp_path):
    """$uri is decoded: /My%20Notes.pdf is logged as "/My Notes.pdf" (nginx's own "$uri $msec")."""
    df = _both(tmp_path, LogFormat("$uri $msec"), ["/My Notes.pdf 1709287201.123"])
    assert df.path.iloc[0] == "/My Notes.pdf" and df.ts.iloc[0] == pd_ts("2024-03-01 10:00:01.123")
