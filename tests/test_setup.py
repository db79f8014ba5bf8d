"""The set-up files agree: conda users get what pip users get, and each use installs only what it needs.

The core (``pip install .``, ``make demo``) is what the nightly job imports; the extras ``lab``,
``spark`` and ``test`` add the notebooks, Spark and the tests' tools (pyproject.toml).
"""

import importlib.metadata as md
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from integration import need, need_program

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: What a server running the nightly job must not have to install (hundreds of MB each, or a browser driver).
HEAVY = {"pyspark", "playwright", "jupyterlab", "notebook", "ipykernel", "matplotlib", "mlxtend", "scikit-learn"}


def _name(requirement: str) -> str:
    return canonicalize_name(Requirement(requirement).name)


def requirements(*extras: str) -> list[str]:
    """The requirements of the core and of ``extras``, with the project's own extras (``recsys[lab]``) expanded."""
    found, todo, done = list(PROJECT["dependencies"]), list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in done:
            continue
        done.add(extra)
        for requirement in PROJECT["optional-dependencies"][extra]:
            req = Requirement(requirement)
            if canonicalize_name(req.name) == canonicalize_name(PROJECT["name"]):
                todo += sorted(req.extras)
            else:
                found.append(requirement)
    return found


def closure(wanted: list[str]) -> set[str]:
    """The distributions ``wanted`` installs, followed through the metadata of the installed packages."""
    seen: set[str] = set()
    todo = [(Requirement(r), {""}) for r in wanted]
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras):
            continue
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:  # an optional dependency of a dependency, not installed here
            continue
        todo += [(Requirement(r), {"", *req.extras}) for r in dist.requires or []]
    return seen


def test_the_extras_expand_to_what_each_use_needs():
    core = {_name(r) for r in requirements()}
    test = {_name(r) for r in requirements("test")}
    assert core == {"pandas", "pyarrow", "numpy", "scipy", "tqdm", "crawler-user-agents"}
    assert {"jupyterlab", "matplotlib", "pyspark", "playwright", "pytest", "nbmake", "mlxtend"} <= test
    assert {_name(r) for r in requirements("lab")} - core == {"jupyterlab", "ipykernel", "matplotlib"}
    assert core & HEAVY == set()


def test_environment_yml_has_the_dependencies_of_pyproject():
    wanted = {_name(r) for r in requirements("test")}
    text = (ROOT / "environment.yml").read_text()
    listed = set()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        m = re.match(r"\s*-\s+([A-Za-z0-9_.\-]+)", line.split("#")[0])
        if m and not line.strip().startswith("- -e"):
            listed.add(canonicalize_name(m.group(1)))
    assert wanted - listed == set(), "environment.yml misses dependencies of pyproject.toml"
    # and nothing pyproject.toml dropped: conda's own python, pip, and the Java that Spark needs aside
    assert listed - wanted == {"python", "pip", "openjdk"}, "environment.yml lists packages pyproject.toml does not"
    assert any(line.strip() == "- -e ." for line in text.splitlines())


def _make(target: str, venv: Path) -> list[str]:
    """The commands ``make -n TARGET`` would run with the virtual environment at ``venv``."""
    done = subprocess.run([need_program("make"), "-n", target, f"VENV={venv}"], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    return done.stdout.splitlines()


def _installs(commands: list[str]) -> list[str]:
    return [c.split("-e ", 1)[1].strip("'\"") for c in commands if "pip install" in c and " -e " in c]


def test_make_demo_installs_the_core_only_and_make_test_the_rest(tmp_path):
    venv = tmp_path / "venv"
    assert _installs(_make("demo", venv)) == ["."]  # a fresh clone: the core, no extra
    assert _installs(_make("lab", venv)) == [".[lab]"]
    assert _installs(_make("test", venv)) == [".[test]"]
    # after `make demo` (its venv and marker newer than pyproject.toml): the demo installs nothing,
    # `make test` installs the test extra into the same venv, without making the venv again
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    marker = venv / ".installed-core"
    marker.touch()
    newer = (ROOT / "pyproject.toml").stat().st_mtime + 10
    os.utime(marker, (newer, newer))
    os.utime(venv / "bin" / "python", (newer, newer))
    assert _installs(_make("demo", venv)) == []
    test = _make("test", venv)
    assert _installs(test) == [".[test]"] and not any("-m venv" in c for c in test)


@pytest.fixture(scope="module")
def core_run(tmp_path_factory) -> Path:
    """The demo's command with the blog files, every installed package outside the core's dependencies unimportable."""
    allowed = closure(requirements()) | {canonicalize_name(PROJECT["name"])}
    blocked = sorted(top for top, dists in md.packages_distributions().items()
                     if not {canonicalize_name(d) for d in dists} & allowed)
    assert {"pyspark", "matplotlib", "jupyterlab", "mlxtend"} <= set(blocked)  # installed here, for the tests
    program = (
        "import sys\n"
        f"BLOCKED = set({blocked!r})\n"
        "class Core:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.partition('.')[0] in BLOCKED:\n"
        "            raise ModuleNotFoundError(f'No module named {name!r} (not in a core install)', name=name)\n"
        "sys.meta_path.insert(0, Core())\n"
        "from recsys.mine import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    tmp = tmp_path_factory.mktemp("core")
    out = tmp / "out"
    done = subprocess.run([sys.executable, "-c", program, "data/sample/", "--out", str(out), "--cache", str(tmp / "cache"),
                           "--titles", "data/sample/feed.xml", "--export", "all", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_nightly_job_runs_on_the_core_alone(core_run):
    related = json.loads((core_run / "related.json").read_text())
    assert len(related["items"]) > 100
    assert json.loads((core_run / "report.json").read_text())["publication"]["published"] is True


def _readme_section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    return text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_deploy_section_runs_what_it_configures(core_run, tmp_path):
    """Its cron lines parse, with its configuration, and copy files the job writes."""
    from recsys.mine import parse

    section = _readme_section("Deploying to a server")
    (toml,) = re.findall(r"```toml\n(.*?)```", section, re.DOTALL)
    config = tmp_path / "recsys.toml"
    config.write_text(textwrap.dedent(toml))
    lines = [line.strip() for block in re.findall(r"```cron\n(.*?)```", section, re.DOTALL)
             for line in block.splitlines() if "recsys.mine" in line]
    assert len(lines) == 2  # Hugo and Hexo
    for line in lines:
        job, *after = line.split("recsys.mine", 1)[1].split("&&")
        args = [str(config) if a == "/etc/recsys.toml" else a for a in shlex.split(job.split(">")[0])]
        parsed = parse(args)
        assert parsed.logs == ["/var/log/nginx/"] and parsed.out == "/srv/recsys/out"
        assert parsed.settings.views.article_pattern == "hugo" and parsed.settings.output.export == ("hugo",)
        copied = [shlex.split(step)[1] for step in after if step.split()[0] == "cp"]
        assert len(copied) == 1 and copied[0].startswith("/srv/recsys/out/")
        assert (core_run / copied[0].removeprefix("/srv/recsys/out/")).is_file(), copied[0]


@pytest.mark.slow
def test_a_core_install_pulls_no_spark_playwright_or_jupyterlab():
    """pip resolves ``pip install .`` against the package registry, as on a fresh server."""
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", "-", str(ROOT)], capture_output=True, text=True, timeout=600, check=False)
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    need(done.returncode == 0, f"the package registry (pip could not resolve the core: {' | '.join(errors[-2:])})")
    installed = {canonicalize_name(item["metadata"]["name"]) for item in json.loads(done.stdout)["install"]}
    assert {_name(r) for r in requirements()} <= installed
    assert installed & HEAVY == set()
