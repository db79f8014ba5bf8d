"""The whole nightly job at scale (issue 13): cold and warm, memory, the peer script, Spark.

    python benchmarks/bench_job.py                       # 0.5M, 2M and 8M lines, the real blog, warm, Spark
    python benchmarks/bench_job.py --sizes 0.5M 2M       # without the 8M-line log
    python benchmarks/bench_job.py --quick               # 0.5M and 2M lines, no Spark

Inputs are generated once with ``recsys.simulate`` (seed 7, 30 days, one ``combined_ut`` file)
into ``--data`` (default ``$RECSYS_BENCH_DATA``, else benchmarks/.data) and reused:
``job-0.5M`` (15,000 readers), ``job-2M`` (63,000), ``job-8M`` (254,000), and ``job-2M-31days``
(63,000 readers over 31 days, rotated daily) for the warm run. The real blog's 53 rotated files
(``../shared/data/real/logs/yuvi-blog-2012``) are also concatenated into one file there.

Every measurement is a fresh process: the whole command ``python -m recsys.mine LOGS --no-cache
-q`` (evaluation on; its own empty cache folder), timed from outside with its peak RSS
(``os.wait4``) and the stage timings of its report.json; ``recsys.read_page_views`` alone on the
same file; ``peer_job.py`` (polars + pyfim); a warm night (a month cached, then logrotate adds a
day); Spark (``--engine spark --spark-master local[2]``) against the local engine, both without
evaluation. At the end the issue's targets are printed, met or NOT met, with their ratios.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, HERE, SHARED, entry, machine, measure, pretouch, run_command, table  # noqa: E402

#: size -> readers (30 days, seed 7, one file): about 31.4 lines per reader plus 24k robot lines
SIZES = {"0.5M": 15000, "2M": 63000, "8M": 254000}
YUVI = SHARED / "real" / "logs" / "yuvi-blog-2012"
YUVI_SETTINGS = {"visitor": "ip+ua",
                 "article_pattern": r"^/blog/(?!wp-|feed|category/|tag/|page/|author/|comments)[^/]+/?$"}
PEER = str(HERE / "peer_job.py")
FAMILY_RUNS = 3  # the real blog's family and its one file: best of 3
GB = 1 << 30
MB = 1 << 20


# inputs ---------------------------------------------------------------------------------------------------
def simulated(data: Path, name: str, visitors: int, days: int = 30, rotate: bool = False) -> tuple[Path, int]:
    """The folder of a generated log (made once) and its line count."""
    folder = data / name
    marker = folder / "lines.txt"
    if not marker.exists():
        from recsys.simulate import simulate

        t0 = time.perf_counter()
        sim = simulate(folder, visitors=visitors, days=days, seed=7, rotate=rotate)
        marker.write_text(str(sim.lines))
        note(f"generated {folder}: {sim.lines:,} lines in {time.perf_counter() - t0:.0f} s")
    return folder, int(marker.read_text())


def one_file_of_yuvi(data: Path) -> Path:
    """The real blog's family, oldest first, decompressed into one file (made once)."""
    from recsys.files import log_files, open_log

    out = data / "yuvi-blog-2012-one" / "access.log"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            for path in log_files([YUVI]):
                stream, _ = open_log(path)
                with stream:
                    shutil.copyfileobj(stream, f)
        os.replace(tmp, out)
    return out


