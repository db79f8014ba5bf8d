"""Hostile inputs thrown at the cached and the uncached run (issue 11).

Whatever the logs hold, and however they change between runs: no traceback (the command line
returns a status and prints at most one line on standard error), every line is counted once, and
a run from the cache gives what a cold run gives (the same views and the same accounting, or the
same error).
"""

import bz2
import gzip
import json
import lzma
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recsys
from recsys.cache import cached_page_views
from recsys.errors import RecsysError
from recsys.mine import main
from recsys.simulate import simulate

SAMPLE = Path(__file__).parent.parent / "data" / "sample"
POOL = (SAMPLE / "access.log").read_bytes().splitlines(keepends=True)[:1200]
LOG = b"".join(POOL[:300])


def outcome(fn, *args, **kwargs):
    """A run's views and accounting (checked), or its error: what the cached and cold runs compare."""
    acc = recsys.Accounting()
    try:
        views = fn(*args, accounting=acc, **kwargs)
    except RecsysError as e:
        return type(e).__name__, str(e)
    for record in acc.check().files:
        record.pop("cache", None)  # how the cached run read each file: not in a cold run's records
    return views.astype(str).to_dict("list"), acc.to_dict()


def cached_equals_cold(logs, cache) -> None:
    cold = outcome(recsys.read_page_views, logs)
    assert outcome(cached_page_views, logs, cache_dir=cache) == cold
    assert outcome(cached_page_views, logs, cache_dir=cache) == cold  # from what the first run left


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@pytest.fixture(scope="module")
def tsv_lines(tmp_path_factory) -> list[bytes]:
    d = tmp_path_factory.mktemp("tsv")
    simulate(d, visitors=40, days=1, seed=1, rotate=False, log_format="tsv")
    return (d / "access.log").read_bytes().splitlines(keepends=True)


def without_cookie(lines: list[bytes]) -> list[bytes]:
    """combined_ut lines as nginx writes them in ``combined``."""
    return [re.sub(rb' "[^"]*"\n$', b"\n", ln) for ln in lines]


# named hostile cases: each a list of steps, the logs checked after every step ---------------------
def write(name: str, data: bytes):
    return lambda d: (d / name).write_bytes(data)


def append(name: str, data: bytes):
    def step(d: Path) -> None:
        with open(d / name, "ab") as f:
            f.write(data)
    return step


def copytruncate(d: Path) -> None:
    shutil.copy(d / "access.log", d / "access.log.1")
    with open(d / "access.log", "r+b") as f:
        f.truncate(0)


def flip_a_byte(d: Path) -> None:
    data = bytearray((d / "access.log").read_bytes())
    i = data.index(b"/archives/") + len(b"/archives/")
    data[i] = ord("8") if data[i] == ord("9") else ord("9")
    (d / "access.log").write_bytes(bytes(data))


