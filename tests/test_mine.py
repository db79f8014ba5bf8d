import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from recsys.mine import build_parser, main

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent


def test_prints_the_accounting_and_writes_the_report(tmp_path, capsys):
    assert main([str(DATA / "combined_ut.log"), "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^lines\s+18\s+100.00%$", out, re.M)
    assert re.search(r"^dropped: method\s+2\s+11.11%$", out, re.M)
    assert re.search(r"^page views\s+5\s+27.78%$", out, re.M)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["accounting"]["views"] == 5 and report["accounting"]["lines"] == 18


def test_a_data_error_is_one_line_on_stderr_and_exit_1(capsys):
    assert main([str(DATA / "combined_ut.log"), "--log-format", "tsv"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("recsys: error: ") and "--log-format" in err[0]
    assert main([str(DATA / "nope.log")]) == 1
    assert "no such file or directory" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main([])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main([str(DATA / "combined_ut.log"), "--max-per-minute", "0"])
    assert e.value.code == 2
    assert "--max-per-minute must be at least 1" in capsys.readouterr().err


def test_help_ends_with_an_example():
    assert build_parser().format_help().rstrip().splitlines()[-2].strip().startswith("python -m recsys.mine")


def test_every_flag_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    flags = {s for a in build_parser()._actions for s in a.option_strings if s.startswith("--")}
    missing = sorted(f for f in flags - {"--help"} if f not in readme)
    assert not missing, f"flags missing from README.md: {missing}"


def test_a_closed_pipe_prints_no_traceback():
    # `true` exits at once, so every write of recsys meets a closed pipe (like `| head`)
    cmd = f"set -o pipefail; {sys.executable} -m recsys.mine {DATA / 'combined_ut.log'} --quiet | true"
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 1  # recsys saw the broken pipe and stopped quietly
    assert done.stderr == ""


def test_mines_sessions_and_prints_the_top_rules(capsys):
    assert main([str(ROOT / "data" / "sample"), "--quiet", "--min-support", "0.002", "--algorithm", "apriori"]) == 0
    out = capsys.readouterr().out
    m = re.search(r"in ([\d,]+) session baskets", out)
    assert m and int(m.group(1).replace(",", "")) > 1000
    assert re.search(r"frequent itemsets \(apriori, support >= 6 baskets\), [\d,]+ rules", out)
    assert re.search(r"^/archives/\d+.* -> /archives/\d+ +\d+ +[01]\.\d\d", out, re.M)


def test_eclat_and_apriori_print_the_same(capsys):
    outs = []
    for algorithm in ("eclat", "apriori"):
        assert main([str(ROOT / "data" / "sample"), "--quiet", "--algorithm", algorithm, "--basket", "visitor"]) == 0
        out = capsys.readouterr().out
        outs.append(re.sub(r"\((eclat|apriori), ", "(", out.rsplit("(", 1)[0]))
    assert outs[0] == outs[1]


@pytest.mark.parametrize("args, message", [
    (["--min-support", "lots"], "expected a fraction such as 0.002 or a count such as 3"),
    (["--max-len", "0"], "--max-len must be at least 1"),
    (["--min-confidence", "2"], "--min-confidence must be between 0 and 1"),
    (["--gap", "soon"], "gap must be a duration"),
])
def test_bad_mining_options(args, message, capsys):
    try:
        code = main([str(DATA / "combined_ut.log"), "--quiet", *args])
    except SystemExit as e:
        code = e.code
    assert code in (1, 2) and message in capsys.readouterr().err
