"""The command line: ``python -m recsys.mine LOGS... [options] --out DIR``, the nightly job.

Options (or a TOML file, ``--config``) -> :class:`recsys.Settings` -> :func:`recsys.run` ->
:meth:`recsys.Run.write` -> a summary. Each setting's option is declared with the setting
(:mod:`recsys.settings`); this module only turns them into argparse options and back.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

from . import pipeline
from . import settings as settings_module
from .atomic import out_lock
from .cache import default_cache_dir
from .errors import RecsysError, crash_report
from .options import flag as yes_no
from .settings import RUN_OPTIONS, Settings, SettingsError, read_toml, toml_options

log = logging.getLogger("recsys")

EXAMPLE = """\
example (the nightly job, from cron):
  python -m recsys.mine /var/log/nginx/ --out /srv/recsys/out/ --quiet   # then publish out/related.json
  python -m recsys.mine access.log.gz --log-format combined_ut --min-support 0.002 --k 8
  python -m recsys.mine /var/log/nginx/ --config /etc/recsys.toml
  python -m recsys.mine /var/log/nginx/ --titles /var/www/blog/public/index.xml --export hugo,widget
"""
_GROUPS = {"reading": "reading logs", "views": "page views", "sessions": "sessions", "mining": "mining",
           "recommending": "recommendations", "evaluation": "evaluation", "output": "output",
           "spark": "Apache Spark (--engine spark)"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, not the whole usage
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The options: the run's, then one group per settings section, each option from its setting."""
    p = _Parser(prog="python -m recsys.mine", epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
                description="Mine 'readers of this post also read' recommendations from nginx access logs.")
    p.add_argument("logs", nargs="*", metavar="LOGS",
                   help="log files (.gz too), directories of rotated logs, or - for standard input")
    p.add_argument("--config", metavar="FILE", help="read options from this TOML file (the command line wins)")
    p.add_argument("--out", metavar="DIR", help="write the outputs into DIR (default: out/): related.json, "
                   "report.json, views, sessions, itemsets and rules as Parquet, rules.csv")
    p.add_argument("--cache", metavar="DIR", help=f"where parsed files and the salt are kept between runs "
                   f"(default: {default_cache_dir()})")
    p.add_argument("--no-cache", action="store_true", default=None,
                   help="read every file again and rewrite its cache entry")
    p.add_argument("--engine", choices=["local", "spark"],
                   help="run on this machine (default) or on Apache Spark (pip install 'recsys[spark]')")
    p.add_argument("--quiet", "-q", action="store_true", default=None, help="no progress bars, only errors "
                   "and the summary")
    p.add_argument("--verbose", "-v", action="store_true", default=None, help="log what happens")
    groups = {section: p.add_argument_group(title) for section, title in _GROUPS.items()}
    for section, name, f in settings_module.fields():
        flag, kind = settings_module.flag(name), f.metadata["kind"]
        if flag is None:
            continue  # a library-only setting
        common = {"dest": name, "default": None, "help": f.metadata["help"]}
        if kind.read is yes_no:  # --lift-above-one, --force; --no-evaluate sets False
            groups[section].add_argument(flag, action="store_const", const=not flag.startswith("--no-"), **common)
        else:  # values are checked by the settings (parse), choices by argparse: "invalid choice: ..."
            groups[section].add_argument(flag, action="append" if kind.repeat else "store", metavar=kind.metavar,
                                         choices=getattr(kind.read, "choices", None), **common)
    return p


def _config(path: str, parser: argparse.ArgumentParser) -> tuple[dict[str, Any], dict[str, Any]]:
    """The settings and the run's options of a TOML file, each value checked against its TOML type:
    a wrong one is a usage error naming the key as written, the value and what it takes."""
    try:
        data = read_toml(path)
        if "config" in data:
            parser.error(f"--config: a config file cannot name another (config = ... in {path})")
        return toml_options(data, path)
    except RecsysError as e:  # cannot be read, not TOML, an unknown key, a wrong value
        parser.error(f"--config: {e}")


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line (and its TOML file) as the run's options and a checked :class:`Settings`.

    >>> args = parse(["access.log", "--k", "8", "--no-evaluate"])
    >>> args.logs, args.out, args.settings.recommending.k, args.settings.evaluation.evaluate
    (['access.log'], 'out', 8, False)
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    given = {k: v for k, v in vars(args).items() if v is not None and k not in RUN_OPTIONS and k != "config"}
    toml, run_options = _config(args.config, parser) if args.config else ({}, {})
    for key, value in run_options.items():  # the command line wins
        if getattr(args, key) in (None, []):
            setattr(args, key, list(value) if key == "logs" else value)
    if not args.logs:
        parser.error("give LOGS (files, directories or -), on the command line or as logs = [...] in --config")
    args.out = args.out or "out"
    args.engine = args.engine or "local"
    try:
        base = Settings.from_mapping(toml)
    except SettingsError as e:  # settings that do not go together, such as format_name without nginx_conf
        parser.error(f"--config: {e} (in {args.config})")
    try:
        args.settings = base.replace(given)
    except SettingsError as e:  # named as argparse names the options it checks itself
        parser.error(f"argument {settings_module.flag(e.key) or e.key}: {e.problem}")
    return args


def _no_articles_or_visitors(result: pipeline.Run) -> bool:
    """No page views although lines were read: no article matched, or no view had a visitor id."""
    dropped = result.accounting.dropped
    return not result.counts.get("views") and bool(dropped.get("not_article") or dropped.get("no_visitor"))


def _hints(args: argparse.Namespace) -> list[str]:
    """What ``python -m recsys.check`` finds in the latest lines (the pages read most and a pattern
    for them, another cookie the format logs, ...), when the job found no page views."""
    if [os.fspath(p) for p in args.logs] == ["-"]:
        return []
    from .check import check

    try:
        found = check(args.logs, args.settings, lines=100_000)
    except (RecsysError, ValueError, OSError) as e:  # a hint, never a second failure
        log.info("no diagnosis: %s", e)
        return []
    return [f"{p['problem']}; {p['fix']}" for p in found["problems"]]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [os.fspath(a) for a in argv]
    args = None
    try:
        args = parse(argv)
        logging.basicConfig(format="recsys: %(message)s", level=logging.INFO if args.verbose
                            else logging.ERROR if args.quiet else logging.WARNING)
        with out_lock(args.out):
            result = pipeline.run(args.logs, args.settings, engine=args.engine, cache=args.cache,
                                  refresh=bool(args.no_cache), progress=False if args.quiet else None)
            publication = result.write(args.out)
        print(result.summary(top=args.settings.output.top))
        sys.stdout.flush()
        v = publication.verdict
        if not publication.published:
            print(f"recsys: not published: {v.problem}; {v.check}; the outputs in {args.out} are kept as they "
                  "were (--force publishes anyway)", file=sys.stderr)
            for hint in _hints(args) if _no_articles_or_visitors(result) else []:
                print(f"recsys: {hint}", file=sys.stderr)
            return 1
        if v.problem:
            print(f"recsys: warning: published with --force although {v.problem}", file=sys.stderr)
        print(f"outputs: {os.path.abspath(args.out)}")
        sys.stdout.flush()
    except BrokenPipeError:  # `| head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (RecsysError, ValueError, OSError) as e:
        print(f"recsys: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("recsys: interrupted; the outputs written so far are whole files", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: one line for the user, the traceback for the bug report
        print(crash_report(e, ["python", "-m", "recsys.mine", *argv],
                           (args.cache if args is not None and args.cache else None) or default_cache_dir()),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
