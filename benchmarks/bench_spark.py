"""The two engines on the same logs: what running on Spark costs on one machine.

    python benchmarks/bench_spark.py [--visitors 20000] [--days 30]

Generates (once, into benchmarks/.data/) logs with ``recsys.simulate``, then runs the whole job,
``python -m recsys.mine LOGS --no-cache --no-evaluate``, once with the local engine and once with
``--engine spark --spark-master local[*]``, each in a fresh process, and prints both times and
their ratio. Spark is expected to be slower on one 2-core machine: it pays for a JVM, Python
workers for the UDFs, shuffles and task scheduling, which buy the ability to spread the same job
over many machines. The figure says how much that costs here. Both runs must write the same
related.json (checked).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import DATA, machine, table  # noqa: E402


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
           "--quiet", *extra]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--visitors", type=int, default=20000)
    p.add_argument("--days", type=int, default=30)
    args = p.parse_args()
    logs, lines = make_logs(args.visitors, args.days)
    size = sum(f.stat().st_size for f in logs.glob("access.log*"))
    print(f"{machine()}; {lines:,} log lines ({size / 1e6:.0f} MB on disk, gzip rotations), the whole job\n")
    with tempfile.TemporaryDirectory() as tmp:
        local = run(logs, Path(tmp) / "local")
        spark = run(logs, Path(tmp) / "spark", "--engine", "spark", "--spark-master", "local[*]")
        same = (json.loads((Path(tmp) / "local" / "related.json").read_text())["items"]
                == json.loads((Path(tmp) / "spark" / "related.json").read_text())["items"])
    rows = [["local engine", f"{local:.1f}", f"{lines / local:,.0f}"],
            ["spark engine, local[*]", f"{spark:.1f}", f"{lines / spark:,.0f}"]]
    print(table(rows, ["engine", "seconds (whole command)", "lines/s"]))
    print(f"\nspark / local = {spark / local:.1f}x on this machine; the same related.json: {'yes' if same else 'NO'}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
