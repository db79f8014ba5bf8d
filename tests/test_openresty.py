"""The openresty side for real: nginx with the Lua module runs deploy/openresty/ in front of a tiny
static blog, is browsed by a cookie-keeping client and by a cookie-less one, and the access log it
writes is read with recsys, which must find exactly the reading sessions that took place.

The nginx configuration is the shipped one: recsys.conf is included as is, and the server block is
site.conf.example with only its paths and ports replaced. Needs ``nginx`` and its Lua module
(Debian: nginx, libnginx-mod-http-lua); skipped without them, failed under
RECSYS_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from recsys import Accounting, LogFormat, page_views, read_logs, sessionize

from integration import free_port, need, need_program

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "openresty"
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/126.0.0.0 Safari/537.36")
GAP = 2.0  # seconds of inactivity that end a session in this test (30 minutes in real life)
ARTICLES = 5

# A self-signed certificate for 127.0.0.1 (P-256, valid until 2126), for the https listener. Test
# material only: it protects nothing.
TLS_CERT = """-----BEGIN CERTIFICATE-----
MIIBfzCCASWgAwIBAgIUNV5OYnlbJkE9UzX+MkhgNhvZrO0wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyMjAzMzM1NVoYDzIxMjYxMDI5
MDMzMzU1WjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAARMFGu3ObryuHQLVxT0nQ2OThc5L3NmvqcOckKTyJ4sfdaOJbXau3ra
O6G6KCA29VBqp5YL9qp7KYL15Twd0Qpzo1MwUTAdBgNVHQ4EFgQUUPw7lQbA0+an
MMlaDn25BeuCgeowHwYDVR0jBBgwFoAUUPw7lQbA0+anMMlaDn25BeuCgeowDwYD
VR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEA03v/qAjNSZ3lXUy4RH82
Yf9APJ+kxpXTOXBWG96gZPsCIGIu5YPcSzIMo+9chrH1p+6vGotRIS2naJiLEWin
YfhX
-----END CERTIFICATE-----
"""
TLS_KEY = """-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgli9NNv4OlFQ/HzL/
HTbLwhHVC3rz+AytOud+CPawu1mhRANCAARMFGu3ObryuHQLVxT0nQ2OThc5L3Nm
vqcOckKTyJ4sfdaOJbXau3raO6G6KCA29VBqp5YL9qp7KYL15Twd0Qpz
-----END PRIVATE KEY-----
"""

# resty.random as lua-resty-string provides it (OpenSSL's RAND_bytes through the FFI), for the
# test of that random source where the real one is not installed (Debian 12 does not package it).
RESTY_RANDOM = """local ffi = require "ffi"
ffi.cdef "int RAND_bytes(unsigned char *buf, int num);"
return { bytes = function(n, strong)
    local buf = ffi.new("unsigned char[?]", n)
    if ffi.C.RAND_bytes(buf, n) ~= 1 then return nil end
    return ffi.string(buf, n)
end }
"""


# nginx -------------------------------------------------------------------------------------------
def lua_module_lines(nginx: str) -> list[str]:
    """The ``load_module`` lines that give this nginx the Lua module (none when built in)."""
    info = subprocess.run([nginx, "-V"], capture_output=True, text=True, timeout=10).stderr
    if re.search(r"--add-module=\S*(?:ngx_lua|lua-nginx-module)", info):
        return []  # OpenResty: ngx_lua and the NDK are compiled in
    m = re.search(r"--modules-path=(\S+)", info)
    modules = Path(m.group(1) if m else "/usr/lib/nginx/modules")
    files = [modules / "ndk_http_module.so", modules / "ngx_http_lua_module.so"]
    need(all(f.exists() for f in files), f"the nginx Lua module ({files[1]}, libnginx-mod-http-lua)")
    return [f"load_module {f};" for f in files]  # the NDK first: the Lua module needs it


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"site.conf.example no longer holds {old!r} exactly once"
    return text.replace(old, new)


class Nginx:
    """An nginx of its own under ``prefix``: the shipped recsys.conf and site.conf.example."""

    def __init__(self, program: str, prefix: Path, site: Path, extra_http: str = "", workers: int = 1) -> None:
        self.program, self.prefix, self.site, self.extra_http = program, prefix, site, extra_http
        self.workers = workers
        self.modules = lua_module_lines(program)
        self.conf = prefix / "nginx.conf"
        self.access_log = prefix / "logs" / "access.log"
        self.error_log = prefix / "logs" / "error.log"
        self.proc: subprocess.Popen | None = None
        for d in ("logs", "temp", "tls"):
            (prefix / d).mkdir(parents=True, exist_ok=True)
        (prefix / "tls" / "cert.pem").write_text(TLS_CERT)
        (prefix / "tls" / "key.pem").write_text(TLS_KEY)

    def server_block(self) -> str:
        text = (DEPLOY / "site.conf.example").read_text()
        text = replace_once(text, "    listen 80;\n", f"    listen 127.0.0.1:{self.port};\n")
        text = replace_once(text, "    listen [::]:80;\n", "")
        text = replace_once(text, "# listen 443 ssl;", f"listen 127.0.0.1:{self.tls_port} ssl;")
        tls = self.prefix / "tls"
        text = re.sub(r"# ssl_certificate +/\S+;", f'ssl_certificate "{tls / "cert.pem"}";', text)
        text = re.sub(r"# ssl_certificate_key +/\S+;", f'ssl_certificate_key "{tls / "key.pem"}";', text)
        text = replace_once(text, "root /var/www/blog;", f'root "{self.site}";')
        return replace_once(text, "/etc/nginx/recsys/ut_id.lua", f'"{DEPLOY / "ut_id.lua"}"')

    def write_conf(self) -> None:
        p = self.prefix
        temps = "\n".join(
            f'    {kind}_temp_path "{p / "temp" / kind}";'
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        self.conf.write_text("\n".join([
            *self.modules,
            # as root, workers would become "nobody", who cannot read pytest's private tmp_path
            "user root;" if os.geteuid() == 0 else "",
            # One worker logs each request before it reads the next, so the log is in request order.
            # With several, a request is logged after its response is sent, and the next request,
            # taken by another worker, may be logged first.
            f"worker_processes {self.workers};",
            "daemon off;",
            f'pid "{p / "nginx.pid"}";',
            f'error_log "{self.error_log}" info;',
            "events { worker_connections 64; }",
            "http {",
            "    types { text/html html; text/css css; text/plain txt; }",
            "    default_type application/octet-stream;",
            temps,
            self.extra_http,
            f'    include "{DEPLOY / "recsys.conf"}";',
            f'    access_log "{self.access_log}" recsys;',
            self.server_block(),
            "}",
            "",
        ]))

    def start(self) -> None:
        for _attempt in range(3):  # a free port can be taken between choosing and binding it
            self.port, self.tls_port = free_port(), free_port()
            self.write_conf()
            with open(self.prefix / "nginx.out", "wb") as out:  # what nginx says before error_log
                self.proc = subprocess.Popen(
                    [self.program, "-p", f"{self.prefix}/", "-c", str(self.conf)],
                    stdout=out, stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: the workers can be killed too
                )
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                    socket.create_connection(("127.0.0.1", self.tls_port), timeout=0.2).close()
                    return
                except OSError:
                    time.sleep(0.05)
            output = self.stop()
            if "Address already in use" not in output:
                break
        pytest.fail(f"nginx did not start:\n{output}", pytrace=False)

    def stop(self) -> str:
        """Stop gracefully (the log is complete afterwards), kill if it hangs; return its output."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:  # the master and its workers, nothing else
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return "".join(
            f.read_text(errors="replace") for f in (self.prefix / "nginx.out", self.error_log) if f.exists()
        )

    # clients ---------------------------------------------------------------------------------
    def get(self, path: str, headers: dict[str, str] | None = None, tls: bool = False):
        """One request without cookie handling: ``(status, [Set-Cookie values])``, no redirects."""
        if tls:
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE  # self-signed
            conn = http.client.HTTPSConnection("127.0.0.1", self.tls_port, timeout=10, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"User-Agent": CHROME, **(headers or {})})
            resp = conn.getresponse()
            resp.read()
            return resp.status, resp.headers.get_all("Set-Cookie") or []
        finally:
            conn.close()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an error here: it shows as its status


