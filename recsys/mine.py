"""The command line: ``python -m recsys.mine LOGS... [options]``.

Reads the logs, keeps the article page views and prints where every line went.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from .atomic import atomic_write
from .errors import RecsysError
from .views import ARTICLE_PATTERNS, read_page_views

EXAMPLE = """\
example:
  python -m recsys.mine /var/log/nginx/ --article-pattern hugo
  python -m recsys.mine access.log.gz --log-format '$remote_addr [$time_local] "$request" $status "$http_user_agent" "$cookie_UT_ID"'
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m recsys.mine",
        description="Mine 'readers of this post also read' recommendations from nginx access logs.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("logs", nargs="+", metavar="LOGS",
                   help="log files (.gz too), directories of rotated logs, or - for standard input")
    g = p.add_argument_group("reading logs")
    g.add_argument("--log-format", default="auto", metavar="FMT",
                   help="a preset (combined, combined_ut, tsv, json), an nginx log_format string "
                        "as in nginx.conf, or auto (default)")
    g.add_argument("--nginx-conf", metavar="FILE", help="read the log_format from this nginx configuration")
    g.add_argument("--format-name", metavar="NAME", help="which log_format of --nginx-conf to use")
    g.add_argument("--cookie", default="UT_ID", help="the visitor cookie's name (default: UT_ID)")
    g = p.add_argument_group("page views")
    g.add_argument("--article-pattern", default="openresty", metavar="P",
                   help=f"{', '.join(ARTICLE_PATTERNS)} or a regular expression (default: openresty)")
    g.add_argument("--trailing-slash", choices=["strip", "add", "keep"],
                   help="canonical URL form (default: the article pattern's)")
    g.add_argument("--keep-query", action="append", default=[], metavar="PARAM",
                   help="a query parameter that is part of an article's URL (repeatable)")
    g.add_argument("--visitor", choices=["cookie", "ip+ua"], default="cookie",
                   help="identify readers by the cookie (default) or by address and user agent")
    g.add_argument("--max-per-minute", type=int, default=20, metavar="N",
                   help="drop visitors reading more articles than this in a minute (default: 20)")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="write report.json into this directory")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars, only errors")
    g.add_argument("--verbose", "-v", action="store_true", help="log what happens")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING,
        format="recsys: %(message)s",
    )
    if args.max_per_minute < 1:
        parser.error(f"--max-per-minute must be at least 1; got {args.max_per_minute}")
    started = time.perf_counter()
    try:
        views = read_page_views(
            args.logs,
            progress=False if args.quiet else None,
            read_options={
                "log_format": args.log_format, "nginx_conf": args.nginx_conf,
                "format_name": args.format_name, "cookie": args.cookie,
            },
            article_pattern=args.article_pattern, trailing_slash=args.trailing_slash,
            keep_query=args.keep_query, visitor=args.visitor, max_per_minute=args.max_per_minute,
        )
        acc = views.attrs["accounting"].check()
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with atomic_write(os.path.join(args.out, "report.json")) as f:
                json.dump({"accounting": acc.to_dict()}, f, indent=2)
        print(acc.summary())
        print(f"\n{views['visitor'].nunique():,} visitors read {views['url'].nunique():,} articles "
              f"({time.perf_counter() - started:.1f} s)")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (RecsysError, ValueError, OSError) as e:
        print(f"recsys: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("recsys: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
