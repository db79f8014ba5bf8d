"""Helpers of the benchmark scripts: each measurement runs in a fresh process of its own."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE / ".data"  # generated inputs, reused between runs (ignored by git)
SHARED = HERE.parent.parent / "shared" / "data"  # the FIMI benchmark sets


def child_main(tasks: dict) -> None:
    """In a child: run ``tasks[argv[2]](*json args)``, print seconds, peak memory and the result."""
    name, args = sys.argv[2], json.loads(sys.argv[3])
    prepared = tasks[name](*args)  # load inputs outside the timed part
    # a task gives the function to time, or (it, a function summarizing its output untimed)
    run, summarize = prepared if isinstance(prepared, tuple) else (prepared, lambda out: out)
    best = None
    for _ in range(int(os.environ.get("BENCH_REPEAT", "1"))):
        t0 = time.perf_counter()
        output = run()
        seconds = time.perf_counter() - t0
        best = seconds if best is None else min(best, seconds)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": best, "peak_bytes": peak, "result": summarize(output)}))


def entry(main, tasks: dict) -> None:
    """A benchmark script's entry point: ``--child TASK ARGS`` runs one measurement, else ``main``."""
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(tasks)
    else:
        raise SystemExit(main())


def measure(script: str, task: str, *args, repeat: int = 1, timeout: float = 3600) -> dict:
    """Run ``task`` of ``script`` in a new Python process; its seconds, peak RSS and result."""
    env = dict(os.environ, BENCH_REPEAT=str(repeat))
    done = subprocess.run(
        [sys.executable, script, "--child", task, json.dumps(list(args))],
        capture_output=True, text=True, env=env, timeout=timeout,
    )
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {sys.platform}"