class Browser:
    """A cookie-keeping client: the standard library's cookie jar, as a browser keeps cookies."""

    def __init__(self, server: Nginx, user_agent: str) -> None:
        self.server, self.jar = server, http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect)
        self.opener.addheaders = [("User-Agent", user_agent)]

    def get(self, path: str):
        try:
            with self.opener.open(f"http://127.0.0.1:{self.server.port}{path}", timeout=10) as resp:
                resp.read()
                return resp.status, resp.headers.get_all("Set-Cookie") or []
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get_all("Set-Cookie") or []


def parse_set_cookie(value: str) -> tuple[str, str, set[str]]:
    """``(name, value, attributes)`` of one Set-Cookie header."""
    first, *attrs = value.split("; ")
    name, _, val = first.partition("=")
    return name, val, set(attrs)


def check_cookie(header: str, secure: bool = False) -> str:
    """The id of a Set-Cookie of ut_id.lua, after checking its form and attributes."""
    name, value, attrs = parse_set_cookie(header)
    assert name == "UT_ID" and UUID4.match(value), header
    max_age = [a for a in attrs if a.startswith("Max-Age=")]
    assert len(max_age) == 1 and int(max_age[0].split("=")[1]) >= 30 * 86400, header
    expected = {max_age[0], "Path=/", "SameSite=Lax", "HttpOnly"} | ({"Secure"} if secure else set())
    assert attrs == expected, header
    return value


# fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A tiny static blog: a home page, articles /archives/1 ... /archives/5, a stylesheet."""
    root = tmp_path / "site"
    (root / "archives").mkdir(parents=True)
    (root / "index.html").write_text("<h1>A blog</h1>\n")
    (root / "style.css").write_text("body { font-family: serif; }\n")
    for i in range(1, ARTICLES + 1):
        (root / "archives" / f"{i}.html").write_text(f"<h1>Article {i}</h1>\n")
    return root


@pytest.fixture
def start_nginx(tmp_path: Path, site: Path):
    """Start nginx instances (``start_nginx(extra_http, workers)``); all are stopped at teardown."""
    program = need_program("nginx", "openresty")
    started: list[Nginx] = []

    def start(extra_http: str = "", workers: int = 1, name: str = "nginx") -> Nginx:
        server = Nginx(program, tmp_path / name, site, extra_http, workers)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def log_frame(server: Nginx, accounting: Accounting | None = None) -> pd.DataFrame:
    return read_logs(server.access_log, log_format="tsv", progress=False, accounting=accounting)


# the shipped format, without nginx ---------------------------------------------------------------
def test_recsys_conf_is_the_tsv_preset_with_ut_id():
    fmt = LogFormat.from_nginx_conf(DEPLOY / "recsys.conf")
    assert fmt.name == "recsys" and fmt.escape == "default"
    tsv = LogFormat.preset("tsv")
    assert fmt.template == tsv.template.replace("$cookie_UT_ID", "$ut_id")
    assert fmt.delimiter == "\t" and fmt.fields is not None  # the fast path reads it