def month_then_day(sim: Path, work: Path) -> tuple[Path, callable]:
    """A 31-day rotated family as it stood after day 30, and the logrotate step that adds day 31.

    The simulation of 31 days left ``access.log`` (day 31), ``access.log.1`` (day 30) and
    ``access.log.K.gz`` (day 31 - K). The night before, ``access.log`` was day 30, ``access.log.1``
    day 29 (plain: ``delaycompress``) and ``access.log.K.gz`` day 30 - K.
    """
    logs = work / "logs"
    logs.mkdir(parents=True)
    shutil.copy(sim / "access.log.1", logs / "access.log")
    with gzip.open(sim / "access.log.2.gz", "rb") as src, open(logs / "access.log.1", "wb") as dst:
        shutil.copyfileobj(src, dst)
    gz = sorted(sim.glob("access.log.*.gz"), key=lambda p: int(p.name.split(".")[2]))
    for p in gz[1:]:
        shutil.copy(p, logs / f"access.log.{int(p.name.split('.')[2]) - 1}.gz")

    def rotate() -> None:  # what logrotate (daily, compress, delaycompress) does at midnight
        for k in sorted((int(p.name.split(".")[2]) for p in logs.glob("access.log.*.gz")), reverse=True):
            os.replace(logs / f"access.log.{k}.gz", logs / f"access.log.{k + 1}.gz")
        with open(logs / "access.log.1", "rb") as src, gzip.GzipFile(logs / "access.log.2.gz", "wb", 6, mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        os.remove(logs / "access.log.1")
        os.replace(logs / "access.log", logs / "access.log.1")
        shutil.copy(sim / "access.log", logs / "access.log")  # the new day nginx wrote

    return logs, rotate


# measurements -------------------------------------------------------------------------------------------
def in_page_cache(*paths: Path) -> None:
    """Read the files once, so that every measurement finds them in the operating system's page
    cache: the first one measured (the job) would otherwise pay alone for reading them from disk."""
    for path in paths:
        for f in [path] if path.is_file() else sorted(x for x in path.rglob("*") if x.is_file()):
            with open(f, "rb") as stream:
                while stream.read(1 << 24):
                    pass


def job(logs, work: Path, *extra: str, cache: Path | None = None, tree: bool = False) -> dict:
    """``python -m recsys.mine`` in a fresh process: seconds, peak RSS, report.json, related.json.

    Cold (``cache`` None): ``--no-cache`` and an empty cache folder of its own (``XDG_CACHE_HOME``
    too: ``--no-cache`` rewrites the entries of the default cache folder)."""
    work.mkdir(parents=True, exist_ok=True)
    out = work / "out"
    folder = cache or work / "cache"
    flags = ["--cache", str(folder)] + (["--no-cache"] if cache is None else [])
    cmd = [sys.executable, "-m", "recsys.mine", *map(str, logs if isinstance(logs, list) else [logs]),
           "--out", str(out), "-q", *flags, *extra]
    env = dict(os.environ, XDG_CACHE_HOME=str(folder / "xdg"))
    done = run_command(cmd, env=env, tree=tree)
    if done["rc"]:
        raise SystemExit(f"{' '.join(cmd)} failed ({done['rc']}): {done['stderr']}")
    report = json.loads((out / "report.json").read_text())
    related = json.loads((out / "related.json").read_text())["items"]
    return {"seconds": done["seconds"], "peak": done["peak_bytes"], "timings": report["timings"],
            "counts": report["counts"], "evaluation": report.get("evaluation"),
            "evaluation_skipped": report.get("evaluation_skipped"), "related": related}


def cli_options(settings: dict) -> list[str]:
    return [x for k, v in settings.items() for x in ("--" + k.replace("_", "-"), v)]


def read_alone(path, settings: dict) -> dict:
    """``recsys.read_page_views`` alone, in a fresh process (see :func:`_read_task`)."""
    done = measure(__file__, "read", str(path), settings)
    if "error" in done:
        raise SystemExit(f"read_page_views({path}) failed: {done['error']}")
    return {"seconds": done["seconds"], "peak": done["peak_bytes"], "views": done["result"]}


def _read_task(path: str, settings: dict):
    from recsys import Settings
    from recsys.pipeline import view_options_of
    from recsys.views import read_page_views

    views = view_options_of(Settings.from_mapping(settings))
    return (lambda: read_page_views(path, progress=False, **views)), len


def peer(path: Path, work: Path) -> dict:
    out = work / "peer.json"
    done = run_command([sys.executable, PEER, str(path), "--out", str(out)])
    if done["rc"]:
        raise SystemExit(f"peer_job.py failed ({done['rc']}): {done['stderr']}")
    return {"seconds": done["seconds"], "peak": done["peak_bytes"], "lists": json.loads(out.read_text()),
            "said": done["stdout"].strip()}


def agreement(peer_lists: dict, related: dict, k: int = 5) -> dict:
    """How far the peer's lists agree with recsys's lists from rules, on the articles both have."""
    ours = {a: [e["url"] for e in entries if e["source"] == "rules"][:k] for a, entries in related.items()}
    ours = {a: urls for a, urls in ours.items() if urls}
    both = sorted(set(ours) & set(peer_lists))
    shares = [len(set(ours[a]) & set(peer_lists[a][:k])) / min(k, len(ours[a]), len(peer_lists[a][:k]))
              for a in both]
    first = [ours[a][0] == peer_lists[a][0] for a in both]
    return {"peer_articles": len(peer_lists), "recsys_articles": len(ours), "both": len(both),
            "overlap": sum(shares) / len(shares) if shares else float("nan"),
            "same_first": sum(first) / len(first) if first else float("nan")}


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


PRETOUCH = {"gib": 2.0}  # --pretouch: what the parent touches and frees before each measurement


def timed(label: str, fn, *args, **kwargs):
    pretouch(PRETOUCH["gib"])
    t0 = time.perf_counter()
    result = fn(*args, **kwargs)
    secs = result.get("seconds") if isinstance(result, dict) else None
    note(f"{label}: " + (f"{secs:.1f} s measured, " if secs is not None else "")
         + f"{time.perf_counter() - t0:.0f} s wall" + (f", {result['peak'] / MB:,.0f} MiB peak"
                                                       if isinstance(result, dict) and "peak" in result else ""))
    return result


# the run ----------------------------------------------------------------------------------------------
STAGES = ["read", "sessions", "itemsets", "rules", "popular", "tuning", "sequences", "recommend", "evaluate", "write",
          "total"]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES), help="generated logs to run")
    p.add_argument("--quick", action="store_true", help="0.5M and 2M lines only, no Spark")
    p.add_argument("--skip", nargs="+", default=[], choices=["peer", "warm", "family", "spark"],
                   help="parts to leave out")
    p.add_argument("--data", type=Path, default=Path(os.environ.get("RECSYS_BENCH_DATA") or DATA),
                   help="where generated inputs are kept (default: $RECSYS_BENCH_DATA or benchmarks/.data)")
    p.add_argument("--json", type=Path, help="also write every figure into this JSON file (after each part)")
    p.add_argument("--render", type=Path, metavar="JSON", help="only print the tables of an earlier --json file")
    p.add_argument("--pretouch", type=float, default=2.0, metavar="GIB",
                   help="touch and free this much memory before each measurement (default 2; 3 for 8M lines; "
                        "0: off), so that a virtual machine's lazily backed memory does not weigh on one process "
                        "more than another (see benchmarks/common.py pretouch)")
    args = p.parse_args()
    PRETOUCH["gib"] = args.pretouch
    if args.render:
        print(render(json.loads(args.render.read_text())))
        return 0
    sizes = [s for s in args.sizes if s != "8M"] if args.quick else args.sizes
    skip = set(args.skip) | ({"spark"} if args.quick else set())
    started = time.perf_counter()
    res: dict = {"machine": machine(), "sizes": {}, "pretouch_gib": args.pretouch}

    def save() -> None:  # after each part: a run stopped half-way keeps what it measured
        if args.json:
            args.json.write_text(json.dumps(res, indent=1, default=str))

    with tempfile.TemporaryDirectory(prefix="bench_job.") as tmp:
        tmp = Path(tmp)
        for size in sizes:
            folder, lines = simulated(args.data, f"job-{size}", SIZES[size])
            log = folder / "access.log"
            row = {"lines": lines, "bytes": log.stat().st_size}
            in_page_cache(log)
            PRETOUCH["gib"] = max(args.pretouch, 3.0) if size == "8M" and args.pretouch else args.pretouch
            row["job"] = timed(f"{size}: cold job", job, log, tmp / size / "job")
            row["read"] = timed(f"{size}: read_page_views", read_alone, log, {})
            if "peer" not in skip:
                row["peer"] = timed(f"{size}: peer script", peer, log, tmp / size)
                row["agreement"] = agreement(row["peer"].pop("lists"), row["job"]["related"])
            row["job"].pop("related")
            res["sizes"][size] = row
            save()
        PRETOUCH["gib"] = args.pretouch
        if "warm" not in skip:
            sim, lines = simulated(args.data, "job-2M-31days", SIZES["2M"], days=31, rotate=True)
            logs, rotate = month_then_day(sim, tmp / "warm")
            first = timed("warm: first run on the month (empty cache)", job, logs, tmp / "warm" / "a",
                          cache=tmp / "warm" / "cache")
            rotate()
            warm = timed("warm: the night after (one new day)", job, logs, tmp / "warm" / "b",
                         cache=tmp / "warm" / "cache")
            cold = timed("warm: cold run on the same 31 files", job, logs, tmp / "warm" / "c")
            start = timed("warm: python -c 'import recsys.mine' (what any night pays first)", run_command,
                          [sys.executable, "-c", "import recsys.mine"])
            res["warm"] = {"lines": lines, "first": first, "warm": warm, "cold": cold, "start": start,
                           "same_lists": warm.pop("related") == cold.pop("related")}
            first.pop("related")
            save()
        if "family" not in skip and YUVI.is_dir():
            one = one_file_of_yuvi(args.data)
            in_page_cache(YUVI, one)
            opts = cli_options(YUVI_SETTINGS)
            fam = {"files": len(list(YUVI.iterdir()))}
            # best of FAMILY_RUNS, taken in turns: a few seconds each, where this machine's page faults
            # alone move a fresh process's system time by 0.2-2.6 s (see "How this machine skews")
            parts = {"family_job": ("cold job, 53 files", job, YUVI, tmp / "yuvi" / "fam", *opts),
                     "one_job": ("cold job, one file", job, one, tmp / "yuvi" / "one", *opts),
                     "family_read": ("read_page_views, 53 files", read_alone, YUVI, YUVI_SETTINGS),
                     "one_read": ("read_page_views, one file", read_alone, one, YUVI_SETTINGS)}
            runs: dict[str, list] = {k: [] for k in parts}
            for turn in range(FAMILY_RUNS):
                for k, (label, fn, *fn_args) in parts.items():
                    runs[k].append(timed(f"yuvi: {label} ({turn + 1})", fn, *fn_args))

            def compared(r: dict) -> float:  # a job by its read stage, what the target compares
                return r["timings"]["read"] if "timings" in r else r["seconds"]

            for k, done in runs.items():
                fam[k] = min(done, key=compared)
                fam[k]["all"] = [round(compared(r), 2) for r in done]
            fam["same_lists"] = fam["family_job"].pop("related") == fam["one_job"].pop("related")
            fam["lines"] = fam["one_job"]["counts"]["lines"]
            res["family"] = fam
            save()
        if "spark" not in skip:
            folder, lines = simulated(args.data, "job-2M", SIZES["2M"])
            log = folder / "access.log"
            in_page_cache(log)
            local = timed("spark: local engine, --no-evaluate", job, log, tmp / "sp" / "local", "--no-evaluate")
            spark = timed("spark: --engine spark local[2], --no-evaluate", job, log, tmp / "sp" / "spark",
                          "--no-evaluate", "--engine", "spark", "--spark-master", "local[2]", tree=True)
            res["spark"] = {"lines": lines, "local": local, "spark": spark,
                            "same_lists": local.pop("related") == spark.pop("related")}
    res["seconds"] = time.perf_counter() - started
    save()
    print(render(res))
    return 0


