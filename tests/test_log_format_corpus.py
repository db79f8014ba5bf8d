"""The log_format corpus: 45 real directives from public nginx configurations.

Each directive (``../shared/data/real/log_formats/log_formats.txt``) is put in an nginx.conf,
inside ``http { ... }`` with an ``access_log`` using it, and read by
:meth:`recsys.LogFormat.from_nginx_conf` exactly as ``log_formats.expected.json`` says (tokenized
there by nginx's own configuration parser library); real nginx accepts the same configuration,
and rejects the three directives that lack their final ``;`` at the line recsys names. Lines
rendered in each format, with hostile values, read back to those values with both parsers; the
sample lines published with some of the formats parse.
"""

from __future__ import annotations

import datetime as dt
import gzip as gzip_module
import json
import re
import subprocess
from functools import lru_cache

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integration import need_program, shared_data

from recsys import Accounting, LogFormat, LogFormatError, Settings, read_logs
from recsys.detection import fixed_formats
from recsys.mine import main as mine
from recsys.formats import _no_space
from recsys.columns import client_of

N = 45
PARSERS = ["auto", "regex"]


@lru_cache
def corpus() -> list[tuple[str, dict]]:
    """``(directive text, expected)`` for each of the 45 directives, in the file's order."""
    base = shared_data("real", "log_formats")
    text = (base / "log_formats.txt").read_text(encoding="utf-8")
    blocks = [b for b in text.split("\n\n") if b.startswith("# source:")]
    expected = json.loads((base / "log_formats.expected.json").read_text(encoding="utf-8"))
    assert len(blocks) == len(expected) == N
    directives = []
    for block in blocks:
        lines = block.split("\n")
        while lines[0].startswith("#"):  # the '# source:' and '# note:' lines (comments inside stay)
            lines.pop(0)
        directives.append("\n".join(lines))
    return list(zip(directives, expected))


def write_conf(tmp_path, index: int, maps: list[str] = ()) -> tuple[object, int]:
    """An nginx.conf holding directive ``index``; also the line its ``server {`` opens on."""
    directive, exp = corpus()[index]
    head = ["events {}", "http {", *maps, directive]
    server_line = sum(part.count("\n") + 1 for part in head) + 1
    conf = tmp_path / "nginx.conf"
    conf.write_text("\n".join([*head, "    server {", "        listen 127.0.0.1:8080;",
                               f"        access_log {tmp_path}/access.log {exp['name']};", "    }", "}", ""]),
                    encoding="utf-8")
    return conf, server_line


@pytest.mark.parametrize("index", range(N))
def test_each_directive_is_read_as_nginx_reads_it(tmp_path, index):
    _, exp = corpus()[index]
    conf, server_line = write_conf(tmp_path, index)
    if exp["terminated_in_source"]:
        fmt = LogFormat.from_nginx_conf(conf)  # the one the access_log uses
        assert (fmt.name, fmt.escape, fmt.template) == (exp["name"], exp["escape"], exp["format"])
        assert set(fmt.variables) == set(exp["variables"])
    else:
        message = f'{conf}:{server_line}: directive "log_format" is not terminated by ";"'
        with pytest.raises(LogFormatError, match=re.escape(message)):
            LogFormat.from_nginx_conf(conf)


def test_a_log_format_running_into_the_next_directive_is_an_error(tmp_path):
    """nginx itself reads ``access_log ...`` as more of the format when the ``;`` is missing."""
    directive = next(d for d, e in corpus() if e["name"] == "sess")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"http {{\n{directive}\naccess_log /var/log/x.log sess;\n}}\n")
    with pytest.raises(LogFormatError, match=r"nginx.conf:4: .*sess \(line 2\) runs on into 'access_log' on line 5"):
        LogFormat.from_nginx_conf(conf)


@pytest.mark.parametrize("index", range(N))
def test_nginx_agrees(tmp_path, index):
    """Real nginx accepts each configuration (variables of other modules mapped to empty values)
    and rejects the directives without ``;`` on the line recsys names."""
    nginx = need_program("nginx")
    _, exp = corpus()[index]
    maps: list[str] = []
    for _ in range(20):
        conf, server_line = write_conf(tmp_path, index, maps)
        done = subprocess.run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp_path), "-c", str(conf)],
                              capture_output=True, text=True, timeout=60)
        unknown = re.search(r'unknown "([^"]+)" variable', done.stderr)
        if not unknown:
            break
        maps.append(f'    map "" ${unknown[1]} {{ default ""; }}')
    if exp["terminated_in_source"]:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0
        assert f'directive "log_format" is not terminated by ";" in {conf}:{server_line}' in done.stderr


