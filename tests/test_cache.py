import gzip
import os
from pathlib import Path

import pandas as pd
import pytest

import recsys
from recsys.cache import cached_page_views, fingerprint, salt
from recsys.simulate import simulate


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    """The lines of a simulated log, day by day."""
    d = tmp_path_factory.mktemp("sim")
    simulate(d, visitors=250, days=6, seed=3, rotate=False)
    by_day: dict[str, list[bytes]] = {}
    for line in (d / "access.log").read_bytes().splitlines(keepends=True):
        day = line.split(b"[", 1)[1][:11].decode() if b"[" in line else "junk"
        by_day.setdefault(day, []).append(line)
    return [lines for day, lines in by_day.items() if day != "junk"]


def night(folder: Path, days: list[list[bytes]], n: int) -> None:
    """The log folder one hour after logrotate (daily, delaycompress) on night ``n``."""
    for f in folder.glob("access.log*"):
        f.unlink()
    today = days[n]
    (folder / "access.log").write_bytes(b"".join(today[: len(today) // 20]))  # the first hour
    (folder / "access.log.1").write_bytes(b"".join(days[n - 1]))
    for age in range(2, n + 1):
        with gzip.GzipFile(folder / f"access.log.{age}.gz", "wb", mtime=0) as g:
            g.write(b"".join(days[n - age]))


def same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.astype(str), b.astype(str))
    assert a.attrs["accounting"].to_dict() == b.attrs["accounting"].to_dict()


def test_after_logrotate_only_what_is_new_is_read(tmp_path, days):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    night(logs, days, 3)
    first = cached_page_views(logs, cache_dir=cache)
    assert set(first.attrs["cache"].values()) == {"read"}
    same(first, recsys.read_page_views(logs))
    # the next night: .1 became .2.gz, the live log grew into .1, a new live log
    night(logs, days, 4)
    # nginx wrote the rest of yesterday into the live log before the rotation: it grew
    second = cached_page_views(logs, cache_dir=cache)
    how = {Path(k).name: v for k, v in second.attrs["cache"].items()}
    assert how["access.log.4.gz"] == how["access.log.3.gz"] == how["access.log.2.gz"] == "cached"
    assert how["access.log.1"].startswith("read from byte ")  # the part read last night is skipped
    assert how["access.log"] == "read"
    same(second, recsys.read_page_views(logs))
    # nothing new: everything from the cache
    third = cached_page_views(logs, cache_dir=cache)
    assert set(third.attrs["cache"].values()) == {"cached"}
    same(third, second)


def test_options_change_the_key_and_a_damaged_entry_is_ignored(tmp_path, days):
    logs, cache = tmp_path / "logs", tmp_path / "cache"
    logs.mkdir()
    night(logs, days, 2)
    cached_page_views(logs, cache_dir=cache)
    other = cached_page_views(logs, cache_dir=cache, max_per_minute=5)
    assert set(other.attrs["cache"].values()) == {"read"}  # other options: other entries
    for f in cache.rglob("*.parquet"):
        f.write_bytes(b"not parquet")
    again = cached_page_views(logs, cache_dir=cache, max_per_minute=5)
    same(again, recsys.read_page_views(logs, max_per_minute=5))


def test_a_gzip_trailer_fingerprints_the_content(tmp_path):
    data = b"".join(f"line {i}\n".encode() for i in range(1000))
    (tmp_path / "a.log").write_bytes(data)
    (tmp_path / "a.log.gz").write_bytes(gzip.compress(data))
    assert fingerprint(str(tmp_path / "a.log")).key == fingerprint(str(tmp_path / "a.log.gz")).key


def test_the_salt_is_made_once_and_private(tmp_path):
    s = salt(tmp_path)
    assert s == salt(tmp_path) and len(s) == 32
    assert oct(os.stat(tmp_path / "salt").st_mode & 0o777) == "0o600"
