"""Seeded synthetic access logs of a blog, with the truth behind every line.

:func:`simulate` writes what the openresty setup of a small technical blog logs over a few days or
weeks, and returns, for every line, the outcome :func:`recsys.page_views` (default arguments) is
designed to give it: ``view``, one of its drop reasons, or ``malformed:<kind>`` for the lines
:func:`recsys.read_logs` cannot parse. :attr:`Simulation.truth` holds the article page views of
human readers, the ground truth that the ingestion must recover.

The world
---------
Articles ``/archives/<id>`` (ids increasing with publication, with gaps) belong to one topic each,
have Zipf-like popularity, and some form series (part 1, 2, 3). Most were published before the
period; a few during it, and those get a burst of traffic (from social media and the home page).

Human readers carry a ``UT_ID`` cookie (a UUID4) set by the openresty script on article pages
(``/archives/...``): a request there without the cookie gets a ``302`` to the same URL, which the
browser follows with the cookie. Other pages (home, tags, feed, ``robots.txt``) and static files
are served without the script. A reader has one browser (user agent), one or two addresses, one
or two favourite topics and makes one or several visits, arriving with a daily rhythm. A visit
enters from a search engine, social media (``?utm_source=...``), directly, or through the home or
a tag page, then reads a few articles (series in order, favourite topics, popular posts), each
page followed by its static files (``200`` the first time, mostly ``304`` later). Readers reload
pages, follow odd spellings of article URLs, mistype ids (``404``) and post comments (``POST``,
``302`` back). A few percent refuse cookies: their browser follows the ``302`` about 20 times,
then gives up. Many readers are new in the period (their first article request is the
handshake); the others come back with the cookie they got before.

Robots: search-engine crawlers (``robots.txt``, ``sitemap.xml``, and articles without cookie:
a ``302`` each time, sometimes followed a few times), AI crawlers, feed readers polling ``/feed/``, a link checker
sending ``HEAD`` requests, vulnerability scanners (``/wp-login.php``, ``/.env``, ...), a scraper
with a browser user agent that keeps its cookie but fetches ``/robots.txt`` first (caught by the
``robots_txt`` rule) and a headless scraper that reads an article every one or two seconds
(caught by ``too_fast``). About 0.2 % of the lines are junk: TLS handshakes sent to port 80, empty
requests, request lines with a space in the target, a truncated line and a line with invalid
UTF-8.

Every line's outcome is unambiguous under the rules of :mod:`recsys.views`: human readers never
read more than 20 articles within a minute, never fetch ``robots.txt`` and never share an address
with a robot; crawler and scanner user agents are in the crawler list, those of people and
scrapers are not (checked with :func:`recsys.views.is_bot` while generating).

Files written into ``out_dir``
------------------------------
``access.log``, ``access.log.1``, ``access.log.2.gz``, ... one file per UTC day as logrotate with
``delaycompress`` leaves them (only ``access.log`` with ``rotate=False``), lines in time order,
times in UTC; ``feed.xml``, the blog's RSS 2.0 feed listing every article; with ``labels=True``,
``labels.csv.gz``: one row ``file,line,outcome`` per log line (line numbers 1-based). The feed
and the labels do not look like access logs, so :func:`recsys.files.log_files` skips them and the
directory can be given as it is to :func:`recsys.read_logs`.

Generation is deterministic: the same arguments give byte-identical files.

Command line::

    python -m recsys.simulate OUT_DIR [--visitors N] [--days D] [--articles A] [--seed S]
                              [--start DATE] [--format PRESET] [--no-rotate] [--labels]

The package
-----------
:mod:`~recsys.simulate.world`: the blog (site, topics, articles and their popularity);
:mod:`~recsys.simulate.state`: the state of a simulation while it generates (random generators,
string tables, event rows, addresses); :mod:`~recsys.simulate.readers` and
:mod:`~recsys.simulate.robots`: the agents; :mod:`~recsys.simulate.junk`: the junk lines;
:mod:`~recsys.simulate.generate`: every event in time order, with the static files;
:mod:`~recsys.simulate.render`: the files written; :mod:`~recsys.simulate.simulation`:
:func:`simulate` and :class:`Simulation`; :mod:`~recsys.simulate.cli`: the command line.
"""

from .cli import main
from .outcomes import OUTCOMES
from .simulation import Simulation, simulate

__all__ = ["simulate", "Simulation", "OUTCOMES", "main"]