# the printout -------------------------------------------------------------------------------------------
def render(res: dict) -> str:
    took = f"the whole run took {res['seconds'] / 60:.1f} min" if "seconds" in res else "a run stopped half-way"
    touched = res.get("pretouch_gib", 0)
    out = [f"{res['machine']}; {took}; "
           + (f"{touched:g} GiB touched and freed before each measurement (3 at 8M)" if touched else "no pretouch"), ""]
    sizes = res["sizes"]
    rows = []
    for size, r in sizes.items():
        j, rd, c = r["job"], r["read"], r["job"]["counts"]
        row = [size, f"{r['lines']:,}", f"{c['views']:,}", f"{j['seconds']:.1f}", f"{j['peak'] / MB:,.0f}",
               f"{rd['seconds']:.1f}", f"{rd['peak'] / MB:,.0f}", f"{j['seconds'] / rd['seconds']:.1f}x"]
        if "peer" in r:
            row += [f"{r['peer']['seconds']:.1f}", f"{r['peer']['peak'] / MB:,.0f}",
                    f"{r['peer']['seconds'] / j['seconds']:.2f}x"]
        else:
            row += ["-"] * 3
        row.append(f"{j['timings'].get('evaluate', 0) / j['timings']['total']:.0%}")
        rows.append(row)
    if rows:
        out += ["The whole cold job (python -m recsys.mine LOGS --no-cache -q, evaluation on), each in a fresh process",
                table(rows, ["log", "lines", "page views", "job s", "job MiB", "read s", "read MiB", "job/read",
                             "peer s", "peer MiB", "peer/job", "evaluate"]), ""]
        stage_rows = [[size] + [f"{r['job']['timings'].get(s, 0):.1f}" for s in STAGES] for size, r in sizes.items()]
        out += ["Stages of the cold job (report.json timings, seconds)", table(stage_rows, ["log", *STAGES]), ""]
        count_rows = [[size] + [f"{r['job']['counts'].get(k, 0):,}" for k in
                                ("sessions", "itemsets", "rules", "articles_with_rules")] for size, r in sizes.items()]
        out += [table(count_rows, ["log", "sessions", "itemsets", "rules", "articles with rules"]), ""]
        base = next(iter(sizes.values()))
        curve = [[size, f"{r['lines']:,}", f"{r['job']['counts']['views']:,}", f"{r['job']['peak'] / MB:,.0f}",
                  f"{r['job']['counts']['views'] / base['job']['counts']['views']:.1f}x",
                  f"{r['job']['peak'] / base['job']['peak']:.1f}x",
                  f"{r['job']['peak'] / r['job']['counts']['views']:,.0f}"] for size, r in sizes.items()]
        out += ["Peak RSS against page views (growth from the smallest log)",
                table(curve, ["log", "lines", "page views", "peak MiB", "views growth", "RSS growth",
                              "bytes per view"]), ""]
        ev = [(size, r["job"]["evaluation"]) for size, r in sizes.items() if r["job"]["evaluation"]]
        if ev:
            lines = []
            for size, rows_ in ev:
                for e in rows_:
                    lines.append(f"  {size} {e['method']:>8}: HR@{e['k']} {e['hr']:.3f} on {e['cases']:,} test cases"
                                 + (f" of {e['test_cases']:,}" if "test_cases" in e else "")
                                 + (f" (95% interval {e['hr_low']:.3f}-{e['hr_high']:.3f})" if "hr_low" in e else ""))
            out += ["The evaluation inside the job"] + lines + [""]
        agree = [[size, r["agreement"]["peer_articles"], r["agreement"]["recsys_articles"], r["agreement"]["both"],
                  f"{r['agreement']['overlap']:.0%}", f"{r['agreement']['same_first']:.0%}"]
                 for size, r in sizes.items() if "agreement" in r]
        if agree:
            out += ["The peer's lists (association rules) against recsys's lists (top 5, entries from rules: sequence "
                    "rules under the default ranking), on the articles both have",
                    table(agree, ["log", "peer articles", "recsys articles", "both", "overlap@5", "same first"]),
                    ("  (overlap@5: the share of the shorter list found in the other; recsys wants 3 distinct"
                     " readers on 3 networks behind a rule, normalizes URLs and drops more robots)"), ""]
    if "warm" in res:
        w = res["warm"]
        rows = [[name, f"{w[key]['seconds']:.1f}", f"{w[key]['peak'] / MB:,.0f}",
                 " ".join(f"{s} {w[key]['timings'].get(s, 0):.1f}" for s in STAGES[:-1] if w[key]['timings'].get(s))]
                for name, key in (("first run, month (empty cache)", "first"), ("the night after: +1 day (warm)", "warm"),
                                  ("cold, the same 31 files", "cold"))]
        out += [f"Warm night: 31 daily files (logrotate, delaycompress), {w['lines']:,} lines",
                table(rows, ["run", "s", "MiB", "stages (s)"]),
                (f"  warm / cold = {w['warm']['seconds'] / w['cold']['seconds']:.0%}; the same lists: "
                 f"{'yes' if w['same_lists'] else 'NO'}"), ""]
    if "family" in res:
        f = res["family"]
        rows = [["cold job, read stage", f"{f['family_job']['timings']['read']:.2f}", f"{f['one_job']['timings']['read']:.2f}"],
                ["cold job, whole", f"{f['family_job']['seconds']:.2f}", f"{f['one_job']['seconds']:.2f}"],
                ["read_page_views", f"{f['family_read']['seconds']:.2f}", f"{f['one_read']['seconds']:.2f}"]]
        if "all" in f["family_job"]:
            rows.append(["(each run: read stage)", " ".join(map(str, f["family_job"]["all"])),
                         " ".join(map(str, f["one_job"]["all"]))])
        out += [f"The real blog (yuvi-blog-2012): {f['lines']:,} lines, {f['files']} rotated files or one file"
                + (f", best of {len(f['family_job']['all'])} runs each" if "all" in f["family_job"] else ""),
                table(rows, ["seconds", f"{f['files']} files", "one file"]),
                f"  the same lists: {'yes' if f['same_lists'] else 'NO'}", ""]
    if "spark" in res:
        s = res["spark"]
        rows = [[name, f"{s[key]['seconds']:.1f}", f"{s[key]['peak'] / MB:,.0f}"]
                + [f"{s[key]['timings'].get(st, 0):.1f}" for st in STAGES if st != "evaluate"]
                for name, key in (("local", "local"), ("spark local[2]", "spark"))]
        out += [f"Spark against the local engine, {s['lines']:,} lines, --no-evaluate (MiB: Spark's whole process tree)",
                table(rows, ["engine", "s", "MiB", *[st for st in STAGES if st != "evaluate"]]),
                f"  the same related.json: {'yes' if s['same_lists'] else 'NO'}", ""]
    out += ["Targets of issue 13"] + targets(res)
    return "\n".join(out)


