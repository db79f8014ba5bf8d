"""Junk lines: TLS handshakes sent to port 80, empty requests, request lines with a space in the
target, truncated lines and lines with invalid UTF-8. :func:`junk` adds their requests to the
events; once rendered, :func:`finish_junk` corrupts those meant to be and classifies every one as
:func:`recsys.read_logs` would.
"""

from __future__ import annotations

import re

import numpy as np

from .outcomes import BOT, M_ENCODING, M_FORMAT, M_REQUEST, NO_REQUEST, REQUEST_LINE, _UNSET
from .readers import BROWSERS, SEARCH_REFERERS
from .render import Renderer, take
from .state import COLS, H2, Gen, below
from .world import _SIZE_400

JUNK_KINDS = ("tls", "empty", "space", "truncated", "utf8")


def junk(g: Gen) -> None:
    """Junk lines at random times: at least one of each kind.

    What nginx itself writes (TLS handshakes, empty requests, request lines with a space) makes
    about 0.2 % of the lines. Cut lines and invalid UTF-8 are not nginx output (it writes each
    line in one append and escapes bytes from 0x7F up): they come from a crash, a full disk or a
    copy by another tool, so they are rare events, about one day in ten for each.
    """
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    rows = np.frombuffer(g.rows, np.int64).reshape(-1, len(COLS))
    expected = len(rows) + 3.3 * np.count_nonzero(rows[:, 9])  # with the static files to come
    n = max(3, round(expected * 0.002))
    del rows
    days = max(1, round((g.end_ms - g.start_ms) / 86_400_000))
    kinds = list(JUNK_KINDS) + [rnd.choices(JUNK_KINDS[:3], (40, 20, 15))[0] for _ in range(n - 3)]
    kinds += [kind for _ in range(days) for kind in ("truncated", "utf8") if rnd.random() < 0.1]
    ips = []
    for kind in kinds:
        t = g.start_ms + int(rnd.random() * (g.end_ms - g.start_ms))
        ip_s = g.hosting_ip()
        ip = tab.ip(ip_s)
        ips.append(ip_s)
        ua, ck, ref = -1, -1, -1
        if kind == "tls":  # a TLS ClientHello sent to port 80
            hello = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
            body = hello + rnd.randbytes(rnd.randint(20, 60))
            rq, status, size = tab.raw_req(body, None, None), 400, _SIZE_400
        elif kind == "empty":  # a connection closed without a request
            rq, status, size = tab.raw_req("", None, None), 400, 0
        elif kind == "space":  # a space in the target: nginx (since 1.21.1) rejects the request line
            a = below(rnd, len(g.blog.art_uri))  # before parsing it: no $request_method, no $request_uri
            target = f"{g.blog.art_uri[a]} {rnd.choice(('extra', 'target=_blank', 'via', 'HTTP/1.0'))}"
            rq, status, size = tab.raw_req(f"GET {target} HTTP/1.1", None, None), 400, _SIZE_400
        else:  # truncated or corrupted later: a reader's request, as nginx logs it
            a = below(rnd, len(g.blog.art_uri))
            rq, status, size = tab.req("GET", g.blog.art_uri[a], H2), 200, g.blog.art_size[a]
            ua, ck = tab.ua(rnd.choice(BROWSERS)[0]), tab.cookie(g.uuid())
            ref = tab.ref(rnd.choice(SEARCH_REFERERS)[0])
        g.junk[len(g.rows) // len(COLS)] = kind
        add((t, ip, ua, ck, rq, status, size, ref, _UNSET, 0, -1))
    g.agents.append({"kind": "junk", "name": "junk", "visitor": None, "ips": " ".join(ips),
                     "user_agent": None})


def _no_request(m: re.Match) -> bool:
    """No request logged: ``$request``, or ``$request_method`` and the target, ``-`` or empty."""
    found = m.groupdict()
    names = ["request"] if "request" in found else [n for n in ("request_method", "request_uri", "uri") if n in found]
    return bool(names) and all(found[n] in ("-", "") for n in names)


def finish_junk(g: Gen, ev: dict[str, np.ndarray], renderer: Renderer) -> dict[int, str]:
    """Render the junk lines, corrupt those meant to be, and classify them as read_logs would.

    Returns the raw text of the rows written as is (truncated and corrupted ones); sets their
    outcome in ``ev["out"]``.
    """
    rnd = g.rnd
    fmt = renderer.fmt
    rx = re.compile(fmt.regex)
    rows = np.flatnonzero(ev["junk"] >= 0)
    texts = renderer.lines(take(ev, rows))
    raw: dict[int, str] = {}
    for row, text in zip(rows.tolist(), texts):
        kind = JUNK_KINDS[int(ev["junk"][row])]
        if kind == "truncated":  # cut short, so that it no longer matches the format
            for _ in range(50):
                cut = text[: rnd.randrange(len(text) // 3, len(text) - 1)]
                if not rx.match(cut):
                    break
            else:
                cut = text[: len(text) // 4]
            raw[row], outcome = cut, M_FORMAT
        elif kind == "utf8":  # a few bytes overwritten with bytes that are not UTF-8
            at = rnd.randrange(len(text) // 4, len(text) - 3)
            bad = "".join(chr(0xDC00 + rnd.choice((0xFF, 0xFE, 0xC0, 0xC1, 0xF8, 0x80, 0xBF)))
                          for _ in range(rnd.randint(1, 3)))  # surrogates: written as those bytes
            raw[row], outcome = text[:at] + bad + text[at + len(bad) :], M_ENCODING
        else:
            m = rx.match(text)
            if not m:
                outcome = M_FORMAT
            elif _no_request(m):
                outcome = NO_REQUEST
            elif "request" in m.re.groupindex and not REQUEST_LINE.match(m.group("request")):
                outcome = M_REQUEST
            elif int(ev["ua"][row]) < 0:  # it parses: a request without user agent
                outcome = BOT
            else:
                raise RuntimeError(f"junk line {text!r} parses and has a user agent")
        ev["out"][row] = outcome
    return raw
