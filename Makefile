# The two commands of the README: `make run` (server on the embedded default) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
WBSELLER_DATA_DIR ?= data
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test lint typecheck unit bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The data directory is made absolute: the commands serve prints then run from any directory.
run: install
	$(BIN)/wbseller serve --host $(HOST) --port $(PORT) --data-dir $(abspath $(WBSELLER_DATA_DIR))

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install
	$(BIN)/mypy

# Two workers (pytest-xdist), a file each at a time (module fixtures stay whole): one process used one of
# the machine's 2 cores, and the suite took 13 minutes of wall time; two take under 7. `PYTEST_WORKERS=0`
# runs it in one process.
PYTEST_WORKERS ?= 2
test: lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
