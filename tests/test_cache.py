import fcntl
import gzip
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import recsys
from recsys import cache as cache_module
from recsys import progress as progress_module
from recsys import store as store_module
from recsys.accounting import Accounting
from recsys.cache import cached_page_views, fingerprint, salt
from recsys.errors import RecsysError
from recsys.files import read_head
from recsys.mine import main
from recsys.simulate import simulate
from recsys.views import VIEW_COLUMNS, concat_candidates, view_rules

SAMPLE = Path(__file__).parent.parent / "data" / "sample"
BOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
NO_REFERER = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
              '"$http_user_agent" "$cookie_UT_ID"')


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """The lines of a simulated log, day by day (about 4,500 a day)."""
    d = tmp_path_factory.mktemp("sim")
    simulate(d, visitors=1200, days=5, seed=3, rotate=False)
    by_day: dict[str, list[bytes]] = {}
    for line in (d / "access.log").read_bytes().splitlines(keepends=True):
        day = line.split(b"[", 1)[1][:11].decode() if b"[" in line else "junk"
        by_day.setdefault(day, []).append(line)
    return [lines for day, lines in by_day.items() if day != "junk"]


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def rotate(folder: Path, days: list[list[bytes]], n: int) -> None:
    """logrotate (daily, compress, delaycompress) on night ``n``, one hour after it ran.

    ``access.log.k.gz`` are renamed (their bytes are the same), ``access.log.1`` is compressed
    into ``access.log.2.gz``, the live log (after nginx wrote the rest of the day into it) is
    renamed ``access.log.1``, and a new live log holds the first third of the new day.
    """
    for age in range(n - 1, 1, -1):
        if (folder / f"access.log.{age}.gz").exists():
            (folder / f"access.log.{age}.gz").rename(folder / f"access.log.{age + 1}.gz")
    if (folder / "access.log.1").exists():
        (folder / "access.log.2.gz").write_bytes(gz((folder / "access.log.1").read_bytes()))
    if (folder / "access.log").exists():
        with open(folder / "access.log", "ab") as f:
            f.write(b"".join(days[n - 1][len(days[n - 1]) // 3:]))
        (folder / "access.log").rename(folder / "access.log.1")
    (folder / "access.log").write_bytes(b"".join(days[n][: len(days[n]) // 3]))


def run(fn, *args, **kwargs) -> tuple[pd.DataFrame, Accounting, dict]:
    """The views of ``fn``, the accounting it filled, and how it read each file, by name (what
    ``cached_page_views`` adds to the files' records, taken out of them)."""
    acc = Accounting()
    views = fn(*args, accounting=acc, **kwargs)
    return views, acc, {Path(f["path"]).name: f.pop("cache") for f in acc.files if "cache" in f}


def same(a: pd.DataFrame, a_acc: Accounting, b: pd.DataFrame, b_acc: Accounting) -> None:
    """The same views (values; category order may follow block boundaries) and accounting."""
    assert list(a.columns) == list(b.columns) and list(a.dtypes.astype(str)) == list(b.dtypes.astype(str))
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))
    assert a_acc.to_dict() == b_acc.to_dict()
    a_acc.check()


def warm_equals_cold(logs, cache, **options) -> dict:
    """A cached run equals a cold one; returns what came from the cache, by file name."""
    cached, acc, how = run(cached_page_views, logs, cache_dir=cache, **options)
    same(cached, acc, *run(recsys.read_page_views, logs, **options)[:2])
    return how


def entries(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("*") if p.suffix in (".json", store_module.TABLE))


# the schema of candidates (defect 1) ---------------------------------------------------------------
def test_candidates_have_one_schema_whatever_a_block_held(tmp_path):
    full = recsys.read_page_views(SAMPLE / "access.log.1")
    cand = pd.DataFrame(full[list(VIEW_COLUMNS)].iloc[:5].reset_index(drop=True).to_dict("series"))
    empty_obj = pd.DataFrame({"ts": pd.to_datetime([], utc=True),
                              **{c: pd.Categorical([]) for c in VIEW_COLUMNS[1:]}})
    no_referer = cand.assign(referer=pd.Categorical([None] * 5))  # float categories
    strings = cand.assign(referer=[None] * 5, url=cand["url"].astype(object))  # no categoricals at all
    cand.to_parquet(tmp_path / "a.parquet", index=False)
    empty_obj.to_parquet(tmp_path / "b.parquet", index=False)  # back as object columns
    back = [pd.read_parquet(tmp_path / "a.parquet"), pd.read_parquet(tmp_path / "b.parquet")]
    out = concat_candidates([cand, empty_obj, no_referer, strings, *back])
    assert len(out) == 20 and str(out["ts"].dtype) == "datetime64[ms, UTC]"
    for col in VIEW_COLUMNS[1:]:
        assert out[col].cat.categories.dtype == pd.Index([], dtype="str").dtype, col
    assert out["url"].tolist() == cand["url"].tolist() * 4
    assert out["referer"].isna().sum() == 5 + 5 + cand["referer"].isna().sum() * 3
    assert len(concat_candidates([])) == 0


def no_referer_lines(lines: list[bytes]) -> list[bytes]:
    """combined_ut lines without their referer: a log_format without $http_referer."""
    return [re.sub(rb'"[^"]*" ("[^"]*" "[^"]*")\n$', rb"\1\n", ln) for ln in lines]


@pytest.mark.parametrize("case", ["empty live log", "quiet day", "no referer", "crawlers then readers"])
def test_a_cached_part_without_views_or_referers_combines_with_the_rest(tmp_path, days, case):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    options = {}
    when = days[1][0].split(b"[")[1][:26].decode()
    paths = ["/robots.txt", "/archives/%d", "/static/main.css"]
    crawl = [f'66.249.66.{i % 200} - - [{when}] "GET {paths[i % 3].replace("%d", str(i % 90))} HTTP/1.1" '
             f'200 512 "-" "{BOT}" "-"\n'.encode() for i in range(1500)]
    if case == "empty live log":
        (logs / "access.log.1").write_bytes(b"".join(days[0]))
        (logs / "access.log").write_bytes(b"")
        later = b"".join(days[1])
    elif case == "quiet day":  # another vhost: crawlers only, next to a day of readers
        (logs / "access.log.1").write_bytes(b"".join(days[0]))
        (logs / "access.log").write_bytes(b"".join(crawl[:40]))
        later = b"".join(crawl[40:])
    elif case == "no referer":
        options = {"read_options": {"log_format": NO_REFERER}}
        (logs / "access.log").write_bytes(b"".join(no_referer_lines(days[0][:1500])))
        later = b"".join(no_referer_lines(days[0][1500:]))
    else:  # more than the lines a cold run probes: the live log is read on from where it stopped
        (logs / "access.log").write_bytes(b"".join(crawl))
        later = b"".join(days[1])
    warm_equals_cold(logs, cache, **options)
    assert set(warm_equals_cold(logs, cache, **options).values()) == {"cached"}
    with open(logs / "access.log", "ab") as f:
        f.write(later)
    how = warm_equals_cold(logs, cache, **options)
    if case in ("no referer", "crawlers then readers"):
        assert how["access.log"].startswith("read from byte ")


def test_the_three_lines_of_the_issue_then_a_day_through_the_command_line(tmp_path, days):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    t = days[0][0].split(b"[")[1][:26].decode()
    (logs / "access.log").write_text("".join(
        f'66.249.66.1 - - [{t}] "GET {p} HTTP/1.1" 200 512 "-" "{BOT}" "-"\n'
        for p in ("/archives/7", "/robots.txt", "/static/css/main.css")))
    cached_page_views(logs, cache_dir=cache)
    with open(logs / "access.log", "ab") as f:
        f.write(b"".join(days[0]))
    args = [str(logs), "--quiet", "--no-evaluate", "--top", "0"]
    assert main([*args, "--cache", str(cache), "--out", str(tmp_path / "warm")]) == 0
    assert main([*args, "--no-cache", "--out", str(tmp_path / "cold")]) == 0
    warm, cold = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("warm", "cold"))
    assert warm["accounting"] == cold["accounting"] and warm["counts"] == cold["counts"]
    related = [json.loads((tmp_path / d / "related.json").read_text())["items"] for d in ("warm", "cold")]
    assert related[0] == related[1] and related[0]


def test_a_grown_part_in_another_format_is_read_as_a_cold_run_reads_it(tmp_path, days):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    (logs / "access.log").write_bytes(b"".join(days[0][:1500]))
    warm_equals_cold(logs, cache)
    with open(logs / "access.log", "ab") as f:  # nginx reloaded with another log_format; half a line
        f.write(b"".join(no_referer_lines(days[0][1500:1600])) + days[0][1600][:40])
    # lines are read by whichever of the file's formats they match: the new part is read on
    assert warm_equals_cold(logs, cache)["access.log"].startswith("read from byte ")
    with open(logs / "access.log", "ab") as f:  # the half line completed, then lines as before
        f.write(days[0][1600][40:] + b"".join(days[0][1601:]))
    warm_equals_cold(logs, cache)


def test_logrotate_reads_only_what_is_new(tmp_path, days):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    for n in range(3):
        rotate(logs, days, n)
    assert set(warm_equals_cold(logs, cache).values()) == {"read"}
    rotate(logs, days, 3)
    how = warm_equals_cold(logs, cache)
    assert how["access.log.3.gz"] == "cached"  # renamed
    assert how["access.log.2.gz"] == "cached"  # the plain entry of its content: not parsed again
    assert how["access.log.1"] == f"read from byte {len(b''.join(days[2][: len(days[2]) // 3])):,}"
    assert how["access.log"] == "read"
    assert set(warm_equals_cold(logs, cache).values()) == {"cached"}
    # entries of files gone are gone: one per file
    assert len(entries(cache)) == 2 * 4


def test_one_reading_bar_over_all_files_by_bytes_cache_hits_included(tmp_path, days, monkeypatch):
    """Issue 15: the bar does not restart for each file read, nor sit still on files from the cache."""
    bars = []

    class Recorded(progress_module.tqdm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen = [self.n]
            bars.append(self)

        def update(self, n=1):
            super().update(n)
            self.seen.append(self.n)

    monkeypatch.setattr(progress_module, "tqdm", Recorded)
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    for n in range(3):
        rotate(logs, days, n)
    ways = []
    for k, night in enumerate((None, 3, None)):  # cold; after logrotate (renamed, compressed, grown, new); warm
        if night is not None:
            rotate(logs, days, night)
        bars.clear()
        size = sum(p.stat().st_size for p in logs.iterdir())
        ways.append(set(run(cached_page_views, logs, cache_dir=cache, progress=True)[2].values()))
        assert [b.desc for b in bars] == ["reading logs"]
        bar = bars[0]
        assert bar.total == size and bar.n == size and bar.unit == "B"
        assert bar.seen == sorted(bar.seen)
        if k:  # files from the cache move it one by one
            assert len(bar.seen) > 4
    assert ways[0] == {"read"} and ways[2] == {"cached"}
    assert {"cached", "read"} < ways[1] and any(w.startswith("read from byte") for w in ways[1])


# fingerprints -------------------------------------------------------------------------------------
def test_multi_member_gzip_files_are_told_apart(tmp_path):
    """Two files ending in the same member shared the entry of the first (issue 11, 8)."""
    lines = (SAMPLE / "access.log.1").read_bytes().splitlines(keepends=True)
    shared = gz(b"".join(lines[-100:]))
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.access.log.gz").write_bytes(gz(b"".join(lines[:200])) + shared)
    (logs / "b.access.log.gz").write_bytes(gz(b"".join(lines[200:500])) + shared)
    how = warm_equals_cold(logs, tmp_path / "cache")
    assert how == {"a.access.log.gz": "read", "b.access.log.gz": "read"}
    _, acc, _ = run(cached_page_views, logs, cache_dir=tmp_path / "cache")
    assert [f["lines"] for f in acc.files] == [300, 400]
    a, b = (fingerprint(str(logs / n)) for n in ("a.access.log.gz", "b.access.log.gz"))
    assert a.compressed and b.compressed and a.key != b.key


def test_a_file_named_like_gzip_that_is_not_is_keyed_as_text(tmp_path):
    text = b"\x1f\x8b is how this text happens to start\n"
    (tmp_path / "access.log.1.gz").write_bytes(text)
    fp = fingerprint(str(tmp_path / "access.log.1.gz"))
    assert not fp.compressed and fp.key == fingerprint_of_bytes(text)


def fingerprint_of_bytes(data: bytes) -> str:
    import zlib
    return f"p-{len(data):x}-{zlib.crc32(data):08x}"


def test_the_probe_of_a_cold_run_is_what_the_cache_assumes():
    assert read_head.__defaults__[-1] == cache_module.PROBE_BYTES


def outcome(fn, *args, **kwargs):
    """What a run gives: its views and accounting, or its error."""
    try:
        views, acc, _ = run(fn, *args, **kwargs)
    except RecsysError as e:
        return type(e).__name__, str(e)
    return views.astype(str).to_dict("list"), acc.to_dict()


LINES = (SAMPLE / "access.log.1").read_bytes()[:20_000]


@pytest.mark.parametrize("data", [
    b"", b"\x1f", b"\x1f\x8b", b"\x1f\x8b\x08\x00\x00", gz(LINES)[:7], gz(LINES)[:-3], gz(LINES)[:-9],
    gz(LINES)[:5000], gz(LINES) + b"\x00" * 10, gz(LINES) + b"junk", b"BZh", b"\xfd7zXZ\x00"])
def test_short_and_truncated_archives_give_what_a_cold_run_gives(tmp_path, data):
    (tmp_path / "access.log.2.gz").write_bytes(data)
    (tmp_path / "access.log.1").write_bytes(LINES)
    cold = outcome(recsys.read_page_views, tmp_path)
    for _ in range(2):
        assert outcome(cached_page_views, tmp_path, cache_dir=tmp_path / "cache") == cold


def test_devices_are_refused_and_pipes_are_not_cached(tmp_path):
    with pytest.raises(RecsysError, match="/dev/zero is a device"):
        cached_page_views("/dev/zero", cache_dir=tmp_path / "cache")
    fifo = tmp_path / "access.log"
    os.mkfifo(fifo)
    lines = (SAMPLE / "access.log").read_bytes().splitlines(keepends=True)[:50]

    def write() -> None:
        try:
            with open(fifo, "wb") as f:
                f.write(b"".join(lines))
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    try:
        _, acc, how = run(cached_page_views, fifo, cache_dir=tmp_path / "cache")
    except RecsysError as e:  # the reader cannot read a pipe today (it seeks): the error names it
        assert str(fifo) in str(e)
    else:
        assert acc.lines == 50 and how == {fifo.name: "read"}
    writer.join(5)
    assert not entries(tmp_path / "cache")


def test_a_folder_without_access_logs_is_the_cold_runs_error(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "error.log").write_text("nothing\n")
    with pytest.raises(RecsysError) as cold:
        recsys.read_page_views(tmp_path / "logs")
    with pytest.raises(RecsysError) as warm:
        cached_page_views(tmp_path / "logs", cache_dir=tmp_path / "cache")
    assert str(warm.value) == str(cold.value) and "no access logs found" in str(warm.value)
    out = tmp_path / "out"
    out.mkdir()
    (out / "related.json").write_text('{"items": {"/a": []}}')
    assert main([str(tmp_path / "logs"), "--cache", str(tmp_path / "cache"), "--out", str(out), "-q"]) == 1
    assert (out / "related.json").read_text() == '{"items": {"/a": []}}'


# healing ------------------------------------------------------------------------------------------
def _damage(cache: Path, how: str) -> None:
    jsons = [p for p in entries(cache) if p.suffix == ".json"]
    target = max(jsons, key=lambda p: p.stat().st_size)
    table = target.with_suffix(store_module.TABLE)
    other = next(p for p in jsons if p != target).with_suffix(store_module.TABLE)
    if how == "json only":
        table.unlink()
    elif how == "table only":
        target.unlink()
    elif how == "table garbage":
        table.write_bytes(b"ARROW1 not really")
    elif how == "table truncated":
        table.write_bytes(table.read_bytes()[:-100])
    elif how == "table of another entry":
        shutil.copy(other, table)
    elif how == "json garbage":
        target.write_bytes(b"\x00{not json")
    elif how == "json of another layout":
        target.write_text(json.dumps({"path": "x", "size": 3, "accounting": {}}))
    elif how == "json a list":
        target.write_text("[]")
    elif how == "a count changed":
        target.write_text(target.read_text().replace('"lines": ', '"lines": 1', 1))
    elif how == "a folder in its place":
        target.unlink()
        target.mkdir()
    elif how == "everything gone but the salt":
        shutil.rmtree(cache / f"v{cache_module.CACHE_VERSION}")
    elif how == "garbage files":
        (target.parent / "junk.json").write_text("{}")
        (target.parent / "p-1-00000000.json").write_text('{"meta": 1}')
        (target.parent.parent / "notes.txt").write_text("hello")
        (cache / "v1").mkdir()
        (cache / "v1" / "abc").mkdir()
        (cache / "v1" / "abc" / "00000010-12345678.json").write_text('{"size": 16}')
    elif how == "options folder is a file":
        shutil.rmtree(target.parent)
        target.parent.write_text("x")


DAMAGE = ["json only", "table only", "table garbage", "table truncated", "table of another entry",
          "json garbage", "json of another layout", "json a list", "a count changed", "a folder in its place",
          "everything gone but the salt", "garbage files", "options folder is a file"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_cache_is_read_again_and_heals(tmp_path, how):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    shutil.copytree(SAMPLE, logs, ignore=shutil.ignore_patterns("*[3-9].gz", "*2?.gz", "*.xml", "*.csv.gz"))
    warm_equals_cold(logs, cache)
    _damage(cache, how)
    healed = warm_equals_cold(logs, cache)
    assert ("read" in healed.values()) == (how != "garbage files")
    if how == "garbage files":
        assert not (cache / "v1").exists()  # an older version's folder
    assert set(warm_equals_cold(logs, cache).values()) == {"cached"}  # rewritten


def test_an_older_cache_layout_is_removed(tmp_path):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    shutil.copytree(SAMPLE, logs, ignore=shutil.ignore_patterns("*.gz", "feed.xml"))
    old = cache / "v1" / "0123456789abcdef"
    old.mkdir(parents=True)
    (old / "0003ab00-12345678.json").write_text('{"path": "access.log", "size": 3}')
    (old / "0003ab00-12345678.parquet").write_bytes(b"PAR1")
    warm_equals_cold(logs, cache)
    assert not (cache / "v1").exists()


def test_an_empty_file_does_not_make_its_family_format_known(tmp_path):
    """As in a cold read, the file after an empty access.log.1 is the first of its family read:
    one whose first lines mostly match no format is refused, cached or not (the cache read it)."""
    from recsys.errors import LogParseError

    logs = tmp_path / "logs"
    logs.mkdir()
    good = (Path(__file__).parent / "data" / "combined_ut.log").read_text().splitlines()[1]
    (logs / "access.log.1").write_bytes(b"")
    (logs / "access.log").write_text("".join(f"junk {i}\njunk\n{good}\n" for i in range(10)))
    with pytest.raises(LogParseError) as cold:
        recsys.read_page_views(logs)
    with pytest.raises(LogParseError) as cached:
        cached_page_views(logs, cache_dir=tmp_path / "cache")
    assert str(cached.value) == str(cold.value)


@pytest.mark.parametrize("where", ["fingerprint", "read"])
def test_a_disk_error_names_the_file(tmp_path, monkeypatch, where):
    """An I/O error names no file (EIO from a damaged disk): the message says which one."""
    import errno

    import recsys.blocks

    logs = tmp_path / "logs"
    shutil.copytree(SAMPLE, logs, ignore=shutil.ignore_patterns("*.gz", "feed.xml"))

    def broken(*args, **kwargs):
        raise OSError(errno.EIO, "Input/output error")

    if where == "fingerprint":
        monkeypatch.setattr(cache_module, "fingerprint", broken)
    else:
        monkeypatch.setattr(recsys.blocks, "read_head", broken)
    with pytest.raises(RecsysError, match=r"access\.log\.1: cannot read it: Input/output error"):
        cached_page_views(logs, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("change", ["grew", "shrank", "same size other content", "copytruncate", "replaced"])
def test_a_changed_file_gives_what_a_cold_run_gives(tmp_path, days, change):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    live = logs / "access.log"
    live.write_bytes(b"".join(days[0][:1200]))
    warm_equals_cold(logs, cache)
    if change == "grew":
        with open(live, "ab") as f:
            f.write(b"".join(days[0][1200:]))
    elif change == "shrank":
        live.write_bytes(b"".join(days[0][:1100]))
    elif change == "same size other content":
        data = bytearray(live.read_bytes())
        i = data.index(b"/archives/") + len(b"/archives/")
        data[i] = ord("9") if data[i] != ord("9") else ord("8")
        live.write_bytes(bytes(data))
    elif change == "copytruncate":
        with open(live, "ab") as f:
            f.write(b"".join(days[0][1200:1300]))
        shutil.copy(live, logs / "access.log.1")
        live.write_bytes(b"")
        warm_equals_cold(logs, cache)
        live.write_bytes(b"".join(days[1][:200]))
    else:
        live.unlink()
        live.write_bytes(b"".join(days[1][:1200]))
    how = warm_equals_cold(logs, cache)
    assert how["access.log"] != "cached"
    if change == "grew":
        assert how["access.log"].startswith("read from byte ")


def test_refresh_reads_every_file_and_rewrites_its_entry(tmp_path):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    shutil.copytree(SAMPLE, logs, ignore=shutil.ignore_patterns("*.gz", "feed.xml"))
    cold, cold_acc, _ = run(recsys.read_page_views, logs)
    warm_equals_cold(logs, cache)
    # an entry that checks out but is wrong (as a bug of an earlier version of the same layout)
    target = max((p for p in entries(cache) if p.suffix == ".json"), key=lambda p: p.stat().st_size)
    doc = json.loads(target.read_text())
    acc = doc["meta"]["accounting"]
    acc["malformed_kinds"]["request"] = acc["malformed_kinds"].get("request", 0) + 1
    acc["malformed"] += 1
    acc["lines"] += 1
    acc["files"][0]["lines"] += 1
    doc["check"] = store_module.digest(doc["meta"])
    target.write_text(json.dumps(doc))
    _, wrong, _ = run(cached_page_views, logs, cache_dir=cache)
    assert wrong.lines == cold_acc.lines + 1
    refreshed, acc, how = run(cached_page_views, logs, cache_dir=cache, refresh=True)
    assert set(how.values()) == {"read"}
    same(refreshed, acc, cold, cold_acc)
    again, acc, how = run(cached_page_views, logs, cache_dir=cache)
    assert set(how.values()) == {"cached"}
    same(again, acc, cold, cold_acc)


def test_a_file_that_changes_while_it_is_read_is_not_cached(tmp_path, days):
    logs = tmp_path / "logs"
    logs.mkdir()
    live = logs / "access.log"
    live.write_bytes(b"".join(days[0][:500]))
    store = store_module.Store(tmp_path / "store")
    (tmp_path / "store").mkdir()
    rules = view_rules({})
    before = os.stat(live)
    cache_module._one_file(str(live), rules, store, {}, False, False, set())
    assert [p.name for p in (tmp_path / "store").iterdir() if p.suffix == ".json"]
    # nginx writes while the file is read: the fingerprint does not describe what was parsed
    shutil.rmtree(tmp_path / "store")
    (tmp_path / "store").mkdir()

    class Growing(store_module.Store):
        def load(self, key):
            with open(live, "ab") as f:
                f.write(b"".join(days[0][500:600]))
            return None

    cache_module._one_file(str(live), rules, Growing(tmp_path / "store"), {}, False, False, set())
    assert before.st_size < live.stat().st_size
    assert not [p for p in (tmp_path / "store").iterdir() if p.suffix == ".json"]


# housekeeping -------------------------------------------------------------------------------------
def modes(cache: Path) -> set[tuple[str, str]]:
    return {("d" if p.is_dir() else "f", oct(p.stat().st_mode & 0o777)) for p in [cache, *cache.rglob("*")]}


def test_the_cache_is_private_and_an_old_one_is_made_private(tmp_path):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    shutil.copytree(SAMPLE, logs, ignore=shutil.ignore_patterns("*.gz", "feed.xml"))
    old = os.umask(0o022)
    try:
        salt(cache)
        cached_page_views(logs, cache_dir=cache)
        assert modes(cache) == {("d", "0o700"), ("f", "0o600")}
        for p in [cache, *cache.rglob("*")]:  # as an earlier version left it
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        cached_page_views(logs, cache_dir=cache)
        assert modes(cache) == {("d", "0o700"), ("f", "0o600")}
    finally:
        os.umask(old)
    # a folder that holds more than a cache is not the cache's to chmod
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    (shared / "mine.txt").write_text("x")
    os.chmod(shared, 0o755)
    cached_page_views(logs, cache_dir=shared)
    assert oct(shared.stat().st_mode & 0o777) == "0o755"
    assert {m for k, m in modes(shared / f"v{cache_module.CACHE_VERSION}")} <= {"0o700", "0o600"}


def test_the_salt_is_made_once_and_private(tmp_path):
    s = salt(tmp_path / "c")
    assert s == salt(tmp_path / "c") and len(s) == 32
    assert oct(os.stat(tmp_path / "c" / "salt").st_mode & 0o777) == "0o600"
    assert oct(os.stat(tmp_path / "c").st_mode & 0o777) == "0o700"
    (tmp_path / "c" / "salt").write_text("not hex")
    with pytest.raises(RecsysError, match="salt is damaged|is damaged"):
        salt(tmp_path / "c")


def test_two_log_folders_share_a_cache_without_evicting_each_other(tmp_path, days):
    cache = tmp_path / "cache"
    a, b = tmp_path / "a", tmp_path / "b"
    for d, day in ((a, 0), (b, 1)):
        d.mkdir()
        (d / "access.log").write_bytes(b"".join(days[day]))
        (d / "access.log.1").write_bytes(b"".join(days[day + 2]))
    warm_equals_cold(a, cache)
    warm_equals_cold(b, cache)
    assert set(warm_equals_cold(a, cache).values()) == {"cached"}
    assert set(warm_equals_cold(b, cache).values()) == {"cached"}
    # a file given by name, next to a folder
    assert set(warm_equals_cold([a / "access.log", b], cache).values()) == {"cached"}
    assert set(warm_equals_cold(a, cache).values()) == {"cached"}
    # the entry of a file that changed is replaced, the other folder's stay
    (a / "access.log.1").write_bytes(b"".join(days[4]))
    warm_equals_cold(a, cache)
    assert len([p for p in entries(cache) if p.suffix == ".json"]) == 4


def test_entries_no_run_used_for_30_days_are_removed(tmp_path, days):
    cache = tmp_path / "cache"
    a, b = tmp_path / "a", tmp_path / "b"
    for d, day in ((a, 0), (b, 1)):
        d.mkdir()
        (d / "access.log").write_bytes(b"".join(days[day]))
    warm_equals_cold(a, cache)
    warm_equals_cold(b, cache, max_per_minute=5)  # another options folder
    warm_equals_cold(b, cache)
    shutil.rmtree(b)
    old = time.time() - 31 * 86400
    for p in entries(cache):
        if json.loads(p.with_suffix(".json").read_text())["meta"]["path"].startswith(str(b)):
            os.utime(p, (old, old))
    warm_equals_cold(a, cache)
    left = [json.loads(p.read_text())["meta"]["path"] for p in entries(cache) if p.suffix == ".json"]
    assert left == [str(a / "access.log")]


def test_what_killed_runs_left_is_removed(tmp_path):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    shutil.copytree(SAMPLE, logs, ignore=shutil.ignore_patterns("*.gz", "feed.xml"))
    cached_page_views(logs, cache_dir=cache)
    folder = next(p for p in entries(cache)).parent
    left = [folder / ".p-3-00000000.parquet.k2j3.tmp", folder / ".p-3-00000000.json.abc.tmp", cache / ".salt.x.tmp"]
    for p in left:
        p.write_bytes(b"")
    cached_page_views(logs, cache_dir=cache)
    assert not any(p.exists() for p in left)
    # while another run works, only what is older than an hour goes
    fresh, stale = folder / ".p-4-00000000.parquet.new.tmp", folder / ".p-5-00000000.parquet.old.tmp"
    fresh.write_bytes(b"")
    stale.write_bytes(b"")
    os.utime(stale, (time.time() - 7200,) * 2)
    with open(cache / ".lock") as other:
        fcntl.flock(other, fcntl.LOCK_SH)
        cached_page_views(logs, cache_dir=cache)
    assert fresh.exists() and not stale.exists()


def test_a_cache_folder_that_cannot_be_made_is_named(tmp_path):
    (tmp_path / "cache").write_text("a file, not a folder")
    with pytest.raises(RecsysError, match=re.escape(str(tmp_path / "cache"))):
        cached_page_views(SAMPLE / "access.log", cache_dir=tmp_path / "cache")
    with pytest.raises(RecsysError, match=re.escape(str(tmp_path / "cache"))):
        salt(tmp_path / "cache")


def test_no_cache_with_a_cache_folder_refreshes_that_folder_and_uses_its_salt(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "default"))
    sample = Path(__file__).parents[1] / "data" / "sample"
    folder = tmp_path / "mine"
    args = [str(sample), "--quiet", "--no-evaluate", "--top", "0", "--cache", str(folder)]
    assert main([*args, "--out", str(tmp_path / "warm")]) == 0
    assert main([*args, "--no-cache", "--out", str(tmp_path / "cold")]) == 0
    assert not (tmp_path / "default").exists()  # the default folder is never touched
    report = json.loads((tmp_path / "cold" / "report.json").read_text())
    assert set(report["cache"].values()) == {"read"}, report["cache"]
    related = [json.loads((tmp_path / d / "related.json").read_text())["items"] for d in ("warm", "cold")]
    assert related[0] == related[1] and related[0]  # same salt, so the same visitors and lists


# the tables of a month, one after the other -----------------------------------------------------------
_value = st.one_of(st.none(), st.sampled_from(["/a", "/b", "/c", "", "é", "/a/"]), st.text(max_size=4))


@given(st.lists(st.lists(_value, max_size=12), min_size=1, max_size=6))
@hsettings(max_examples=200, deadline=None)
def test_one_chunk_unifies_dictionaries_as_pyarrow_does(chunks):
    """recsys.columns.one_chunk stands in for ``unify_dictionaries().combine_chunks()`` (which crashed
    pyarrow now and then on the cache's tables): the same values, dictionary and codes."""
    import pyarrow as pa

    from recsys.columns import DICT, one_chunk

    arrays = [pa.array(c, pa.string()).dictionary_encode().cast(DICT) for c in chunks]
    numbers = [pa.array(range(len(c)), pa.int64()) for c in chunks]
    table = pa.table({"url": pa.chunked_array(arrays, DICT), "n": pa.chunked_array(numbers, pa.int64())})
    ours = one_chunk(table)
    theirs = table.unify_dictionaries().combine_chunks()
    assert ours.equals(theirs) and ours["url"].num_chunks == 1
    a, b = ours["url"].chunk(0), theirs["url"].chunk(0)
    assert a.dictionary.equals(b.dictionary) and a.indices.equals(b.indices)
    ours["url"].validate(full=True)
