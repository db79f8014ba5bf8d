# The two commands of the README: `make demo` and `make test`. Each creates .venv and installs first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help demo test lab bench clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 8

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "recsys needs Python 3.11 or newer: run make PYTHON=python3.12 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

demo: $(INSTALLED)  ## mine the sample logs in data/sample/ and print the results
	$(BIN)/python -m recsys.mine data/sample/ --titles data/sample/feed.xml --out out/

test: $(INSTALLED)  ## run every test: unit, property, integration and the notebooks
	$(BIN)/python -m pytest

lab: $(INSTALLED)  ## open the notebooks in JupyterLab
	$(BIN)/jupyter lab --notebook-dir=notebooks $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

bench: $(INSTALLED)  ## run the benchmarks (minutes) and print their tables
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_ingest.py
	$(BIN)/python benchmarks/bench_mining.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_spark.py

clean:  ## remove the virtual environment and outputs
	rm -rf $(VENV) out/ .pytest_cache .hypothesis