CUT = POOL[1100][:57]
CASES = {
    "random bytes": [write("access.log", bytes(range(256)) * 40)],
    "random bytes after lines": [write("access.log", LOG + os.urandom(3000))],
    "a line cut anywhere": [write("access.log", LOG[:-37])],
    "NUL bytes": [write("access.log", LOG[:9000] + b"\x00" * 500 + LOG[9000:] + b"\x00")],
    "CRLF": [write("access.log", LOG.replace(b"\n", b"\r\n"))],
    "a very long line": [write("access.log", LOG[:5000] + b"x" * (3 << 20) + b"\n" + LOG[5000:])],
    "an empty file": [write("access.log", b""), write("access.log.1", LOG)],
    "an empty gzip file": [write("access.log.2.gz", gz(b"")), write("access.log", LOG)],
    "a zero-byte .gz": [write("access.log.2.gz", b""), write("access.log", LOG)],
    "a gzip header only": [write("access.log.2.gz", gz(LOG)[:10]), write("access.log", LOG)],
    "a truncated gzip": [write("access.log.2.gz", gz(LOG)[:3000])],
    "gzip under 8 bytes": [write("access.log.2.gz", b"\x1f\x8b\x08\x00\x00\x00\x00")],
    "multi-member gzip": [write("a.access.log.gz", gz(LOG[:4000]) + gz(LOG[4000:])),
                          write("b.access.log.gz", gz(LOG[:7000]) + gz(LOG[4000:]))],
    "bzip2 and xz": [write("access.log.3.bz2", bz2.compress(LOG)), write("access.log.2.xz", lzma.compress(LOG[:8000]))],
    "a truncated xz": [write("access.log.2.xz", lzma.compress(LOG)[:2000])],
    "a name with spaces": [write("my site access.log", LOG)],
    "a unicode name": [write("accès-ünïcode.log", LOG)],
    "not gzip, named .gz": [write("access.log.1.gz", LOG)],
    "text that starts like gzip": [write("access.log", b"\x1f\x8b" + LOG)],
    "the live log grows by a cut line, then completes it": [
        write("access.log", b"".join(POOL[:1100])), append("access.log", CUT),
        append("access.log", POOL[1100][57:] + b"".join(POOL[1101:]))],
    "a small live log grows": [write("access.log", LOG[:999]), append("access.log", LOG[999:])],
    "copytruncate": [write("access.log", b"".join(POOL[:1100])), copytruncate, append("access.log", LOG)],
    "same size, other content": [write("access.log", b"".join(POOL[:1100])), flip_a_byte],
    "shrank": [write("access.log", LOG), write("access.log", LOG[:5000])],
    "the format changes inside a file": [write("access.log", b"".join(POOL[:1100]) + b"".join(without_cookie(POOL[1100:])))],
    "a request line of -": [write("access.log", LOG + POOL[0].replace(b'"GET /archives/621 HTTP/2.0"', b'"-"'))],
    "a folder without access logs": [write("error.log", LOG)],
    "a symlink to a log": [write("access.log.1", LOG), lambda d: os.symlink(d / "access.log.1", d / "access.log")],
    "a newline in a name, in a folder": [write("access\n.log", LOG)],
    "a 20-digit byte count": [write("access.log", b"".join(POOL[:50]) + POOL[0].replace(b" 200 7829 ", b" 200 123456789012345678901 ")
                                    + b"".join(POOL[50:300]))],
}


def cases(*, cli: bool) -> list:
    return [pytest.param(steps, id=name) for name, steps in CASES.items()]


@pytest.mark.parametrize("steps", cases(cli=False))
def test_a_hostile_case_through_the_library(tmp_path, steps):
    logs = tmp_path / "logs"
    logs.mkdir()
    for step in steps:
        step(logs)
        cached_equals_cold(logs, tmp_path / "cache")


def run_main(capfd, *args) -> tuple[int, str, dict | None]:
    """The command line's status, standard error, and accounting of report.json (if written)."""
    out = Path(args[args.index("--out") + 1])
    (out / "report.json").unlink(missing_ok=True)
    code = main([*args, "--quiet", "--no-evaluate", "--top", "0"])
    err = capfd.readouterr().err
    assert isinstance(code, int)
    assert "Traceback" not in err and len(err.splitlines()) <= 1, err
    if not (out / "report.json").exists():
        return code, err, None
    acc = json.loads((out / "report.json").read_text())["accounting"]
    assert acc["lines"] == acc["malformed"] + sum(acc["dropped"].values()) + acc["views"]
    return code, err, acc


@pytest.mark.parametrize("steps", cases(cli=True))
def test_a_hostile_case_through_the_command_line(tmp_path, capfd, steps):
    logs, out = tmp_path / "logs", tmp_path / "out"
    logs.mkdir()
    for step in steps:  # the cache is made by the first step, then read and updated
        step(logs)
        cold = run_main(capfd, str(logs), "--cache", str(tmp_path / "salt"), "--no-cache", "--out", str(out))
        assert run_main(capfd, str(logs), "--cache", str(tmp_path / "cache"), "--out", str(out)) == cold


def test_a_device_is_refused_in_one_line(tmp_path, capfd):
    code, err, acc = run_main(capfd, "/dev/zero", "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "out"))
    assert code == 1 and "/dev/zero is a device" in err and acc is None


def test_mixed_formats_in_a_folder(tmp_path, capfd, tsv_lines):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "access.log.2.gz").write_bytes(gz(b"".join(without_cookie(POOL[:400]))))
    (logs / "access.log.1").write_bytes(b"".join(tsv_lines))
    (logs / "access.log").write_bytes(LOG)
    cached_equals_cold(logs, tmp_path / "cache")
    cold = run_main(capfd, str(logs), "--cache", str(tmp_path / "salt"), "--no-cache", "--out", str(tmp_path / "o"))
    assert cold[0] == 0 and cold[2]["lines"] == 400 + len(tsv_lines) + 300
    assert run_main(capfd, str(logs), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "o")) == cold


