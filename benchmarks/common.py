"""Helpers of the benchmark scripts: each measurement runs in a fresh process of its own."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
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


def pretouch(gib: float) -> None:
    """Touch ``gib`` GiB of fresh memory and free it, just before starting a process to measure.

    A virtual machine that backs its memory lazily (this one does: its kernel gives free pages back
    to the host within seconds) makes a process pay for every page it touches that the machine has
    not touched lately: 1 GiB of numpy ones took 3.6 to 8.9 s in a fresh process here, and 0.15 s
    when the parent had touched and freed 2 GiB just before. Measured processes would otherwise be
    compared by how much new memory they happened to touch first, not by their work. The memory is
    touched by a process of its own: a child started by a process that touched it would count it in
    its own peak RSS (Linux keeps the high-water mark across fork and exec)."""
    if gib > 0:
        subprocess.run([sys.executable, "-c", f"import numpy; numpy.ones({int(gib * (1 << 30)) // 8})"], check=True)


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


def run_command(cmd: list[str], *, env: dict | None = None, timeout: float = 7200, tree: bool = False) -> dict:
    """Run a command to its end: wall seconds, exit code, the end of its standard error, and its
    peak RSS: the process's own (``os.wait4``), or with ``tree`` the largest sum over the process
    and its descendants, sampled every 0.2 s with psutil (a JVM and its Python workers under Spark).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        tree_peak = 0
        watch = None
        if tree:
            import psutil

            watch = psutil.Process(proc.pid)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            if watch is not None:
                tree_peak = max(tree_peak, _tree_rss(watch))
            time.sleep(0.2 if tree else 0.02)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait again
        err.seek(0)
        tail = err.read().decode("utf-8", "replace").strip().splitlines()[-5:]
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
    return {"seconds": seconds, "rc": proc.returncode, "peak_bytes": max(usage.ru_maxrss * 1024, tree_peak),
            "stderr": " | ".join(tail), "stdout": stdout}


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        for p in [proc, *proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def table(rows: list[list], header: list[str]) -> str:
    cells = [header] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(cells[0]), line(["-" * w for w in widths])] + [line(r) for r in cells[1:]])


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {sys.platform}"
