"""The command line, ``python -m recsys.simulate OUT_DIR [options]``: :func:`main`."""

from __future__ import annotations

import argparse
import datetime as dt
import sys

from ..formats import PRESETS
from .simulation import simulate
from .world import TOPICS


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def _integer(minimum: int, kind: str):
    """An argparse type: an integer of at least ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected a {kind} integer, got {text!r}")
        return value
    return parse


_positive, _natural = _integer(1, "positive"), _integer(0, "non-negative")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m recsys.simulate OUT_DIR [options]``; returns the exit status."""
    parser = _Parser(
        prog="python -m recsys.simulate",
        description="Write seeded synthetic openresty access logs of a blog (one file per day, rotated\n"
                    "as logrotate leaves them), its RSS feed, and optionally the outcome of every line.",
        epilog="example:\n  python -m recsys.simulate out/blog --visitors 500 --days 28 --seed 7 --labels",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="directory to write into (created if needed)")
    parser.add_argument("--visitors", type=_positive, default=2000, metavar="N",
                        help="human readers (default 2000)")
    parser.add_argument("--days", type=_positive, default=14, metavar="D", help="days of logs (default 14)")
    parser.add_argument("--articles", type=_positive, default=120, metavar="A",
                        help="articles of the blog (default 120)")
    parser.add_argument("--topics", type=_positive, default=8, metavar="T",
                        help=f"topics, at most {len(TOPICS)} (default 8)")
    parser.add_argument("--seed", type=_natural, default=0, metavar="S", help="random seed (default 0)")
    parser.add_argument("--start", type=_date, default=dt.date(2024, 3, 4), metavar="DATE",
                        help="first day, YYYY-MM-DD (default 2024-03-04)")
    parser.add_argument("--format", dest="log_format", choices=list(PRESETS), default="combined_ut",
                        metavar="PRESET",
                        help=f"log format preset: {', '.join(PRESETS)} (default combined_ut)")
    parser.add_argument("--no-rotate", dest="rotate", action="store_false", help="write a single access.log")
    parser.add_argument("--labels", action="store_true",
                        help="also write labels.csv.gz: file,line,outcome per line")
    args = parser.parse_args(argv)
    try:
        sim = simulate(
            args.out_dir, visitors=args.visitors, days=args.days, articles=args.articles, topics=args.topics,
            seed=args.seed, start=args.start, log_format=args.log_format, rotate=args.rotate,
            labels=args.labels,
        )
    except ValueError as e:
        print(f"{parser.prog}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"{parser.prog}: error: {e.filename or args.out_dir}: {e.strerror}", file=sys.stderr)
        return 1
    print(f"{sim.out_dir}: {len(sim.files)} files, {sim.lines:,} lines, "
          f"{len(sim.truth):,} human article views")
    return 0
