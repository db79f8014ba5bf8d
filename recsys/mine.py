"""The command line: ``python -m recsys.mine LOGS... [options]``.

Reads the logs, keeps the article page views, groups them into sessions, mines frequent itemsets
and association rules, and prints where every line went and the strongest rules.
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
from .itemsets import apriori, eclat
from .rules import association_rules
from .sessions import baskets, sessionize
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
    g = p.add_argument_group("sessions and mining")
    g.add_argument("--gap", default="30min", help="inactivity that ends a session (default: 30min)")
    g.add_argument("--basket", choices=["session", "visitor"], default="session",
                   help="mine sessions (default) or each visitor's whole history")
    g.add_argument("--max-items", type=int, default=50, metavar="N",
                   help="drop baskets of more articles than this (default: 50)")
    g.add_argument("--min-support", type=_support, default=3, metavar="S",
                   help="a fraction of the baskets (0.002) or a number of baskets (3, the default)")
    g.add_argument("--min-confidence", type=float, default=0.05, metavar="C",
                   help="keep rules at least this confident (default: 0.05)")
    g.add_argument("--max-len", type=int, default=3, metavar="K",
                   help="the largest itemset mined (default: 3: rules from up to two articles)")
    g.add_argument("--algorithm", choices=["eclat", "apriori"], default="eclat",
                   help="the frequent-itemset miner (default: eclat; both give the same itemsets)")
    g = p.add_argument_group("output")
    g.add_argument("--out", metavar="DIR", help="write report.json into this directory")
    g.add_argument("--quiet", "-q", action="store_true", help="no progress bars, only errors")
    g.add_argument("--verbose", "-v", action="store_true", help="log what happens")
    return p


def _support(text: str) -> float | int:
    """A fraction (with a decimal point) or a count of baskets."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.002 or a count such as 3; got {text!r}") from None


def _rule_table(rules, top: int = 10) -> str:
    if rules.empty:
        return "no rules: lower --min-support or --min-confidence"
    show = lambda s: ", ".join(sorted(s))
    rows = [(show(r.antecedents), show(r.consequents), r.count, r.confidence, r.lift, r.p_value)
            for r in rules.head(top).itertuples()]
    w = max(len(a) for a, *_ in rows)
    lines = [f"{'readers of':<{w}}    {'also read':<16} {'count':>6} {'conf':>6} {'lift':>6} {'p':>8}"]
    lines += [f"{a:<{w}} -> {c:<16} {n:>6} {conf:>6.2f} {lift:>6.1f} {p:>8.1e}" for a, c, n, conf, lift, p in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR if args.quiet else logging.WARNING,
        format="recsys: %(message)s",
    )
    for flag, value in (("--max-per-minute", args.max_per_minute), ("--max-items", args.max_items),
                        ("--max-len", args.max_len)):
        if value < 1:
            parser.error(f"{flag} must be at least 1; got {value}")
    if not 0 <= args.min_confidence <= 1:
        parser.error(f"--min-confidence must be between 0 and 1; got {args.min_confidence}")
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
        sessions = sessionize(views, gap=args.gap, basket=args.basket, max_items=args.max_items)
        miner = eclat if args.algorithm == "eclat" else apriori
        itemsets = miner(baskets(sessions), min_support=args.min_support, max_len=args.max_len)
        rules = association_rules(itemsets, min_threshold=args.min_confidence)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            with atomic_write(os.path.join(args.out, "report.json")) as f:
                json.dump({"accounting": acc.to_dict()}, f, indent=2)
        print(acc.summary())
        multi = int((sessions["items"].map(len) >= 2).sum())
        print(f"\n{views['visitor'].nunique():,} visitors read {views['url'].nunique():,} articles in "
              f"{len(sessions):,} {args.basket} baskets ({multi:,} with two or more articles; "
              f"{sessions.attrs['dropped_long']:,} longer than {args.max_items} dropped)")
        print(f"{len(itemsets):,} frequent itemsets ({args.algorithm}, support >= "
              f"{itemsets.attrs['min_count']:,} baskets), {len(rules):,} rules with confidence >= "
              f"{args.min_confidence}\n")
        print(_rule_table(rules))
        print(f"\n({time.perf_counter() - started:.1f} s)")
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
