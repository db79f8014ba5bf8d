"""The state of a simulation while it generates: random generators, the blog, the string tables
and the event rows the agents append to, the daily rhythm of visits and the addresses handed out.
"""

from __future__ import annotations

import array
import datetime as dt
import ipaddress
import logging
import random
import uuid
from bisect import bisect_right
from collections.abc import Sequence

import numpy as np

from .world import DAY_MS, HOUR_MS, Blog, midnight

log = logging.getLogger(__package__)  # "recsys.simulate", for every module of the package

H1, H2 = "HTTP/1.1", "HTTP/2.0"

#: The columns of an event row, in :attr:`Gen.rows` (flat, ``len(COLS)`` integers a row).
COLS = ("t", "ip", "ua", "ck", "req", "status", "size", "ref", "out", "assets", "art")

# the daily rhythm of visits: weights per hour of the day (UTC) and per weekday (Monday first)
HOURLY = (0.9, 0.7, 0.5, 0.4, 0.35, 0.4, 0.6, 0.9, 1.3, 1.6, 1.8, 1.8, 1.7, 1.7, 1.8, 1.9, 1.9, 1.8, 1.6, 1.5,
          1.5, 1.5, 1.3, 1.1)
WEEKDAY = (1.0, 1.05, 1.05, 1.0, 0.9, 0.65, 0.7)

# First octets of residential IPv4 addresses (people) and of hosting networks (robots): disjoint,
# so no person ever shares an address with a robot.
_HUMAN_V4 = (24, 31, 37, 46, 47, 62, 68, 71, 73, 76, 77, 78, 79, 80, 81, 82, 83, 84, 86, 88, 89, 90, 91,
             92, 93,
             94, 95, 97, 98, 99, 108, 109, 151, 176, 188, 190, 201, 212, 217)
_HUMAN_V6 = (0x2A01CB00, 0x2A028428, 0x20010861, 0x26001700, 0x26012840, 0x2A02A460, 0x24091010, 0x2A0DE487)
_HOSTING_V4 = ("45.", "104.248.", "138.197.", "139.59.", "143.198.", "159.203.", "164.92.", "165.227.",
               "167.94.", "193.32.",
               "194.165.", "198.235.", "205.210.")


class _Interner:
    """Distinct values in first-use order: ``add(value) -> index``, ``values[index]``."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.values: list = []

    def add(self, value) -> int:
        i = self.index.get(value)
        if i is None:
            i = self.index[value] = len(self.values)
            self.values.append(value)
        return i

    def __len__(self) -> int:
        return len(self.values)


class _Tables:
    """Strings referred to by index from the event rows."""

    def __init__(self) -> None:
        self.ips = _Interner()
        self.uas = _Interner()
        self.cookies = _Interner()
        self.reqs = _Interner()  # (request, request_method, request_uri)
        self.refs = _Interner()

    def ip(self, s: str) -> int:
        return self.ips.add(s)

    def ua(self, s: str | None) -> int:
        return -1 if s is None else self.uas.add(s)

    def cookie(self, s: str) -> int:
        return self.cookies.add(s)

    def req(self, method: str, uri: str, proto: str = H1) -> int:
        return self.reqs.add((f"{method} {uri} {proto}", method, uri))

    def raw_req(self, request: str | bytes, method: str | None, uri: str | None) -> int:
        return self.reqs.add((request, method, uri))

    def ref(self, url: str | None) -> int:
        return -1 if url is None else self.refs.add(url)


def weighted(items: Sequence[tuple], rnd: random.Random):
    """A chooser of the first element of ``items`` by the weight in their last element."""
    values = [it[0] for it in items]
    cum = list(np.cumsum([it[-1] for it in items], dtype=float))
    total = cum[-1]
    return lambda: values[min(bisect_right(cum, rnd.random() * total), len(values) - 1)]


class Gen:
    """The state of one simulation: random generators, the blog, the string tables, the events."""

    def __init__(
        self, *, visitors: int, days: int, articles: int, topics: int, seed: int, start: dt.date
    ) -> None:
        self.rnd = random.Random(seed)
        self.rng = np.random.default_rng(seed)
        self.n_visitors, self.days, self.n_topics = visitors, days, topics
        self.start_ms = midnight(start) * 1000
        self.end_ms = self.start_ms + days * DAY_MS
        self.start = start
        self.tab = _Tables()
        # the events, flat: (t, ip, ua, ck, req, status, size, ref, outcome, assets, art) each
        self.rows = array.array("q")
        self.junk: dict[int, str] = {}  # row index -> junk kind
        self.agents: list[dict] = []
        self.used_ips: set[str] = set()
        self.blog = Blog(self.rnd, self.rng, articles=articles, topics=topics, days=days,
                          start_ms=self.start_ms)
        # time slots of visits: days x hours, weighted by weekday and hour of day
        weights = [WEEKDAY[(start + dt.timedelta(days=d)).weekday()] * h for d in range(days) for h in HOURLY]
        self.slot_cum = list(np.cumsum(weights))

    def visit_start(self) -> int:
        slot = min(bisect_right(self.slot_cum, self.rnd.random() * self.slot_cum[-1]), len(self.slot_cum) - 1)
        return self.start_ms + slot * HOUR_MS + int(self.rnd.random() * HOUR_MS)

    # addresses --------------------------------------------------------------------------------
    def _unique(self, make) -> str:
        while True:
            ip = make()
            if ip not in self.used_ips:
                self.used_ips.add(ip)
                return ip

    def human_ip(self) -> str:
        rnd = self.rnd
        if rnd.random() < 0.18:
            return self._unique(lambda: ipaddress.IPv6Address(
                (rnd.choice(_HUMAN_V6) << 96) | (rnd.getrandbits(32) << 64) | rnd.getrandbits(64)).compressed)
        return self._unique(
            lambda: f"{rnd.choice(_HUMAN_V4)}.{below(rnd, 256)}.{below(rnd, 256)}.{1 + below(rnd, 254)}")

    def hosting_ip(self) -> str:
        rnd = self.rnd

        def make() -> str:
            prefix = rnd.choice(_HOSTING_V4)
            parts = [str(below(rnd, 256)) for _ in range(3 - prefix.count("."))]
            return prefix + ".".join(parts + [str(1 + below(rnd, 254))])
        return self._unique(make)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rnd.getrandbits(128), version=4))

    # events -----------------------------------------------------------------------------------
    def day(self, t: int) -> int:
        return min(max((t - self.start_ms) // DAY_MS, 0), self.days - 1)


def below(rnd: random.Random, n: int) -> int:
    """A random integer in ``[0, n)`` (``randrange`` costs three times more)."""
    return int(rnd.random() * n)
