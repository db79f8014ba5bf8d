"""Writing what a simulation generated: log lines of a format from the event columns (fast, and
identical to :meth:`recsys.LogFormat.render`), the daily files as logrotate leaves them, the labels
and the RSS feed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
import xml.etree.ElementTree as ET
from email.utils import format_datetime
from functools import lru_cache

import numpy as np

from ..formats import LogFormat
from .outcomes import OUTCOMES
from .state import _Tables
from .world import SITE, TOPICS, Blog, midnight

LABELS_NAME = "labels.csv.gz"
FEED_NAME = "feed.xml"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_COLUMN_OF = {"remote_addr": "ip", "http_user_agent": "ua", "cookie_UT_ID": "ck", "http_referer": "ref"}


@lru_cache(maxsize=1)
def _clock() -> tuple[np.ndarray, np.ndarray]:
    """The times of day, per second: as ``$time_local`` and as ``$time_iso8601`` end them (UTC)."""
    hms = [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86400)]
    local = np.array([h + " +0000" for h in hms], dtype=object)
    return local, np.array([h + "+00:00" for h in hms], dtype=object)


_PLAIN = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*\Z")


class Renderer:
    """Lines of a log format from event columns, identical to :meth:`LogFormat.render`.

    ``LogFormat.render`` escapes every value character by character (about 50 µs a line, 20,000
    lines a second); here each distinct value is escaped once, by ``render`` itself (or kept as it
    is when it is printable ASCII without quote or backslash, which no escape mode changes), and
    lines are assembled from the escaped pieces with the template's literal text.
    """

    _KNOWN = {"remote_addr", "remote_user", "time_local", "time_iso8601", "msec", "request", "request_method",
              "request_uri", "status", "body_bytes_sent", "http_referer", "http_user_agent", "cookie_UT_ID"}

    def __init__(self, fmt: LogFormat, tab: _Tables, start: dt.date, days: int) -> None:
        self.fmt = fmt
        one = LogFormat("$v", fmt.escape)
        plain = _PLAIN.match
        # printable ASCII without quote and backslash is written as it is, whatever the escape mode
        esc = lambda v: v if isinstance(v, str) and plain(v) else one.render({"v": v})
        as_array = lambda values: np.array([esc(v) for v in values] + [esc(None)], dtype=object)
        reqs = tab.reqs.values
        self.raw = {"remote_addr": tab.ips.values, "http_user_agent": tab.uas.values,
                    "cookie_UT_ID": tab.cookies.values, "http_referer": tab.refs.values,
                    "request": [r[0] for r in reqs], "request_method": [r[1] for r in reqs],
                    "request_uri": [r[2] for r in reqs]}
        self.tables = {name: as_array(values) for name, values in self.raw.items()}
        self.start_s = midnight(start)
        dates = [start + dt.timedelta(days=d) for d in range(days)]
        self.day_local = np.array([f"{d.day:02d}/{_MONTHS[d.month - 1]}/{d.year}:" for d in dates],
                                  dtype=object)
        self.day_iso = np.array([d.isoformat() + "T" for d in dates], dtype=object)
        self.hms_local, self.hms_iso = _clock()
        # the template: literal text kept, variables as %s (constants folded in)
        pattern, self.order = [], []
        for kind, text in fmt.items:
            if kind == "lit":
                pattern.append(text.replace("%", "%%"))
            elif text in self._KNOWN and text != "remote_user":
                pattern.append("%s")
                self.order.append(text)
            else:
                pattern.append(esc(None).replace("%", "%%"))
        self.pattern = "".join(pattern)

    def _column(self, name: str, ev: dict[str, np.ndarray]) -> list[str]:
        if name in ("remote_addr", "http_user_agent", "cookie_UT_ID", "http_referer"):
            return self.tables[name][ev[_COLUMN_OF[name]]].tolist()
        if name in ("request", "request_method", "request_uri"):
            return self.tables[name][ev["req"]].tolist()
        if name == "status":
            return ev["status"].astype(str).tolist()
        if name == "body_bytes_sent":
            return ev["size"].astype(str).tolist()
        sec = ev["t"] // 1000
        if name == "msec":
            return [f"{s}.{m:03d}" for s, m in zip(sec.tolist(), (ev["t"] % 1000).tolist())]
        day, sod = (sec - self.start_s) // 86400, sec % 86400
        if name == "time_local":
            return (self.day_local[day] + self.hms_local[sod]).tolist()
        return (self.day_iso[day] + self.hms_iso[sod]).tolist()  # time_iso8601

    def lines(self, ev: dict[str, np.ndarray]) -> list[str]:
        """The lines of these events (a slice of the event columns)."""
        if not self.order:
            return [self.pattern] * len(ev["t"])
        cols = {name: self._column(name, ev) for name in dict.fromkeys(self.order)}
        pattern = self.pattern
        return [pattern % row for row in zip(*(cols[name] for name in self.order))]

    def values(self, ev: dict[str, np.ndarray], i: int) -> dict[str, str | bytes | None]:
        """The nginx variables of event ``i``, unescaped: what :meth:`LogFormat.render` takes."""
        get = lambda table, j: None if j < 0 else self.raw[table][j]
        t = int(ev["t"][i])
        when = dt.datetime.fromtimestamp(t // 1000, dt.timezone.utc)
        request = get("request", int(ev["req"][i]))
        return {
            "remote_addr": get("remote_addr", int(ev["ip"][i])),
            "remote_user": None,
            "time_local": f"{when.day:02d}/{_MONTHS[when.month - 1]}/{when.year}:{when:%H:%M:%S} +0000",
            "time_iso8601": when.isoformat(),
            "msec": f"{t // 1000}.{t % 1000:03d}",
            "request": request,
            "request_method": get("request_method", int(ev["req"][i])),
            "request_uri": get("request_uri", int(ev["req"][i])),
            "status": str(int(ev["status"][i])),
            "body_bytes_sent": str(int(ev["size"][i])),
            "http_referer": get("http_referer", int(ev["ref"][i])),
            "http_user_agent": get("http_user_agent", int(ev["ua"][i])),
            "cookie_UT_ID": get("cookie_UT_ID", int(ev["ck"][i])),
        }


def take(ev: dict[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in ev.items()}


def file_names(days: int, rotate: bool) -> list[str]:
    """Names of the daily files, oldest first, as logrotate with delaycompress leaves them."""
    if not rotate:
        return ["access.log"]
    names = []
    for d in range(days):
        age = days - 1 - d
        names.append("access.log" if age == 0 else "access.log.1" if age == 1 else f"access.log.{age}.gz")
    return names


def write_log(
    path: str, ev: dict[str, np.ndarray], lo: int, hi: int, renderer: Renderer, raw: dict[int, str]
) -> None:
    """Write events ``lo:hi`` into ``path`` (gzip when it ends with ``.gz``), in blocks."""
    step = 100_000
    gz = path.endswith(".gz")
    with open(path, "wb") as f:
        out = _gzip(f) if gz else f
        try:
            for a in range(lo, hi, step):
                b = min(hi, a + step)
                lines = renderer.lines(take(ev, slice(a, b)))
                for row in [r for r in raw if a <= r < b]:
                    lines[row - a] = raw[row]
                out.write(("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
        finally:
            if gz:
                out.close()


def _gzip(f) -> gzip.GzipFile:
    """gzip -6 as logrotate runs it, with no name or time in the header: reproducible bytes."""
    return gzip.GzipFile(fileobj=f, mode="wb", compresslevel=6, mtime=0, filename="")


def write_labels(path: str, parts: list[tuple[str, np.ndarray]]) -> None:
    names = np.array(OUTCOMES, dtype=object)
    with open(path, "wb") as f, _gzip(f) as out:
        out.write(b"file,line,outcome\n")
        for name, outcomes in parts:
            if len(outcomes):
                text = "\n".join(f"{name},{i},{o}" for i, o in enumerate(names[outcomes].tolist(), 1))
                out.write((text + "\n").encode())


def write_feed(path: str, blog: Blog) -> None:
    """The blog's RSS 2.0 feed, newest article first."""
    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    when = lambda ms: format_datetime(dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc))
    for tag, text in (("title", "Example Engineering Blog"), ("link", SITE + "/"),
                      ("description", "Notes on servers, code and data"), ("language", "en"),
                      ("lastBuildDate", when(int(blog.art_pub.max()))), ("generator", "recsys.simulate")):
        ET.SubElement(channel, tag).text = text
    for a in range(len(blog.art_id) - 1, -1, -1):
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = blog.art_title[a]
        ET.SubElement(item, "link").text = SITE + blog.art_uri[a]
        ET.SubElement(item, "guid", isPermaLink="true").text = SITE + blog.art_uri[a]
        ET.SubElement(item, "pubDate").text = when(int(blog.art_pub[a]))
        ET.SubElement(item, "category").text = TOPICS[blog.art_topic[a]][1]
    ET.indent(rss)
    ET.ElementTree(rss).write(path, encoding="utf-8", xml_declaration=True)
