"""Robots: search-engine and AI crawlers, feed readers, a link checker, vulnerability scanners, and
scrapers with a browser's user agent that only the behaviour rules catch.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right

from .outcomes import BOT, HANDSHAKE, METHOD, NOT_ARTICLE, ROBOTS, TOO_FAST
from .readers import BROWSERS
from .state import H1, H2, Gen, below, weighted
from .world import DAY_MS, HOUR_MS, TOPICS, _SIZE_302, _SIZE_404, _SIZE_405

#: Search-engine and AI crawlers: name, user agent, /24 prefixes, sessions a day, follows redirects.
CRAWLERS: tuple[tuple[str, str, tuple[str, ...], float, bool], ...] = (
    ("Googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
     ("66.249.66.", "66.249.68.", "66.249.79."), 5.0, True),
    ("Googlebot smartphone", "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
     "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.6261.94 Mobile Safari/537.36 "
     "(compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)",
     ("66.249.66.", "66.249.70."), 3.0, True),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     ("157.55.39.", "207.46.13.", "40.77.167."), 3.0, True),
    ("YandexBot", "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
     ("5.255.231.", "213.180.203.", "87.250.224."), 1.5, False),
    ("Applebot", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) "
     "Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)",
     ("17.241.219.", "17.22.253."), 1.0, False),
    ("DuckDuckBot", "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
     ("20.191.45.", "40.88.21."), 0.7, False),
    ("Baiduspider", "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
     ("116.179.32.", "220.181.108."), 0.7, False),
    ("AhrefsBot", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
     ("54.36.148.", "51.222.253."), 2.0, False),
    ("SemrushBot", "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
     ("185.191.171.",), 1.0, False),
    ("PetalBot", "Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)",
     ("114.119.134.", "114.119.146."), 0.7, False),
    ("GPTBot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.0; "
     "+https://openai.com/gptbot)",
     ("20.171.207.",), 0.7, False),
    ("ClaudeBot", "Mozilla/5.0 (compatible; ClaudeBot/1.0; +claudebot@anthropic.com)",
     ("3.224.220.",), 0.5, False),
)
#: Feed readers polling /feed/: user agent, minutes between polls. Some are in the crawler list.
FEED_READERS: tuple[tuple[str, int], ...] = (
    ("Feedly/1.0 (+http://www.feedly.com/fetcher.html; 37 subscribers; )", 60),
    ("Mozilla/5.0 (compatible; inoreader.com; 12 subscribers)", 90),
    ("NewsBlur Feed Fetcher - 9 subscribers - "
     "https://www.newsblur.com/site/6183/example-engineering-blog (Mozilla/5.0 (Macintosh; Intel "
     "Mac OS X 10_14_1) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/71.0.3578.98 Safari/537.36)", 120),
    ("NetNewsWire (RSS Reader; https://netnewswire.com/)", 180),
    ("Miniflux/2.1.0 (https://miniflux.app)", 60),
    ("FreshRSS/1.23.1 (Linux; https://freshrss.org)", 30),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.8.0", 240),
    ("Tiny Tiny RSS/22.08 (https://tt-rss.org/)", 45),
)
LINK_CHECKER = "LinkChecker/10.2.1 (+https://linkchecker.github.io/linkchecker/)"
#: Vulnerability scanners' user agents (``None``: no user agent at all).
SCANNER_AGENTS: tuple[str | None, ...] = (
     "curl/8.5.0", "python-requests/2.31.0", "Mozilla/5.0 zgrab/0.x", "Go-http-client/1.1",
     "Mozilla/5.0 (compatible; CensysInspect/1.1; +https://about.censys.io/)",
     "masscan/1.3 (https://github.com/robertdavidgraham/masscan)", "Wget/1.21.4", None,
)
SCANNER_PROBES: tuple[tuple[str, str, int], ...] = (
     ('GET', '/wp-login.php', 404), ('POST', '/xmlrpc.php', 405), ('GET', '/.env', 404),
     ('GET', '/.git/config', 404), ('GET', '/wp-admin/setup-config.php', 404),
     ('GET', '/phpmyadmin/index.php', 404), ('GET', '/admin/.env', 404),
     ('GET', '/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php', 404), ('GET', '/config.json', 404),
     ('GET', '/backup.zip', 404), ('GET', '/.aws/credentials', 404), ('GET', '/server-status', 404),
     ('GET', '/wp-content/plugins/wp-file-manager/readme.txt', 404),
     ('GET', '/cgi-bin/luci/;stok=/locale', 404), ('GET', '/actuator/health', 404),
     ('GET', '/.DS_Store', 404), ('GET', '/wp-includes/wlwmanifest.xml', 404),
     ('GET', '/.well-known/security.txt', 404), ('GET', '/', 200), ('GET', '/owa/auth/logon.aspx', 404),
)


def crawlers(g: Gen) -> None:
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    scale = max(0.5, math.sqrt(g.n_visitors / 2000))
    robots, sitemap = tab.req("GET", "/robots.txt"), tab.req("GET", "/sitemap.xml")
    home, feed = tab.req("GET", "/"), tab.req("GET", "/feed/")
    tags = [tab.req("GET", f"/tags/{TOPICS[k][0]}/") for k in range(g.n_topics)]
    arts = [tab.req("GET", u) for u in g.blog.art_uri]
    for name, ua_s, prefixes, per_day, follows in CRAWLERS:
        ua = tab.ua(ua_s)
        ips: list[int] = []
        n = _poisson(rnd, per_day * scale * g.days)
        for _ in range(n):
            t = g.start_ms + int(rnd.random() * (g.end_ms - g.start_ms))
            ip_s = rnd.choice(prefixes) + str(1 + below(rnd, 254))
            g.used_ips.add(ip_s)
            ip = tab.ip(ip_s)
            ips.append(ip)
            if rnd.random() < 0.6:
                add((t, ip, ua, -1, robots, 200, 67, -1, BOT, 0, -1))
                t += 500 + below(rnd, 5000)
            if rnd.random() < 0.4:
                add((t, ip, ua, -1, sitemap, 200, 9_000 + 40 * len(arts), -1, BOT, 0, -1))
                t += 500 + below(rnd, 5000)
            published = bisect_right(g.blog.pub_list, t)
            for _ in range(rnd.randint(1, 12)):
                x = rnd.random()
                if x < 0.1:
                    add((t, ip, ua, -1, home, 200, 24_000 + below(rnd, 600), -1, BOT, 0, -1))
                elif x < 0.18:
                    add((t, ip, ua, -1, feed, 200, 52_000, -1, BOT, 0, -1))
                elif x < 0.25:
                    add((t, ip, ua, -1, tags[below(rnd, g.n_topics)], 200, 15_000, -1, BOT, 0, -1))
                elif published:
                    a = below(rnd, published)
                    hops = rnd.randint(2, 6) if follows and rnd.random() < 0.5 else 1
                    for _ in range(hops):  # no cookie: a redirect each time
                        add((t, ip, ua, -1, arts[a], 302, _SIZE_302, -1, BOT, 0, a))
                        t += 100 + below(rnd, 900)
                t += 1_000 + below(rnd, 30_000)
        g.agents.append({"kind": "crawler", "name": name, "visitor": None,
                         "ips": " ".join(dict.fromkeys(tab.ips.values[i] for i in ips)), "user_agent": ua_s})


def feed_readers(g: Gen) -> None:
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    n = min(len(FEED_READERS), 3 + g.n_visitors // 1000)
    for ua_s, minutes in FEED_READERS[:n]:
        ua, ip_s = tab.ua(ua_s), g.hosting_ip()
        ip = tab.ip(ip_s)
        rq = tab.req("GET", "/feed/", H1 if rnd.random() < 0.5 else H2)
        t = g.start_ms + int(rnd.random() * minutes * 60_000)
        while t < g.end_ms:
            new = bisect_right(g.blog.pub_list, t) != bisect_right(g.blog.pub_list, t - minutes * 60_000)
            status = 200 if new or rnd.random() < 0.1 else 304
            add((t, ip, ua, -1, rq, status, 52_000 if status == 200 else 0, -1, NOT_ARTICLE, 0, -1))
            t += int(minutes * 60_000 * (0.9 + 0.2 * rnd.random()))
        g.agents.append({"kind": "feed_reader", "name": ua_s.split("/")[0].split(" (")[0], "visitor": None,
                         "ips": ip_s, "user_agent": ua_s})


def link_checker(g: Gen) -> None:
    """HEAD of every page once a week, at night, without cookie (articles answer 302)."""
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    ua, ip_s = tab.ua(LINK_CHECKER), g.hosting_ip()
    ip = tab.ip(ip_s)
    for day in range(below(rnd, min(7, g.days)), g.days, 7):
        t = g.start_ms + day * DAY_MS + 3 * HOUR_MS + int(rnd.random() * HOUR_MS)
        pages = [("/", 200), ("/feed/", 200)] + [(f"/tags/{TOPICS[k][0]}/", 200) for k in range(g.n_topics)]
        pages += [(u, 302) for u, p in zip(g.blog.art_uri, g.blog.pub_list) if p <= t]
        for uri, status in pages:
            add((t, ip, ua, -1, tab.req("HEAD", uri), status, 0, -1, METHOD, 0, -1))
            t += 200 + below(rnd, 800)
    g.agents.append({"kind": "link_checker", "name": "LinkChecker", "visitor": None, "ips": ip_s,
                     "user_agent": LINK_CHECKER})


def scanners(g: Gen) -> None:
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    n = max(1, _poisson(rnd, 2.5 * g.days * max(0.5, math.sqrt(g.n_visitors / 2000))))  # scanned daily
    for _ in range(n):
        ua_s = rnd.choice(SCANNER_AGENTS)
        ua, ip_s = tab.ua(ua_s), g.hosting_ip()
        ip = tab.ip(ip_s)
        t = g.start_ms + int(rnd.random() * (g.end_ms - g.start_ms))
        for method, uri, status in rnd.sample(SCANNER_PROBES, rnd.randint(3, len(SCANNER_PROBES))):
            size = {200: 24_000, 404: _SIZE_404, 405: _SIZE_405}[status]
            add((t, ip, ua, -1, tab.req(method, uri), status, size, -1, BOT, 0, -1))
            t += 50 + below(rnd, 1500)
        g.agents.append({"kind": "scanner", "name": (ua_s or "-").split("/")[0], "visitor": None, "ips": ip_s,
                         "user_agent": ua_s})


def scrapers(g: Gen) -> None:
    """Scrapers with a browser's user agent and a cookie, caught by the behaviour rules."""
    rnd, tab, add = g.rnd, g.tab, g.rows.extend
    browser = weighted(BROWSERS[:10], rnd)
    robots = tab.req("GET", "/robots.txt")
    for _ in range(1 + g.n_visitors // 20_000):
        # polite but not a browser: robots.txt first, then articles slowly, in id order
        ua_s, ip_s, cookie = browser(), g.hosting_ip(), g.uuid()
        ua, ip, ck = tab.ua(ua_s), tab.ip(ip_s), tab.cookie(cookie)
        has_ck = False
        days = sorted(rnd.sample(range(g.days), max(1, g.days // 3)))
        cursor = 0
        for day in days:
            t = g.start_ms + day * DAY_MS + int(rnd.random() * 20 * HOUR_MS)
            add((t, ip, ua, ck if has_ck else -1, robots, 200, 67, -1, NOT_ARTICLE, 0, -1))
            t += 1_000 + below(rnd, 4_000)
            for _ in range(rnd.randint(10, 40)):
                published = bisect_right(g.blog.pub_list, t)
                if not published:
                    break
                a = cursor % published
                cursor += 1
                rq = tab.req("GET", g.blog.art_uri[a])
                if not has_ck:
                    add((t, ip, ua, -1, rq, 302, _SIZE_302, -1, HANDSHAKE, 0, a))
                    t += 50 + below(rnd, 200)
                    has_ck = True
                add((t, ip, ua, ck, rq, 200, g.blog.art_size[a] + below(rnd, 64), -1, ROBOTS, 0, a))
                t += 20_000 + below(rnd, 70_000)
        g.agents.append({"kind": "robots_scraper", "name": "scraper", "visitor": cookie, "ips": ip_s,
                         "user_agent": ua_s})
    for _ in range(1 + g.n_visitors // 20_000):
        # a headless browser reading an article every second or two, well inside the period
        ua_s, ip_s, cookie = browser(), g.hosting_ip(), g.uuid()
        ua, ip, ck = tab.ua(ua_s), tab.ip(ip_s), tab.cookie(cookie)
        span = g.end_ms - g.start_ms
        t = g.start_ms + int((0.1 + 0.6 * rnd.random()) * span)
        published = max(1, bisect_right(g.blog.pub_list, t))
        order = list(range(published))
        rnd.shuffle(order)
        n = max(30, min(published, rnd.randint(60, 150)))
        proto = H2
        for i in range(n):
            a = order[i % published]
            rq = tab.req("GET", g.blog.art_uri[a], proto)
            if i == 0:
                add((t, ip, ua, -1, rq, 302, _SIZE_302, -1, HANDSHAKE, 0, a))
                t += 50 + below(rnd, 200)
            size = g.blog.art_size[a] + below(rnd, 64)
            add((t, ip, ua, ck, rq, 200, size, -1, TOO_FAST, 1 if i == 0 else 2, a))
            t += 800 + below(rnd, 1_700)  # 21 articles take at most 50 s
        g.agents.append({"kind": "fast_scraper", "name": "headless", "visitor": cookie, "ips": ip_s,
                         "user_agent": ua_s})


def _poisson(rnd: random.Random, lam: float) -> int:
    if lam > 50:
        return max(0, round(rnd.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rnd.random()
    while p > limit:
        k += 1
        p *= rnd.random()
    return k
