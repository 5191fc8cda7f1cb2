# Each target sets itself up on a fresh machine: a .venv with the project and its dev extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SCENARIO ?= scenarios/shanghai-default/scenario.yaml
TIME_LIMIT ?= 60

.PHONY: run test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pcs solve $(SCENARIO) --time-limit $(TIME_LIMIT) --out out

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check scheduler api tests
	$(BIN)/ruff format --check scheduler api tests

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis
