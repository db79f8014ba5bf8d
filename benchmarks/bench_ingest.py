"""Ingestion speed and memory: recsys against a naive per-line regex loop, in one run.

    python benchmarks/bench_ingest.py [--lines 2000000] [--scale 6]

Generates (once, into benchmarks/.data/) a ``combined_ut`` log of ``--lines`` lines with
``recsys.simulate``, then measures, each in a fresh process:

- ``read_logs`` + ``page_views`` (the whole frame of requests, then the views);
- ``read_page_views`` (block by block, holding only the views);
- a naive loop: ``re.match`` on each line, ``datetime.strptime``, lists, ``pandas.DataFrame``
  (it builds the requests frame only, without the page-view filtering, so the ratio is
  conservative);
- ``read_page_views`` over the same log listed ``--scale`` times (several GB of input): its peak
  memory against the input size.

It also reads a copy of the log with every 2,500th line cut short: nginx never writes such lines
(one append per line), a crash or a bad copy does, and a block holding one is tokenized twice.

Targets: at least 1,000,000 lines/s end to end, at least 7x the naive loop, and peak memory well
under the size of the input.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, entry, machine, measure, table  # noqa: E402


def make_log(lines: int) -> Path:
    """A plain combined_ut log of exactly ``lines`` lines from the simulator (cached)."""
    path = DATA / f"ingest-{lines}" / "access.log"
    if path.exists():
        return path
    from recsys.simulate import simulate

    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        visitors = max(1, lines // 20)  # about 20 lines per reader over two weeks
        while True:
            out = Path(tmp) / f"v{visitors}"
            sim = simulate(out, visitors=visitors, days=14, seed=7, rotate=False)
            if sim.lines >= lines:
                break
            visitors = int(visitors * lines / sim.lines * 1.05) + 1
        with open(out / "access.log", "rb") as src, open(path, "wb") as dst:
            for i, line in enumerate(src):
                if i == lines:
                    break
                dst.write(line)
    return path


def make_damaged(path: Path, every: int) -> Path:
    """The same log with every ``every``-th line cut short (as a crash or a bad copy leaves it)."""
    out = path.parent / f"damaged-{every}.log"
    if out.exists():
        return out
    import random

    rnd = random.Random(1)
    with open(path, "rb") as src, open(out, "wb") as dst:
        for i, line in enumerate(src):
            if i % every == every - 1:
                line = line[: rnd.randrange(20, len(line) - 2)] + b"\n"
            dst.write(line)
    return out


# child tasks: prepare(*args) returns the function to time --------------------------------------
def task_recsys(path):
    import recsys

    def run():
        acc = recsys.Accounting()
        recsys.page_views(recsys.read_logs(path, progress=False, accounting=acc), accounting=acc)
        acc.check()
        return {"lines": acc.lines, "views": acc.views}

    return run


def task_stream(path, copies=1):
    import recsys

    def run():
        acc = recsys.Accounting()
        recsys.read_page_views([path] * copies, progress=False, accounting=acc)
        acc.check()
        return {"lines": acc.lines, "views": acc.views}

    return run


def task_naive(path):
    from datetime import datetime

    import pandas as pd

    from recsys import LogFormat

    rx = re.compile(LogFormat.preset("combined_ut").regex)

    def run():
        cols = {c: [] for c in ("ts", "visitor", "ip", "method", "path", "query", "status", "bytes",
                                "referer", "user_agent")}
        n = 0
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                n += 1
                m = rx.match(line.rstrip("\n"))
                if m is None:
                    continue
                d = m.groupdict()
                parts = d["request"].split(" ")
                if len(parts) not in (2, 3):
                    continue
                target = parts[1]
                path_, _, query = target.partition("?")
                cols["ts"].append(datetime.strptime(f"{d['time_local__date']} {d['time_local__zone']}",
                                                    "%d/%b/%Y:%H:%M:%S %z"))
                cols["visitor"].append(None if d["cookie_UT_ID"] in ("-", "") else d["cookie_UT_ID"])
                cols["ip"].append(d["remote_addr"])
                cols["method"].append(parts[0])
                cols["path"].append(path_)
                cols["query"].append(query or None)
                cols["status"].append(int(d["status"]))
                cols["bytes"].append(int(d["body_bytes_sent"]))
                cols["referer"].append(None if d["http_referer"] == "-" else d["http_referer"])
                cols["user_agent"].append(None if d["http_user_agent"] == "-" else d["http_user_agent"])
        df = pd.DataFrame(cols)
        df["ts"] = pd.to_datetime(df["ts"], utc=True)
        return {"lines": n, "views": len(df)}

    return run


TASKS = {"recsys": task_recsys, "stream": task_stream, "naive": task_naive}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=2_000_000)
    p.add_argument("--scale", type=int, default=6, help="copies of the log for the memory test")
    p.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (best kept)")
    args = p.parse_args()
    path = make_log(args.lines)
    size = os.path.getsize(path)
    print(f"input: {path} ({args.lines:,} lines, {size / 1e6:.0f} MB); {machine()}\n")
    script = __file__
    rows = []
    res = {}
    for name, label, targs in [
        ("recsys", "read_logs + page_views", [str(path)]),
        ("stream", "read_page_views (blocks)", [str(path)]),
        ("naive", "naive re loop -> DataFrame", [str(path)]),
    ]:
        r = measure(script, name, *targs, repeat=1 if name == "naive" else args.repeat)
        if "error" in r:
            print(f"{label}: failed: {r['error']}")
            return 1
        res[name] = r
        rate = r["result"]["lines"] / r["seconds"]
        rows.append([label, f"{r['seconds']:.2f}", f"{rate:,.0f}", f"{r['peak_bytes'] / 2**20:,.0f}"])
    print(table(rows, ["method", "seconds", "lines/s", "peak MiB"]))
    rate = res["recsys"]["result"]["lines"] / res["recsys"]["seconds"]
    ratio = res["naive"]["seconds"] / res["recsys"]["seconds"]
    damaged = make_damaged(path, 2500)
    dmg = measure(script, "recsys", str(damaged), repeat=args.repeat)
    dmg_rate = dmg["result"]["lines"] / dmg["seconds"]
    big = measure(script, "stream", str(path), args.scale)
    big_input = size * args.scale
    print(f"\nread_logs + page_views: {rate:,.0f} lines/s (target >= 1,000,000): "
          f"{'met' if rate >= 1e6 else 'NOT met'}")
    print(f"speed-up over the naive loop: {ratio:.1f}x (target >= 7x): {'met' if ratio >= 7 else 'NOT met'}")
    print(f"a damaged copy (every 2,500th line cut short, so the tokenizer reads most blocks twice): "
          f"{dmg_rate:,.0f} lines/s")
    print(f"memory: read_page_views over {args.scale} copies ({big_input / 1e9:.1f} GB, "
          f"{big['result']['lines']:,} lines) peaked at {big['peak_bytes'] / 2**20:,.0f} MiB = "
          f"{big['peak_bytes'] / big_input:.0%} of the input, in {big['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    entry(main, TASKS)