# the real thing ----------------------------------------------------------------------------------
def test_reading_sessions(start_nginx):
    """Two readers browse; the log gives exactly their sessions, first views included."""
    server = start_nginx()
    reader = Browser(server, FIREFOX)  # keeps cookies
    clients = {"A": reader.get, "B": server.get}  # B refuses cookies: it never sends one
    seen: list[tuple[str, str, int, list[str]]] = []  # (who, path, status, Set-Cookie headers)

    def browse(steps: str) -> None:
        for step in steps.split():
            who, path = step.split(":", 1)
            seen.append((who, path, *clients[who](path)))
            time.sleep(0.005)  # no two views in the same millisecond of $msec (ties sort by URL)

    browse("A:/archives/1 B:/archives/1 A:/style.css B:/style.css A:/archives/2 A:/ B:/archives/4 "
           "A:/archives/3?utm_source=feed B:/archives/1")
    t_end = time.monotonic()
    time.sleep(GAP + 0.6)  # a pause longer than the gap: A's second session
    browse("A:/archives/2 A:/archives/5 B:/archives/5 A:/archives/2")
    assert time.monotonic() - t_end > GAP
    server.stop()

    # the responses: all 200, no redirect anywhere
    assert [s for _, _, s, _ in seen] == [200] * len(seen)
    # the cookie-keeping reader got its cookie once, with the first article, and kept it
    a_cookies = [(path, c) for who, path, _, cs in seen if who == "A" for c in cs]
    assert len(a_cookies) == 1 and a_cookies[0][0] == "/archives/1"
    uid = check_cookie(a_cookies[0][1])
    assert [(c.name, c.value, c.path) for c in reader.jar] == [("UT_ID", uid, "/")]
    # the cookie-less reader: a fresh id with each article, none with the stylesheet
    b_articles = [(path, cs) for who, path, _, cs in seen if who == "B" and path.startswith("/archives/")]
    assert all(len(cs) == 1 for _, cs in b_articles)
    b_ids = [check_cookie(cs[0]) for _, cs in b_articles]
    assert len(set(b_ids)) == len(b_ids) == 4 and uid not in b_ids
    assert [cs for who, path, _, cs in seen if who == "B" and path == "/style.css"] == [[]]

    # the log, read with the tsv preset and through the nginx configuration: the same table
    acc = Accounting()
    requests = log_frame(server, acc)
    via_conf = read_logs(server.access_log, nginx_conf=server.conf, progress=False)
    pd.testing.assert_frame_equal(requests, via_conf)
    assert LogFormat.from_nginx_conf(server.conf).name == "recsys"
    assert acc.lines == len(seen) and acc.malformed == 0
    # (two workers log each request after its response is sent: lines need not be in request order)
    assert sorted(requests["path"]) == sorted(p.split("?")[0] for _, p, _, _ in seen)
    # every line of A carries its id, the first article view included; B's stylesheet has none
    a_lines = requests[requests["user_agent"] == FIREFOX]
    assert a_lines["visitor"].tolist() == [uid] * len(a_lines)
    b_lines = requests[requests["user_agent"] == CHROME]
    b_article_lines = b_lines[b_lines["path"] != "/style.css"]
    assert sorted(zip(b_article_lines["path"], b_article_lines["visitor"])) == sorted(
        (p, i) for (p, _), i in zip(b_articles, b_ids)
    )
    assert b_lines.loc[b_lines["path"] == "/style.css", "visitor"].isna().all()

    views = page_views(requests, max_per_minute=None, accounting=acc)
    assert acc.dropped == {"asset": 2, "not_article": 1}
    assert acc.views == len(views) == len(seen) - 3
    acc.check()

    sessions = sessionize(views, gap=f"{GAP}s")
    got = sorted(sessions[["visitor", "items", "views"]].itertuples(index=False, name=None))
    expected = [
        (uid, ("/archives/1", "/archives/2", "/archives/3"), ("/archives/1", "/archives/2", "/archives/3")),
        (uid, ("/archives/2", "/archives/5"), ("/archives/2", "/archives/5", "/archives/2")),
    ] + [(i, (p,), (p,)) for i, (p, _) in zip(b_ids, b_articles)]
    assert got == sorted(expected)
    first = sessions[sessions["visitor"] == uid].sort_values("start").iloc[0]
    assert first["views"][0] == "/archives/1"  # the view that issued the cookie is not lost


@pytest.mark.parametrize("source", ["installed", "resty.random"])
def test_fresh_ids_are_distinct_uuid4(start_nginx, tmp_path, source):
    """200 article requests without cookie: 200 distinct v4 ids, each logged with its request."""
    extra = ""
    if source == "resty.random":  # the resty.random path of the script, where it is not installed
        lib = tmp_path / "lua" / "resty"
        lib.mkdir(parents=True)
        (lib / "random.lua").write_text(RESTY_RANDOM)
        extra = f'    lua_package_path "{tmp_path / "lua"}/?.lua;;";'
    server = start_nginx(extra, workers=2)  # a connection a request: both workers make ids
    ids = []
    for i in range(200):
        status, cookies = server.get(f"/archives/{i % ARTICLES + 1}")
        assert status == 200 and len(cookies) == 1
        ids.append(check_cookie(cookies[0]))
    output = server.stop()
    assert len(set(ids)) == 200
    log = log_frame(server)
    assert sorted(zip(log["path"], log["visitor"])) == sorted(
        (f"/archives/{i % ARTICLES + 1}", uid) for i, uid in enumerate(ids)
    )
    sources = set(re.findall(r"recsys ut_id: random bytes from ([^,]+),", output))
    assert sources <= ({"resty.random"} if source == "resty.random" else {"resty.random", "/dev/urandom"})
    assert sources, output


def test_cookie_checked_and_secure(start_nginx):
    """A valid cookie is kept; a tampered or oversized one is replaced, never logged; Secure over https."""
    server = start_nginx()
    valid = "6f1c2d3e-0000-4000-8000-000000000001"
    bad = ["<script>", "x" * 500, valid + "0", valid.replace("-", "_")]
    for value in (valid, valid.upper()):  # kept, whatever the case of its digits
        status, cookies = server.get("/archives/1", {"Cookie": f"UT_ID={value}"})
        assert (status, cookies) == (200, [])
    status, cookies = server.get("/style.css", {"Cookie": "UT_ID=<script>"})
    assert (status, cookies) == (200, [])
    new_ids = []
    for value in bad:
        status, cookies = server.get("/archives/2", {"Cookie": f"UT_ID={value}"})
        assert status == 200 and len(cookies) == 1, value
        new_ids.append(check_cookie(cookies[0]))
    # Secure: behind a TLS-terminating proxy (X-Forwarded-Proto), and over https to nginx itself
    status, cookies = server.get("/archives/3", {"X-Forwarded-Proto": "https"})
    assert status == 200 and len(cookies) == 1
    new_ids.append(check_cookie(cookies[0], secure=True))
    status, cookies = server.get("/archives/3", tls=True)
    assert status == 200 and len(cookies) == 1
    new_ids.append(check_cookie(cookies[0], secure=True))
    status, cookies = server.get("/archives/3", {"X-Forwarded-Proto": "http"})
    assert status == 200 and len(cookies) == 1
    new_ids.append(check_cookie(cookies[0]))
    output = server.stop()
    assert "[error]" not in output and "[alert]" not in output, output

    log = log_frame(server)
    # the valid cookie as sent; nothing for the tampered one on the stylesheet; fresh ids elsewhere
    assert sorted(log.loc[log["path"] == "/archives/1", "visitor"]) == sorted([valid, valid.upper()])
    assert log.loc[log["path"] == "/style.css", "visitor"].isna().all()
    fresh = log.loc[log["path"].isin(["/archives/2", "/archives/3"]), "visitor"]
    assert sorted(fresh) == sorted(new_ids) and len(set(new_ids)) == len(new_ids)
    raw = server.access_log.read_text()
    assert "script" not in raw and "x" * 40 not in raw
