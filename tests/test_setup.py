"""The set-up files agree: conda users get what pip users get."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_has_the_dependencies_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]}
    listed = set()
    for line in (ROOT / "environment.yml").read_text().splitlines():
        m = re.match(r"\s*-\s+([A-Za-z0-9_.\-]+)", line.split("#")[0])
        if m and not line.strip().startswith("- -e"):
            listed.add(_name(m.group(1)))
    assert wanted - listed == set(), "environment.yml misses dependencies of pyproject.toml"
    assert "pip" in listed and any(line.strip() == "- -e ." for line in (ROOT / "environment.yml").read_text().splitlines())
