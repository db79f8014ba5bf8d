"""What installing recsys costs: time, disk and packages, for the core and for each extra.

    python benchmarks/bench_install.py [--extras core lab spark test] [--warm] [--no-editable]

For each extra, in a fresh temporary directory, it does what the Makefile does on a fresh clone:
``python -m venv``, ``pip install --upgrade pip``, ``pip install -e '.[EXTRA]'`` (``core``: no extra,
what ``make demo`` installs), each step timed. Then it measures the environment: its size on disk
(allocated blocks, as ``du`` counts them), the distributions installed in it (recsys included, pip
not) and the largest of them (from their RECORD files). In the core environment it also runs the
demo's command, to show that the core is all the nightly job needs. The environments are deleted
afterwards.

By default pip's cache is off (``--no-cache-dir``): every package is downloaded, as on a new
machine; ``--warm`` lets pip use its cache. The time depends on the network and on the pip
configuration of the machine (an index mirror, local wheels): quote it with those.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import machine, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MB = 1e6

#: Run in the new environment: each distribution (but pip) with the bytes of the files its RECORD lists.
INVENTORY = """
import importlib.metadata as md, json, os
sizes = {}
for dist in md.distributions():
    name = dist.metadata["Name"]
    if name.lower() == "pip":
        continue
    total = 0
    for f in dist.files or []:
        try:
            total += os.lstat(dist.locate_file(f)).st_size
        except OSError:
            pass
    sizes[name] = total
print(json.dumps(sizes))
"""


def disk_usage(path: Path) -> int:
    """Bytes allocated to the files under ``path`` (hard links once, symbolic links not followed)."""
    total, seen = 0, set()
    for folder, _, files in os.walk(path):
        for name in (".", *files):
            st = os.lstat(os.path.join(folder, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def timed(cmd: list[str], env: dict, cwd: Path = ROOT) -> float:
    """Run ``cmd``; its seconds. Fails with pip's last lines when it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise SystemExit(f"{' '.join(cmd)} failed (exit {done.returncode}):\n{tail}")
    return seconds


def measure(extra: str, *, warm: bool, editable: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_NO_CACHE_DIR")}
    if not warm:
        env["PIP_NO_CACHE_DIR"] = "1"  # pip reads any value as "no cache"
    target = "." if extra == "core" else f".[{extra}]"
    with tempfile.TemporaryDirectory(prefix="recsys-install-") as tmp:
        venv = Path(tmp) / "venv"
        python = str(venv / "bin" / "python")
        row = {"extra": extra, "command": f"pip install {'-e ' if editable else ''}'{target}'"}
        row["venv_s"] = timed([sys.executable, "-m", "venv", str(venv)], env)
        row["venv_s"] += timed([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], env)
        row["install_s"] = timed([python, "-m", "pip", "install", "--quiet", *(["-e"] if editable else []), target], env)
        row["bytes"] = disk_usage(venv)
        sizes = json.loads(subprocess.run([python, "-c", INVENTORY], env=env, capture_output=True, text=True,
                                          check=True).stdout)
        row["packages"] = len(sizes)
        row["largest"] = sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
        if extra == "core":  # the demo, in a folder of its own so that only the installed recsys is found
            out = Path(tmp) / "demo"
            row["demo_s"] = timed([python, "-m", "recsys.mine", str(ROOT / "data" / "sample"), "--out", str(out / "out"),
                                   "--cache", str(out / "cache"), "--quiet"], env, cwd=Path(tmp))
            row["demo_lists"] = len(json.loads((out / "out" / "related.json").read_text())["items"])
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", nargs="+", default=["core", "lab", "spark", "test"],
                        help="what to install, each in its own environment (default: core lab spark test)")
    parser.add_argument("--warm", action="store_true", help="let pip use its cache (default: download everything)")
    parser.add_argument("--no-editable", dest="editable", action="store_false",
                        help="pip install . as on a server, rather than -e . as the Makefile does")
    args = parser.parse_args(argv)
    print(f"recsys install, {machine()}, pip cache {'on' if args.warm else 'off'}", flush=True)
    rows = []
    for extra in args.extras:
        row = measure(extra, warm=args.warm, editable=args.editable)
        rows.append(row)
        print(f"  {extra}: {row['venv_s'] + row['install_s']:.0f} s, {row['bytes'] / MB:.0f} MB", flush=True)
    print(table([[r["command"], f"{r['venv_s']:.1f}", f"{r['install_s']:.1f}", f"{r['venv_s'] + r['install_s']:.1f}",
                  f"{r['bytes'] / MB:,.0f}", r["packages"],
                  ", ".join(f"{name} {size / MB:.0f}" for name, size in r["largest"])] for r in rows],
                ["install", "venv+pip s", "install s", "total s", "MB on disk", "packages", "largest (MB)"]))
    for r in rows:
        if "demo_s" in r:
            print(f"the demo (python -m recsys.mine data/sample/) in the {r['extra']} environment: "
                  f"{r['demo_s']:.1f} s, {r['demo_lists']} lists")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