# lines rendered in each format read back ---------------------------------------------------------
MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
HOSTILE = st.lists(st.sampled_from(list("aZ09 -_./:;,=?&%+#[](){}<>|'\"\\\t\x01\x7f") + ["é", "中", "😀", r"\x22"]),
                   max_size=12).map("".join)
WHEN = st.tuples(st.datetimes(dt.datetime(2001, 1, 1), dt.datetime(2037, 12, 31)),
                 st.sampled_from([0, -7 * 60, 3 * 60 + 30, 60, -(9 * 60 + 30)]))
NUMBERS = {"body_bytes_sent", "bytes_sent", "request_length", "connection", "connection_requests"}
FLOATS = {"request_time"}
#: Variables a glued neighbour cannot be told apart from, but for these pairs: $host never holds
#: a "/" (nginx rejects such a Host), and $request_uri starts with one.
SEPARABLE = {("host", "request_uri")}


def _occurrences(fmt: LogFormat):
    """Each variable with the literal before and after it ('' when a variable is next)."""
    items = fmt.items
    for i, (kind, name) in enumerate(items):
        if kind == "var":
            before = items[i - 1][1] if i and items[i - 1][0] == "lit" else ""
            after = items[i + 1][1] if i + 1 < len(items) and items[i + 1][0] == "lit" else ""
            glued = i + 1 < len(items) and items[i + 1][0] == "var"
            yield name, before, after, glued


def _units(fmt: LogFormat) -> list[tuple[str, ...]]:
    """Runs of variables with nothing between them: the line tells only their concatenation."""
    units, run = [], []
    items = fmt.items
    for i, (kind, name) in enumerate(items):
        if kind != "var":
            continue
        run.append(name)
        nxt = items[i + 1] if i + 1 < len(items) else None
        if not (nxt and nxt[0] == "var" and (name, nxt[1]) not in SEPARABLE):
            units.append(tuple(run))
            run = []
    return units


def _text_for(name: str, fmt: LogFormat, quoted: bool):
    """Values nginx can write for a variable: hostile, within what the variable can hold."""
    if _no_space(name) or name in ("uri", "document_uri", "args"):
        chars = HOSTILE.map(lambda v: re.sub(r"\s", "", v))
        if fmt.escape == "none":
            chars = chars.map(lambda v: v.replace('"', ""))
        if name in ("host",):
            chars = chars.map(lambda v: v.replace("/", "").lower())
        if name in ("uri", "document_uri"):  # decoded: may hold spaces, never '?' (it is $args')
            return HOSTILE.map(lambda v: "/" + v.replace("?", "").replace("\t", "").strip())
        return chars
    if fmt.escape == "none" or (not quoted and fmt.escape == "json"):
        return HOSTILE.map(lambda v: re.sub(r'[\s"\\]', "", v))
    return HOSTILE


def _value(name: str, fmt: LogFormat, quoted: bool):
    if name in ("time_local", "time_iso8601", "msec"):
        return WHEN
    if name == "status":
        return st.integers(100, 599).map(str)
    if name in NUMBERS or name in ("bytes_received",):
        return st.integers(0, 10**12).map(str)
    if name in FLOATS:
        return st.builds(lambda s, ms: f"{s}.{ms:03d}", st.integers(0, 10**5), st.integers(0, 999))
    if name in ("request_uri",):
        return _text_for("request_uri", fmt, quoted).map(lambda v: "/" + v)
    if name == "request":
        return st.builds(lambda m, t: f"{m} /{t} HTTP/1.1", st.sampled_from(["GET", "POST", "HEAD"]),
                         _text_for("request_uri", fmt, quoted))
    if name == "request_method":
        return st.sampled_from(["GET", "POST", "HEAD", "PROPFIND"])
    if name in ("remote_addr", "server_addr", "realip_remote_addr"):
        return st.sampled_from(["203.0.113.5", "2001:db8::1", "::1", "unix:", "-"])
    if name in ("remote_port", "server_port"):  # a number, or nothing (a unix socket)
        return st.one_of(st.integers(1, 65535).map(str), st.just(""))
    return _text_for(name, fmt, quoted)


def _render_time(name: str, when) -> str:
    local, minutes = when
    sign = "-" if minutes < 0 else "+"
    hh, mm = divmod(abs(minutes), 60)
    if name == "time_local":
        return f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year}:{local:%H:%M:%S} {sign}{hh:02d}{mm:02d}"
    if name == "time_iso8601":
        return f"{local:%Y-%m-%dT%H:%M:%S}{sign}{hh:02d}:{mm:02d}"
    utc = local - dt.timedelta(minutes=minutes)
    return f"{int(utc.replace(tzinfo=dt.timezone.utc).timestamp())}.{local.microsecond // 1000:03d}"


def _utc(name: str, when) -> pd.Timestamp:
    local, minutes = when
    utc = local - dt.timedelta(minutes=minutes)
    ms = local.microsecond // 1000 if name == "msec" else 0
    return pd.Timestamp(utc.replace(microsecond=0), tz="UTC") + pd.Timedelta(milliseconds=ms)


def rows_for(fmt: LogFormat):
    """A strategy of value dicts for ``fmt``: each variable within what its place in the line allows."""
    fields = {}
    for name, before, after, glued in _occurrences(fmt):
        if name in fields:
            continue
        quoted = before.endswith('"') and after.startswith('"')
        strategy = _value(name, fmt, quoted)
        if not quoted and after and name not in ("time_local", "time_iso8601", "msec"):
            # unquoted, the value cannot hold what ends it: nginx's line itself is ambiguous then
            strategy = strategy.filter(lambda v, a=after: (v + a).find(a) == len(v))
        if glued:  # the first of a run of variables: keep it from being empty, as the run is compared whole
            strategy = strategy.filter(lambda v: v not in ("", "-"))
        fields[name] = strategy
    return st.fixed_dictionaries(fields)


def _missing(v):
    return None if v in ("-", "") else v


def expected_row(fmt: LogFormat, row: dict) -> dict:
    """What recsys makes of the values: the standard columns and the other variables."""
    have = set(fmt.variables)
    out = {}
    time = next((t for t in ("msec", "time_iso8601", "time_local") if t in have), None)
    if time:
        out["ts"] = _utc(time, row[time])
    target = None
    if "request" in have:
        method, target, _ = row["request"].split(" ")
        out["method"] = method
    else:
        if "request_method" in have:
            out["method"] = row["request_method"]
        if "request_uri" in have:
            target = row["request_uri"]
        elif "uri" in have:
            args = _missing(row.get("args", ""))
            target = row["uri"] + (f"?{args}" if args else "")
    if target is not None:
        path, _, query = target.partition("?")
        out["path"], out["query"] = _missing(path), _missing(query) if "?" in target else None
    for var, col in (("remote_addr", "ip"), ("http_referer", "referer"), ("http_user_agent", "user_agent")):
        if var in have:
            out[col] = _missing(row[var])
    chain = next((v for v in ("proxy_add_x_forwarded_for", "http_x_forwarded_for") if v in have), None)
    if chain:  # an address chain: ip is its client (recsys.columns.client_of, tested in test_logs.py)
        peer = None if chain == "proxy_add_x_forwarded_for" else out.get("ip")
        out["ip"], out["forwarded_for"] = client_of(_missing(row[chain]), peer)
    if "status" in have:
        out["status"] = int(row["status"])
    size = "body_bytes_sent" if "body_bytes_sent" in have else "bytes_sent" if "bytes_sent" in have else None
    if size:
        out["bytes"] = int(row[size])
    consumed = {"msec", "time_iso8601", "time_local", "request", "request_method", "request_uri", "uri", "args",
                "status", "body_bytes_sent", "bytes_sent", "remote_addr", "http_referer", "http_user_agent",
                "proxy_add_x_forwarded_for", "http_x_forwarded_for"}
    for var in have - consumed:
        value = _missing(row[var])
        if var in FLOATS:
            value = None if value is None else float(value)
        elif var in NUMBERS:
            value = None if value is None else int(value)
        out[var] = value
    return out


def _render(fmt: LogFormat, row: dict) -> str:
    values = {k: _render_time(k, v) if k in ("time_local", "time_iso8601", "msec") else v for k, v in row.items()}
    return fmt.render(values)


def _unit_text(got: dict, unit: tuple[str, ...]) -> str:
    parts = []
    for var in unit:
        if var == "uri":
            path, query = got.get("path"), got.get("query")
            parts.append((path or "") + (f"?{query}" if query is not None else ""))
        else:
            parts.append(got.get(var) or "")
    return "".join(parts)


def check_round_trip(fmt: LogFormat, rows: list[dict], path) -> None:
    lines = [_render(fmt, r) for r in rows]
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8", "surrogateescape"))
    frames = []
    for parser in PARSERS:
        acc = Accounting()
        df = read_logs(path, log_format=fmt, parser=parser, accounting=acc)
        assert (acc.lines, acc.malformed, acc.examples) == (len(rows), 0, []), (parser, lines)
        frames.append(df)
    pd.testing.assert_frame_equal(frames[0].astype(str), frames[1].astype(str))
    df = frames[0]
    units = [u for u in _units(fmt) if len(u) > 1]
    glued = {v for u in units for v in u}
    for i, row in enumerate(rows):
        got = {k: (None if pd.isna(v) else v) for k, v in df.iloc[i].items()}
        want = expected_row(fmt, row)
        for key, value in want.items():
            if key in glued or (key in ("path", "query") and "uri" in glued):
                continue
            assert got.get(key) == value, (key, lines[i])
        for unit in units:  # nginx wrote these with nothing between: only their concatenation is known
            assert _unit_text(got, unit) == "".join(row[v] for v in unit), (unit, lines[i])


@pytest.mark.parametrize("index", range(N))
def test_lines_in_each_format_read_back(tmp_path_factory, index):
    _, exp = corpus()[index]  # (three directives lack their final ';': their format strings still read back)
    fmt = LogFormat(exp["format"], exp["escape"], exp["name"])
    path = tmp_path_factory.mktemp("corpus") / "access.log"

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
    @given(st.lists(rows_for(fmt), min_size=1, max_size=5))
    def round_trip(rows):
        check_round_trip(fmt, rows, path)

    round_trip()


def test_published_sample_lines_parse(tmp_path):
    """The sample lines published with three of the formats (Elastic Beanstalk, a grok example)."""
    base = shared_data("real", "log_formats")
    samples: dict[str, list[str]] = {}
    section = None
    for line in (base / "log_format_samples.txt").read_text(encoding="utf-8").splitlines():
        if re.fullmatch(r"\[\w+\]", line):
            section = line[1:-1]
            samples[section] = []
        elif section and line and not line.startswith("#"):
            samples[section].append(line)
    assert {k: len(v) for k, v in samples.items()} == {"main": 3, "healthd": 5, "gzip": 1}
    by_name = {e["name"]: LogFormat(e["format"], e["escape"], e["name"]) for _, e in corpus()}
    by_name["main"] = next(LogFormat(e["format"], e["escape"], "main") for _, e in corpus()
                           if e["repo"] == "getsentry/self-hosted")  # main = combined + "$http_x_forwarded_for"
    got = {}
    for name, lines in samples.items():
        path = tmp_path / f"{name}.log"
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        frames = []
        for parser in PARSERS:
            acc = Accounting()
            df = read_logs(path, log_format=by_name[name], parser=parser, accounting=acc)
            assert acc.malformed == 0 and len(df) == len(lines)
            frames.append(df)
        pd.testing.assert_frame_equal(frames[0].astype(str), frames[1].astype(str))
        got[name] = frames[0]
    healthd = got["healthd"]
    assert healthd.ts.iloc[0] == pd.Timestamp("2015-07-23T00:04:39.311Z")
    assert healthd.path.tolist() == ["/", "/", "/bad/path", "/", "/bad/path"]
    assert healthd.status.tolist() == [200, 200, 404, 200, 404]
    assert healthd.request_time.tolist() == [0.083, 0.347, 0.001, 0.530, 0.001]
    assert set(healthd.forwarded_for) == {"177.72.242.17"} and set(healthd.ip) == {"177.72.242.17"}
    main = got["main"]  # behind a load balancer: the client is the chain's public address
    assert main.ip.tolist() == ["177.72.242.17"] * 3 and set(main.forwarded_for) == {"177.72.242.17,172.31.24.3"}
    assert main.ts.iloc[0] == pd.Timestamp("2015-07-23T00:21:20Z") and set(main.bytes) == {11}
    # the expected fields written by hand in the samples file
    g = got["gzip"].iloc[0]
    assert (g.ip, g.forwarded_for, g.method, g.path, g.status, g.bytes) == (
        "90.90.230.80", "90.90.230.80,90.90.230.80", "POST", "/url-1", 200, 651)
    assert g.ts == pd.Timestamp("2017-04-04T14:39:34Z")
    assert (g.upstream_response_time, g.upstream_addr, g.referer) == ("1.008", "127.0.0.1:8080", "http://long-url")
    assert pd.isna(g.upstream_cache_status) and pd.isna(g.gzip_ratio) and pd.isna(g.cookie_route)
    assert g.cookie_JSESSIONID == "39085D6FB967681942373BFEA5FBC99D.i01"


