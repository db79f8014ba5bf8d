"""Human readers: visits of article views with their cookie handshakes, reloads, odd URLs,
mistyped ids and comments, from one or two addresses with one browser each.
"""

from __future__ import annotations

import random

import numpy as np

from .outcomes import HANDSHAKE, METHOD, NOT_ARTICLE, STATUS, VIEW
from .state import H1, H2, Gen, below, weighted, log
from .world import DAY_MS, HOUR_MS, SITE, TOPICS, _SIZE_302, _SIZE_404

_TCO = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # t.co link ids

# what each agent is, in Simulation.agents
READER, REFUSER = "reader", "cookie_refuser"

#: Browsers of people (and of the scrapers that pass for people), with weights.
BROWSERS: tuple[tuple[str, float], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 Safari/537.36", 16),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/121.0.0.0 Safari/537.36", 6),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 Safari/537.36", 9),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
     "Safari/537.36", 5),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:123.0) Gecko/20100101 Firefox/123.0", 6),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:123.0) Gecko/20100101 Firefox/123.0", 5),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0", 3),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:123.0) Gecko/20100101 Firefox/123.0", 2),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.3.1 Safari/605.1.15", 7),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/122.0.0.0 Safari/537.36 Edg/122.0.0.0", 6),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
     "Mobile Safari/537.36", 12),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.3.1 Mobile/15E148 Safari/604.1", 11),
    ("Mozilla/5.0 (iPad; CPU OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/17.3 Mobile/15E148 Safari/604.1", 2),
    ("Mozilla/5.0 (Android 14; Mobile; rv:123.0) Gecko/123.0 Firefox/123.0", 2),
    ("Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
     "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", 3),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) CriOS/122.0.6261.89 Mobile/15E148 Safari/604.1", 2),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 "
     "Mobile Safari/537.36 EdgA/122.0.0.0", 1),
)
#: Where visits come from: search engines (referer, weight), social media (source, referer, weight).
SEARCH_REFERERS = (("https://www.google.com/", 70), ("https://www.google.de/", 5),
                   ("https://www.google.fr/", 4),
                   ("https://www.bing.com/", 12), ("https://duckduckgo.com/", 9))
SOCIAL = (("twitter", None, 25), ("reddit", "https://www.reddit.com/", 20),
          ("hackernews", "https://news.ycombinator.com/", 15),
          ("mastodon", "https://mastodon.social/", 15), ("linkedin", "https://www.linkedin.com/", 10),
          ("facebook", "https://l.facebook.com/", 8), ("newsletter", None, 7))


def _browser_name(ua: str) -> str:
    for key, name in (("Edg", "Edge"), ("SamsungBrowser", "Samsung Internet"), ("Firefox", "Firefox"),
                      ("CriOS", "Chrome"), ("Chrome", "Chrome"), ("Safari", "Safari")):
        if key in ua:
            mobile = " mobile" if ("Mobile" in ua or "Android" in ua) else ""
            return name + mobile
    return "browser"


def readers(g: Gen) -> None:
    """Human readers: visits of article views with their handshakes, assets, reloads, comments."""
    rnd, tab, blog = g.rnd, g.tab, g.blog
    add = g.rows.extend
    browser = weighted(BROWSERS, rnd)
    search_ref = weighted([(tab.ref(u), w) for u, w in SEARCH_REFERERS], rnd)
    social = weighted([((src, ref), w) for src, ref, w in SOCIAL], rnd)
    topic_w = np.bincount(blog.art_topic, minlength=g.n_topics).astype(float)
    topic_pick = weighted([(k, w) for k, w in enumerate(topic_w)], rnd)
    req_art = {p: [tab.req("GET", u, p) for u in blog.art_uri] for p in (H1, H2)}
    ref_art = [tab.ref(SITE + u) for u in blog.art_uri]
    home_ref = tab.ref(SITE + "/")
    req_home = {p: tab.req("GET", "/", p) for p in (H1, H2)}
    req_tag = {p: [tab.req("GET", f"/tags/{TOPICS[k][0]}/", p) for k in range(g.n_topics)]
               for p in (H1, H2)}
    ref_tag = [tab.ref(f"{SITE}/tags/{TOPICS[k][0]}/") for k in range(g.n_topics)]
    pub, art_size, art_id = blog.pub_list, blog.art_size, blog.art_id.tolist()
    nxt_of, prv_of = blog.art_next, blog.art_prev
    art_topic = blog.art_topic.tolist()
    end = g.end_ms
    n_refusers = 0

    for _ in range(g.n_visitors):
        refuser = rnd.random() < 0.03
        n_refusers += refuser
        cookie = g.uuid()
        ck = tab.cookie(cookie)
        ips = [tab.ip(g.human_ip()) for _ in range(2 if rnd.random() < 0.3 else 1)]
        ua_s = browser()
        ua = tab.ua(ua_s)
        proto = H1 if rnd.random() < 0.08 else H2
        rq_art, rq_home, rq_tag = req_art[proto], req_home[proto], req_tag[proto]
        t1 = topic_pick()
        t2 = topic_pick() if rnd.random() < 0.4 else t1
        new = refuser or rnd.random() < 0.65
        has_ck = not new  # returning readers got their cookie before the period
        warm = not new  # ... and have the static files in their cache
        g.agents.append({"kind": REFUSER if refuser else READER, "name": _browser_name(ua_s),
                         "visitor": None if refuser else cookie,
                         "ips": " ".join(tab.ips.values[i] for i in ips), "user_agent": ua_s})
        loyalty = rnd.random()
        if loyalty < 0.55 or refuser:
            n_visits = 1
        else:
            mean = 1 + (0.1 if loyalty < 0.87 else 0.35) * g.days
            n_visits = min(1 + int(rnd.expovariate(1 / (mean - 1))), 2 * g.days)
        starts = sorted(g.visit_start() for _ in range(n_visits))
        prev_end = -10 * DAY_MS
        seen: set[int] = set()  # articles this reader has read

        for start in starts:
            if start < prev_end + HOUR_MS:
                start = prev_end + HOUR_MS + int(rnd.random() * 6 * HOUR_MS)
            if start >= end:
                break
            t = start
            ip = ips[0] if len(ips) == 1 or rnd.random() < 0.6 else ips[1]
            day = g.day(t)
            topic = t1 if rnd.random() < 0.7 else t2
            # the entry page --------------------------------------------------------------
            r = rnd.random()
            uri_req, utm = -1, None
            if r < 0.40:  # a search engine
                kind, tp, ref = 1, topic if rnd.random() < 0.85 else None, search_ref()
            elif r < 0.53:  # social media, with the campaign in the URL
                kind, tp = 2, None
                src, ref_url = social()
                if src == "twitter":
                    ref_url = "https://t.co/" + "".join(rnd.choice(_TCO) for _ in range(10))
                ref = tab.ref(ref_url)
                utm = f"?utm_source={src}&utm_medium={'email' if src == 'newsletter' else 'social'}"
            elif r < 0.70:  # direct: a bookmark, a link in a chat or an e-mail
                kind, tp, ref = 0, topic, -1
            else:  # the home page or a tag page first
                on_home = r < 0.88
                page = rq_home if on_home else rq_tag[topic]
                size = (24_000 if on_home else 15_000) + below(rnd, 600)
                from_search = search_ref() if rnd.random() < 0.3 else -1
                add((t, ip, ua, ck if has_ck else -1, page, 200, size, from_search, NOT_ARTICLE,
                     2 if warm else 1, -1))
                warm = True
                t += _gap(rnd)
                kind, tp = (2, None) if on_home else (0, topic)
                ref = home_ref if on_home else ref_tag[topic]
            day = g.day(t)
            a = blog.pick(kind, day, tp, t)
            for _ in range(2):  # mostly something not read before
                if a is None or a not in seen or rnd.random() < 0.25:
                    break
                a = blog.pick(kind, day, tp, t)
            if a is None:
                prev_end = t
                continue
            if utm:
                uri_req = tab.req("GET", f"/archives/{art_id[a]}{utm}", proto)
            # the articles ----------------------------------------------------------------
            n_views = 1
            while rnd.random() < 0.6 and n_views < 40:
                n_views += 1
            read = {a}
            for k in range(n_views):
                if t >= end:
                    break
                rq = rq_art[a] if uri_req < 0 else uri_req
                if refuser:  # the redirect loop, then the browser gives up
                    for _ in range(20 if rnd.random() < 0.5 else 21):
                        add((t, ip, ua, -1, rq, 302, _SIZE_302, ref, HANDSHAKE, 0, a))
                        t += 30 + below(rnd, 120)
                    break
                if not has_ck:  # the cookie handshake
                    add((t, ip, ua, -1, rq, 302, _SIZE_302, ref, HANDSHAKE, 0, a))
                    t += 40 + below(rnd, 250)
                    has_ck = True
                add((t, ip, ua, ck, rq, 200, art_size[a] + below(rnd, 64), ref, VIEW, 2 if warm else 1, a))
                warm = True
                seen.add(a)
                page_ref = ref_art[a] if uri_req < 0 else tab.ref(SITE + tab.reqs.values[uri_req][2])
                x = rnd.random()
                if x < 0.03:  # a reload (the page may come from the cache: 304)
                    t += 5_000 + below(rnd, 35_000)
                    status = 304 if rnd.random() < 0.5 else 200
                    size = 0 if status == 304 else art_size[a] + below(rnd, 64)
                    add((t, ip, ua, ck, rq, status, size, ref, VIEW, 2, a))
                elif x < 0.045:  # a comment, then back on the article
                    t += 60_000 + below(rnd, 540_000)
                    post = tab.req("POST", f"/archives/{art_id[a]}/comment", proto)
                    add((t, ip, ua, ck, post, 302, 0, page_ref, METHOD, 0, a))
                    t += 80 + below(rnd, 300)
                    size = art_size[a] + 700 + below(rnd, 64)  # one comment more
                    add((t, ip, ua, ck, rq_art[a], 200, size, page_ref, VIEW, 2, a))
                elif x < 0.055:  # a mistyped id
                    t += 5_000 + below(rnd, 60_000)
                    bad = _typo(rnd, art_id[a], blog.id_set)
                    typo = tab.req("GET", f"/archives/{bad}", proto)
                    add((t, ip, ua, ck, typo, 404, _SIZE_404, -1, STATUS, 0, -1))
                if k == n_views - 1:
                    break
                # the next article
                gap = _gap(rnd)
                t += gap
                if t >= end:
                    break
                day = g.day(t)
                nxt = nxt_of[a]
                prv = prv_of[a]
                again = nxt in seen and rnd.random() < 0.7  # the next part, already read
                if nxt >= 0 and pub[nxt] <= t and nxt not in read and not again and rnd.random() < 0.65:
                    b = nxt
                elif prv >= 0 and prv not in read and rnd.random() < 0.2:
                    b = prv
                else:
                    y = rnd.random()
                    if y < 0.55:  # a favourite topic
                        tp = t1 if rnd.random() < 0.7 else t2
                    else:  # the topic of this article, or anything popular
                        tp = art_topic[a] if y < 0.85 else None
                    b = None
                    for _ in range(3):
                        c = blog.pick(0, day, tp, t)
                        if c is not None and c not in read and (c not in seen or rnd.random() < 0.25):
                            b = c
                            break
                if b is None:
                    break
                if rnd.random() < 0.06:  # back to the home page on the way
                    on_home = t - gap + int(gap * (0.2 + 0.6 * rnd.random()))
                    size = 24_000 + below(rnd, 600)
                    add((on_home, ip, ua, ck, rq_home, 200, size, page_ref, NOT_ARTICLE, 2, -1))
                    page_ref = home_ref
                read.add(b)
                a = b
                ref = page_ref
                v = rnd.random()
                if v < 0.01:
                    uri_req = tab.req("GET", f"/archives/{art_id[a]}/", proto)
                elif v < 0.015:
                    uri_req = tab.req("GET", f"//archives/{art_id[a]}", proto)
                elif v < 0.022:
                    uri_req = tab.req("GET", f"/archives/{art_id[a]}?replytocom={rnd.randint(2, 900)}", proto)
                else:
                    uri_req = -1
            prev_end = t
    log.info("%d readers (%d refuse cookies)", g.n_visitors, n_refusers)


def _gap(rnd: random.Random) -> int:
    """Milliseconds between two pages of a visit: log-normal, 20 s to 15 min."""
    return int(min(900.0, max(20.0, rnd.lognormvariate(4.7, 0.9))) * 1000) + below(rnd, 1000)


def _typo(rnd: random.Random, ident: int, ids: set[int]) -> int:
    s = str(ident)
    for _ in range(20):
        i = below(rnd, len(s))
        kind = rnd.random()
        if kind < 0.4 and len(s) > 1:
            c = s[:i] + s[i + 1 :]
        elif kind < 0.7:
            c = s[:i] + rnd.choice("0123456789") + s[i:]
        elif i + 1 < len(s):
            c = s[:i] + s[i + 1] + s[i] + s[i + 2 :]
        else:
            continue
        c = c.lstrip("0") or "0"
        if int(c) not in ids:
            return int(c)
    return ident * 10 + 7 if ident * 10 + 7 not in ids else max(ids) + 1000
