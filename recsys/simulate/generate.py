"""Every event of a simulation, in time order: the requests of all agents, then the static files
each page fetches, with the first rule of :mod:`recsys.views` (crawler user agents) checked.
"""

from __future__ import annotations

import array
import datetime as dt

import numpy as np

from ..views import is_bot
from .junk import JUNK_KINDS, junk
from .outcomes import ASSET, BOT, HANDSHAKE, ROBOTS, STATUS, TOO_FAST, VIEW
from .readers import readers
from .robots import crawlers, feed_readers, link_checker, scanners, scrapers
from .state import COLS, H1, H2, Gen, log
from .world import SITE, _ASSET_SIZES, _CSS, _FAVICON, _JS, _LOGO


def _assets(g: Gen, ev: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The static files each page fetches: stylesheet, script, an image, sometimes the icon."""
    rng, tab = g.rng, g.tab
    pages = np.flatnonzero(ev["assets"] > 0)
    n = len(pages)
    if not n:
        return {k: v[:0] for k, v in ev.items()}
    reqs = tab.reqs.values
    proto_of = np.array([r[0].endswith(H2) if isinstance(r[0], str) else False for r in reqs])
    h2 = proto_of[ev["req"][pages]].astype(np.int64)
    per_proto = lambda uri: np.array([tab.req("GET", uri, H1), tab.req("GET", uri, H2)])
    css, js, logo, fav = per_proto(_CSS), per_proto(_JS), per_proto(_LOGO), per_proto(_FAVICON)
    covers = np.array([[tab.req("GET", f"/images/{i}/cover.jpg", p) for p in (H1, H2)]
                       for i in g.blog.art_id.tolist()])
    art = ev["art"][pages]
    has_art = art >= 0
    art0 = np.where(has_art, art, 0)
    fresh = ev["assets"][pages] == 1
    image = np.where(has_art, covers[art0, h2], logo[h2])
    req = np.stack([css[h2], js[h2], image, fav[h2]], axis=1)
    present = np.ones((n, 4), bool)
    present[:, 2] = ~has_art | g.blog.art_cover[art0]
    present[:, 3] = rng.random(n) < np.where(fresh, 0.6, 0.03)
    status = np.where(fresh[:, None] | (rng.random((n, 4)) < 0.12), 200, 304)
    image_size = np.where(has_art, g.blog.art_cover_size[art0], _ASSET_SIZES[2])
    sizes = np.stack([np.full(n, _ASSET_SIZES[0]), np.full(n, _ASSET_SIZES[1]), image_size,
                      np.full(n, _ASSET_SIZES[3])], axis=1)
    size = np.where(status == 200, sizes, 0)
    t = ev["t"][pages][:, None] + np.cumsum(rng.integers(15, 250, (n, 4)), axis=1)
    # the referer of a static file is the page
    page_req = ev["req"][pages]
    uniq, inv = np.unique(page_req, return_inverse=True)
    page_ref = np.array([tab.ref(SITE + reqs[r][2]) for r in uniq.tolist()])[inv.reshape(-1)]
    rep = lambda x: np.repeat(x[:, None], 4, axis=1)[present]
    out = {
        "t": t[present], "ip": rep(ev["ip"][pages]), "ua": rep(ev["ua"][pages]), "ck": rep(ev["ck"][pages]),
        "req": req[present], "status": status[present], "size": size[present], "ref": rep(page_ref),
        "out": np.full(int(present.sum()), ASSET), "assets": np.zeros(int(present.sum()), np.int64),
        "art": np.full(int(present.sum()), -1),
    }
    slot = np.broadcast_to(np.arange(1, 5), (n, 4))
    out["seq"] = (pages[:, None] * 8 + slot)[present]
    return out


def generate(
    *, visitors: int, days: int, articles: int, topics: int, seed: int, start: dt.date
) -> tuple[Gen, dict[str, np.ndarray]]:
    """Generate every event; return the generator and the events as sorted numpy columns."""
    g = Gen(visitors=visitors, days=days, articles=articles, topics=topics, seed=seed, start=start)
    readers(g)
    crawlers(g)
    feed_readers(g)
    link_checker(g)
    scanners(g)
    scrapers(g)
    n_main = len(g.rows) // len(COLS)
    junk(g)
    arr = np.frombuffer(g.rows, np.int64).reshape(-1, len(COLS))
    log.info("%d requests before static files, %d junk lines", n_main, len(arr) - n_main)
    ev = {c: arr[:, i].copy() if c == "t" else arr[:, i].astype(np.int32) for i, c in enumerate(COLS)}
    g.rows = array.array("q")
    ev["seq"] = np.arange(len(arr), dtype=np.int64) * 8
    ev["junk"] = np.full(len(arr), -1, np.int32)
    del arr
    for i, kind in g.junk.items():
        ev["junk"][i] = JUNK_KINDS.index(kind)
    extra = _assets(g, ev)
    extra["junk"] = np.full(len(extra["t"]), -1, np.int32)
    ev = {c: np.concatenate([ev[c], extra[c].astype(ev[c].dtype)]) for c in ev}
    keep = (ev["t"] >= g.start_ms) & (ev["t"] < g.end_ms)
    order = np.lexsort((ev["seq"][keep], ev["t"][keep]))
    ev = {c: v[keep][order] for c, v in ev.items()}
    # the first rule: user agents of the crawler list, or none at all
    uas = g.tab.uas.values
    bot_ua = np.append(is_bot(uas) if uas else np.zeros(0, bool), True)  # index -1: no user agent
    bot = bot_ua[ev["ua"]] & (ev["junk"] < 0)
    people = np.isin(ev["out"], (VIEW, ROBOTS, TOO_FAST, ASSET, HANDSHAKE, STATUS))
    if (bot & people).any():
        raise RuntimeError("a browser user agent of the simulation is in the crawler list")
    if ((ev["out"] == BOT) & ~bot_ua[ev["ua"]]).any():
        raise RuntimeError("a crawler or scanner user agent of the simulation is not in the crawler list")
    ev["out"][bot] = BOT
    return g, ev