@pytest.mark.parametrize("index", range(N))
def test_a_whole_directive_pasted_into_log_format_reads_as_nginx_reads_it(index):
    """``--log-format "log_format main '...' '...';"``: the directive pasted from nginx.conf, with its
    name, escape=, several quoted strings, tabs and newlines between them, and the ';' (or without it)."""
    directive, exp = corpus()[index]
    for text in (directive, directive.rstrip().removesuffix(";"), "  " + directive + "\n"):
        (fmt,) = fixed_formats(text)
        assert (fmt.name, fmt.escape, fmt.template) == (exp["name"], exp["escape"], exp["format"])


def test_pasted_directives_read_real_logs(tmp_path):
    """The directive of getsentry/self-hosted (nginx's sample ``main``) pasted whole reads lnav's real
    shop log, which is in that format, through the settings and the command line; two pasted
    directives read a file holding lines in both formats."""
    directive = next(d for d, e in corpus() if e["repo"] == "getsentry/self-hosted")
    log = shared_data("real", "logs", "lnav-zanbil-shop_access_log.gz")
    acc = Accounting()
    requests = read_logs(log, log_format=Settings.from_mapping(log_format=directive).reading.log_format,
                         accounting=acc)
    assert (acc.lines, acc.malformed, len(requests)) == (1000, 0, 1000)  # lnav's figures: 1,000, 0 invalid
    assert acc.files[0]["format"] == "main" and "forwarded_for" in requests.columns
    out = tmp_path / "out"
    code = mine([str(log), "--log-format", directive, "--visitor", "ip+ua", "--article-pattern", "^/",
                 "--no-evaluate", "--force", "--out", str(out), "--cache", str(tmp_path / "cache"), "-q"])
    report = json.loads((out / "report.json").read_text())
    assert code == 0 and report["accounting"]["malformed"] == 0 and report["accounting"]["lines"] == 1000
    # two pasted directives, one per --log-format, for a file written in both: the directive of the
    # grok example is quoted in the samples file (behind '#   '), with its one real line
    text = (shared_data("real", "log_formats") / "log_format_samples.txt").read_text(encoding="utf-8")
    quoted = re.search(r"^#   (log_format gzip .*?;)$", text, re.MULTILINE | re.DOTALL).group(1)
    gzip_directive = re.sub(r"\n#   ", "\n", quoted)
    gzip_line = text.split("[gzip]\n", 1)[1].splitlines()[0]
    both = tmp_path / "access.log"
    both.write_bytes(gzip_module.decompress(log.read_bytes()) + gzip_line.encode() + b"\n")
    acc = Accounting()
    requests = read_logs(both, log_format=Settings.from_mapping(log_format=[directive, gzip_directive])
                         .reading.log_format, accounting=acc)
    assert (acc.lines, acc.malformed) == (1001, 0)
    assert [(f["format"], f["lines"]) for f in acc.files[0]["formats"]] == [("main", 1000), ("gzip", 1)]
    assert requests.iloc[-1][["ip", "path", "bytes"]].tolist() == ["90.90.230.80", "/url-1", 651]