def targets(res: dict) -> list[str]:
    lines = []

    def verdict(name, ok, detail):
        lines.append(f"  {'met    ' if ok else 'NOT met'}  {name}: {detail}")

    def floor(detail):  # what the same run says of the least the target could be, under the verdict
        lines.append(f"           the floor: {detail}")

    sizes = res["sizes"]
    r2 = sizes.get("2M")
    if r2:
        j = r2["job"]["seconds"]
        ratio = j / r2["read"]["seconds"]
        verdict("cold job <= 3x read_logs+page_views at 2M", ratio <= 3,
                f"{j:.1f} s / {r2['read']['seconds']:.1f} s = {ratio:.1f}x")
        if "peer" in r2:
            faster = r2["peer"]["seconds"] / j
            verdict("cold job >= 5x faster than the peer script at 2M", faster >= 5,
                    f"peer {r2['peer']['seconds']:.1f} s / job {j:.1f} s = {faster:.2f}x")
            floor(f"read_page_views alone takes {r2['read']['seconds'] / r2['peer']['seconds']:.0%} of the peer's "
                  f"whole run: a job reading with it is at most {r2['peer']['seconds'] / r2['read']['seconds']:.1f}x "
                  "faster than the peer")
        peak = r2["job"]["peak"]
        verdict("peak RSS <= 1.5 GB at 2M", peak <= 1.5e9, f"{peak / 1e9:.2f} GB ({peak / MB:,.0f} MiB)")
    if len(sizes) >= 2:
        (a, ra), (b, rb) = next(iter(sizes.items())), list(sizes.items())[-1]
        views = rb["job"]["counts"]["views"] / ra["job"]["counts"]["views"]
        rss = rb["job"]["peak"] / ra["job"]["peak"]
        verdict(f"RSS grows no faster than the page views, {a} -> {b}", rss <= views,
                f"RSS x{rss:.2f}, page views x{views:.2f}")
    if "warm" in res:
        w = res["warm"]
        share = w["warm"]["seconds"] / w["cold"]["seconds"]
        verdict("warm night <= 10% of cold", share <= 0.10,
                f"{w['warm']['seconds']:.1f} s / {w['cold']['seconds']:.1f} s = {share:.0%}")
        if "start" in w:
            least = w["start"]["seconds"] + w["warm"]["timings"]["read"]
            floor(f"starting Python and importing recsys ({w['start']['seconds']:.1f} s) and reading the cached "
                  f"month ({w['warm']['timings']['read']:.1f} s) take {least / w['cold']['seconds']:.0%} of the cold "
                  "run before any mining")
    if "family" in res:
        f = res["family"]
        speed = f["one_job"]["timings"]["read"] / f["family_job"]["timings"]["read"]
        verdict("the 53-file family read >= 70% as fast as one file (the job's read stage)", speed >= 0.7,
                f"{f['one_job']['timings']['read']:.2f} s / {f['family_job']['timings']['read']:.2f} s = {speed:.0%}"
                f" (read_page_views: {f['one_read']['seconds'] / f['family_read']['seconds']:.0%})")
    shares = {size: r["job"]["timings"].get("evaluate", 0) / r["job"]["timings"]["total"] for size, r in sizes.items()}
    if shares:
        verdict("evaluation <= 20% of the job at every size", max(shares.values()) <= 0.20,
                ", ".join(f"{s} {v:.0%}" for s, v in shares.items()))
    if "spark" in res:
        s = res["spark"]
        ratio = s["spark"]["seconds"] / s["local"]["seconds"]
        verdict("Spark <= 2x the local engine at 2M (both --no-evaluate)", ratio <= 2,
                f"{s['spark']['seconds']:.1f} s / {s['local']['seconds']:.1f} s = {ratio:.1f}x")
        floor(f"Spark's read stage alone takes {s['spark']['timings']['read'] / s['local']['seconds']:.1f}x the "
              "local engine's whole run")
    return lines


if __name__ == "__main__":
    entry(main, {"read": _read_task})
