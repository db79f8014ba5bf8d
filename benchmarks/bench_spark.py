"""The two engines on the same logs: what running on Spark costs on one machine, and how it scales.

    python benchmarks/bench_spark.py [--visitors 20000] [--days 30]     # local engine against Spark
    python benchmarks/bench_spark.py --profile [--visitors 60000]       # where Spark's time goes
    python benchmarks/bench_spark.py --scaling [--visitors 15000]       # 1, 2 and 4 times the data

Generates (once, into benchmarks/.data/) logs with ``recsys.simulate`` (30 daily rotations,
gzipped), then runs the whole job, ``python -m recsys.mine LOGS --no-cache --no-evaluate``, each
run in a fresh process.

- default: once with the local engine and once with ``--engine spark --spark-master local[*]``;
  prints both times and their ratio. Spark is expected to be slower on one 2-core machine: it pays
  for a JVM, Python workers for the UDFs, shuffles and task scheduling, which buy the ability to
  spread the same job over many machines. Both runs must write the same related.json (checked).
- ``--profile``: one Spark run with Spark's event log on; prints, per place in recsys/spark.py
  that runs a Spark job, the wall time of its jobs, the task time of its stages (the work a cluster
  would spread) and the bytes it shuffles.
- ``--scaling``: Spark on 1, 2 and 4 times the readers (``local[2]``): each stage's seconds
  (report.json), the event-log profile, and what the driver holds (itemsets, rules, distinct
  URLs), to show which stages grow with the data and which do not.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, machine, table  # noqa: E402

MB = 1 << 20


def make_logs(visitors: int, days: int) -> tuple[Path, int]:
    folder = DATA / f"spark-{visitors}-{days}"
    marker = folder / "lines.txt"
    if not marker.exists():
        from recsys.simulate import simulate

        sim = simulate(folder, visitors=visitors, days=days, seed=21)
        marker.write_text(str(sim.lines))
    return folder, int(marker.read_text())


def run(logs: Path, out: Path, *extra: str) -> float:
    cmd = [sys.executable, "-m", "recsys.mine", str(logs), "--out", str(out), "--no-cache", "--no-evaluate",
           "--quiet", "--cache", str(out / "cache"), *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return time.perf_counter() - t0


def spark_run(logs: Path, out: Path, master: str, events: Path | None = None) -> tuple[float, dict]:
    """A Spark run: its seconds and its report.json (with Spark's event log in ``events``)."""
    extra = ["--engine", "spark", "--spark-master", master]
    if events is not None:
        events.mkdir(parents=True, exist_ok=True)
        for conf in ("spark.eventLog.enabled=true", f"spark.eventLog.dir=file://{events}",
                     "spark.eventLog.compress=false", "spark.eventLog.rolling.enabled=false"):
            extra += ["--spark-conf", conf]
    seconds = run(logs, out, *extra)
    return seconds, json.loads((out / "report.json").read_text())


def profile(events: Path) -> dict[str, dict]:
    """Spark's event log, summed by call site (the line of recsys that ran the job).

    ``wall``: seconds from the first job's submission to the last one's end at that site; ``task``:
    the seconds of all the tasks of its stages (executor run time: the work that more executors
    share); ``shuffle``: bytes written to the shuffle; ``jobs``, ``stages``, ``tasks``: counts.
    """
    sites: dict[str, dict] = defaultdict(lambda: {"wall": 0.0, "task": 0.0, "shuffle": 0, "jobs": 0, "stages": 0,
                                                  "tasks": 0})
    job_site, job_start, stage_site = {}, {}, {}
    for path in sorted(p for p in events.rglob("*") if p.is_file() and not p.name.startswith((".", "appstatus"))):
        with open(path) as f:
            for line in f:
                e = json.loads(line)
                kind = e["Event"]
                if kind == "SparkListenerJobStart":
                    props = e.get("Properties") or {}
                    site = _site(props.get("callSite.short") or e["Stage Infos"][0]["Stage Name"])
                    job_site[e["Job ID"]], job_start[e["Job ID"]] = site, e["Submission Time"]
                    for s in e["Stage IDs"]:
                        stage_site[s] = site
                    sites[site]["jobs"] += 1
                elif kind == "SparkListenerJobEnd" and e["Job ID"] in job_start:
                    sites[job_site[e["Job ID"]]]["wall"] += (e["Completion Time"] - job_start[e["Job ID"]]) / 1000
                elif kind == "SparkListenerStageCompleted":
                    info = e["Stage Info"]
                    acc = {a["Name"]: a.get("Value") for a in info.get("Accumulables", [])}
                    site = stage_site.get(info["Stage ID"], _site(info["Stage Name"]))
                    sites[site]["stages"] += 1
                    sites[site]["tasks"] += info["Number of Tasks"]
                    sites[site]["task"] += int(acc.get("internal.metrics.executorRunTime", 0) or 0) / 1000
                    sites[site]["shuffle"] += int(acc.get("internal.metrics.shuffle.write.bytesWritten", 0) or 0)
    return dict(sites)


def _site(name: str) -> str:
    """``collect at /.../recsys/spark.py:264`` -> ``collect at spark.py:264``."""
    head, _, where = name.partition(" at ")
    return f"{head} at {where.rsplit('/', 1)[-1]}" if where else name


def profile_table(sites: dict[str, dict], top: int = 25) -> str:
    rows = sorted(sites.items(), key=lambda kv: -kv[1]["wall"])[:top]
    return table([[site, f"{v['wall']:.1f}", f"{v['task']:.1f}", f"{v['shuffle'] / MB:,.1f}", v["jobs"], v["stages"],
                   v["tasks"]] for site, v in rows],
                 ["where (the call that ran Spark jobs)", "wall s", "task s", "shuffle MiB", "jobs", "stages", "tasks"])


def compare(args) -> int:
    logs, lines = make_logs(args.visitors, args.days)
    size = sum(f.stat().st_size for f in logs.glob("access.log*"))
    print(f"{machine()}; {lines:,} log lines ({size / 1e6:.0f} MB on disk, gzip rotations), the whole job\n")
    with tempfile.TemporaryDirectory() as tmp:
        local = run(logs, Path(tmp) / "local")
        spark = run(logs, Path(tmp) / "spark", "--engine", "spark", "--spark-master", args.master)
        same = (json.loads((Path(tmp) / "local" / "related.json").read_text())["items"]
                == json.loads((Path(tmp) / "spark" / "related.json").read_text())["items"])
    rows = [["local engine", f"{local:.1f}", f"{lines / local:,.0f}"],
            [f"spark engine, {args.master}", f"{spark:.1f}", f"{lines / spark:,.0f}"]]
    print(table(rows, ["engine", "seconds (whole command)", "lines/s"]))
    print(f"\nspark / local = {spark / local:.1f}x on this machine; the same related.json: {'yes' if same else 'NO'}")
    return 0 if same else 1


def profiled(args) -> int:
    logs, lines = (Path(args.logs), None) if args.logs else make_logs(args.visitors, args.days)
    with tempfile.TemporaryDirectory() as tmp:
        seconds, report = spark_run(logs, Path(tmp) / "out", args.master, Path(tmp) / "events")
        sites = profile(Path(tmp) / "events")
    lines = report["counts"]["lines"]
    print(f"{machine()}; {lines:,} lines, Spark {args.master}: {seconds:.1f} s, stages (report.json): "
          + ", ".join(f"{k} {v:.1f}" for k, v in report["timings"].items()))
    print(json.dumps(report.get("spark", {})))
    print(profile_table(sites))
    return 0


STAGES = ["read", "sessions", "itemsets", "rules", "recommend", "write", "total"]


def scaling(args) -> int:
    factors = [1, 2, 4]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in factors:
            logs, lines = make_logs(args.visitors * f, args.days)
            seconds, report = spark_run(logs, Path(tmp) / f"out{f}", args.master, Path(tmp) / f"events{f}")
            sites = profile(Path(tmp) / f"events{f}")
            results.append({"factor": f, "lines": lines, "seconds": seconds, "report": report, "sites": sites})
            print(f"[{time.strftime('%H:%M:%S')}] {f}x: {lines:,} lines, {seconds:.1f} s", file=sys.stderr, flush=True)
    print(f"{machine()}; Spark {args.master}, the whole job without evaluation, {args.days} days of "
          f"{args.visitors:,} readers times 1, 2 and 4\n")
    rows = []
    for st in STAGES:
        vals = [r["report"]["timings"].get(st, 0.0) for r in results]
        rows.append([st, *[f"{v:.1f}" for v in vals], f"{vals[-1] / vals[0]:.1f}x" if vals[0] else "-"])
    print(table(rows, ["stage (report.json, s)", *[f"{r['factor']}x: {r['lines']:,} lines" for r in results],
                       "4x / 1x"]))
    inner = sorted({k for r in results for k in r["report"].get("spark", {}).get("stages", {})},
                   key=lambda k: list(results[-1]["report"]["spark"]["stages"]).index(k)
                   if k in results[-1]["report"]["spark"]["stages"] else 99)
    if inner:
        rows = []
        for st in inner:
            vals = [r["report"]["spark"]["stages"].get(st, 0.0) for r in results]
            rows.append([st, *[f"{v:.1f}" for v in vals], f"{vals[-1] / vals[0]:.1f}x" if vals[0] else "-"])
        print("\n" + table(rows, ["inside the stages (s)", *[f"{r['factor']}x" for r in results], "4x / 1x"]))
    held = ["itemsets", "rules", "urls", "popular", "rule_itemsets"]
    rows = []
    for k in held:
        vals = [r["report"].get("spark", {}).get("driver", {}).get(k) for r in results]
        if any(v is not None for v in vals):
            rows.append([k, *[f"{v:,}" if v is not None else "-" for v in vals]])
    for k in ("views", "sessions"):
        rows.append([f"({k})", *[f"{r['report']['counts'][k]:,}" for r in results]])
    print("\n" + table(rows, ["what the driver holds (rows)", *[f"{r['factor']}x" for r in results]]))
    totals = defaultdict(lambda: [0.0] * len(results))
    shuffle = defaultdict(lambda: [0] * len(results))
    for i, r in enumerate(results):
        for site, v in r["sites"].items():
            totals[site][i] = v["task"]
            shuffle[site][i] = v["shuffle"]
    rows = [[site, *[f"{x:.1f}" for x in vals], *[f"{x / MB:,.1f}" for x in shuffle[site]]]
            for site, vals in sorted(totals.items(), key=lambda kv: -kv[1][-1])[:20]]
    print("\n" + table(rows, ["Spark jobs by call site", *[f"task s {r['factor']}x" for r in results],
                              *[f"shuffle MiB {r['factor']}x" for r in results]]))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--visitors", type=int, default=None, help="readers (default 20000; 15000 with --scaling)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--master", default=None, help="the Spark master (default local[*]; local[2] with --scaling)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--profile", action="store_true", help="where Spark's time goes (its event log)")
    mode.add_argument("--scaling", action="store_true", help="Spark on 1, 2 and 4 times the readers")
    p.add_argument("--logs", help="with --profile: these logs rather than generated ones")
    p.add_argument("--json", help="with --scaling: also write the figures into this JSON file")
    args = p.parse_args()
    args.visitors = args.visitors or (15000 if args.scaling else 20000)
    args.master = args.master or ("local[2]" if args.scaling else "local[*]")
    return scaling(args) if args.scaling else profiled(args) if args.profile else compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