# random inputs -------------------------------------------------------------------------------------
NAMES = ["access.log", "access.log.1", "access.log.2.gz", "access.log.3.gz", "access.log-20240102",
         "other access.log", "accès.log", "access.log.4.bz2", "access.log.5.xz"]
piece = st.one_of(
    st.integers(0, len(POOL) - 1).map(lambda i: POOL[i]),  # a valid line
    st.integers(0, len(POOL) - 1).map(lambda i: POOL[i]),
    st.integers(0, len(POOL) - 1).map(lambda i: POOL[i]),
    st.tuples(st.integers(0, len(POOL) - 1), st.integers(0, 300)).map(lambda t: POOL[t[0]][: t[1]]),  # cut
    st.binary(max_size=120),  # anything
    st.sampled_from([b"\x00" * 30, b"\r\n", b"\n", b"\n\n\n", b"\xff\xfe", b"x" * 70_000 + b"\n", b"-\n"]),
)
content = st.tuples(st.booleans(), st.lists(piece, max_size=25)).map(
    lambda t: (b"".join(POOL[:1050]) if t[0] else b"") + b"".join(t[1]))


def encode(data: bytes, how: str, cut: int) -> bytes:
    if how == "gz":
        return gz(data)
    if how == "multi-gz":
        return gz(data[: len(data) // 2]) + gz(data[len(data) // 2:])
    if how == "truncated gz":
        return gz(data)[: cut % (len(gz(data)) + 1)]
    if how == "bz2":
        return bz2.compress(data)
    if how == "xz":
        return lzma.compress(data)
    return data


a_file = st.tuples(st.sampled_from(NAMES), content,
                   st.sampled_from(["plain", "plain", "plain", "gz", "multi-gz", "truncated gz", "bz2", "xz"]),
                   st.integers(0, 10_000))
change = st.one_of(
    st.tuples(st.just("append"), content), st.tuples(st.just("copytruncate"), st.just(b"")),
    st.tuples(st.just("flip"), st.integers(0, 1 << 20)), st.tuples(st.just("replace"), content),
    st.tuples(st.just("rotate"), st.just(b"")),
)


def apply(logs: Path, what: str, arg) -> None:
    live = logs / "access.log"
    if what == "append":
        with open(live, "ab") as f:
            f.write(arg)
    elif what == "copytruncate":
        if live.exists():
            shutil.copy(live, logs / "access.log.1")
            live.write_bytes(b"")
    elif what == "flip" and live.exists() and live.stat().st_size:
        data = bytearray(live.read_bytes())
        data[arg % len(data)] ^= 0x01
        live.write_bytes(bytes(data))
    elif what == "replace":
        live.write_bytes(arg)
    elif what == "rotate" and live.exists():  # delaycompress: .1 compressed, the live log renamed
        if (logs / "access.log.1").exists():
            (logs / "access.log.2.gz").write_bytes(gz((logs / "access.log.1").read_bytes()))
        live.rename(logs / "access.log.1")
        live.write_bytes(b"")


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(files=st.lists(a_file, min_size=1, max_size=3, unique_by=lambda f: f[0]), changes=st.lists(change, max_size=3))
def test_random_logs_and_changes(files, changes):
    with tempfile.TemporaryDirectory() as tmp:
        logs, cache = Path(tmp) / "logs", Path(tmp) / "cache"
        logs.mkdir()
        for name, data, how, cut in files:
            (logs / name).write_bytes(encode(data, how, cut))
        cached_equals_cold(logs, cache)
        for what, arg in changes:
            apply(logs, what, arg)
            cached_equals_cold(logs, cache)


@settings(max_examples=6, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck))
@given(files=st.lists(a_file, min_size=1, max_size=2, unique_by=lambda f: f[0]), changes=st.lists(change, max_size=2))
def test_random_logs_through_the_command_line(capfd, files, changes):
    with tempfile.TemporaryDirectory() as tmp:
        logs, out = Path(tmp) / "logs", Path(tmp) / "out"
        logs.mkdir()
        for name, data, how, cut in files:
            (logs / name).write_bytes(encode(data, how, cut))
        for what, arg in [("none", None), *changes]:
            apply(logs, what, arg)
            cold = run_main(capfd, str(logs), "--cache", str(Path(tmp) / "salt"), "--no-cache", "--out", str(out))
            assert run_main(capfd, str(logs), "--cache", str(Path(tmp) / "cache"), "--out", str(out)) == cold
