# The two commands of the README: `make demo` and `make test`. Each creates .venv and installs what it
# needs first: the demo the core only (what the nightly job imports), the lab `.[lab]`, the tests `.[test]`
# (lab, Spark, Playwright, ...). One marker file per extra, so `make test` after `make demo` installs the rest.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.DEFAULT_GOAL := help
.PHONY: help demo test lab bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 8

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "recsys needs Python 3.11 or newer: run make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# $(VENV)/.installed-core, -lab, -test, -bench: recsys (editable) with that extra, redone when pyproject.toml changes
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.$(if $(filter core,$*),,[$*])'
	@touch $@

demo: $(VENV)/.installed-core  ## mine the sample logs in data/sample/ and print the results
	$(BIN)/python -m recsys.mine data/sample/ --titles data/sample/feed.xml --out out/

test: $(VENV)/.installed-test  ## run every test: unit, property, integration and the notebooks
	$(BIN)/python -m pytest

lab: $(VENV)/.installed-lab  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

bench: $(VENV)/.installed-bench  ## run the benchmarks (minutes) and print their tables
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_mining.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_spark.py
	$(BIN)/python benchmarks/bench_job.py --quick

clean:  ## remove the virtual environment and outputs
	rm -rf $(VENV) out/ .pytest_cache .hypothesis
