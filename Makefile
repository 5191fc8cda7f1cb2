# Each target sets itself up on a fresh machine: a .venv with the project and its dev extras.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SCENARIO ?= scenarios/shanghai-default/scenario.yaml
TIME_LIMIT ?= 60

.PHONY: run solve test test-fast lint typecheck clean bench bench-online bench-api

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The service (uvicorn) on PCS_HOST:PCS_PORT (default 127.0.0.1:8000), on a SQLite file seeded from $(SCENARIO)
# when empty; prints an admin token (or uses PCS_ADMIN_TOKEN); allocation rounds every PCS_ROUND_MINUTES.
# Two worker processes by default: a round's Python work holds one process for seconds, the other keeps answering.
run: $(STAMP)
	PCS_DATABASE_URL="$${PCS_DATABASE_URL:-sqlite:///pcs.db}" PCS_SEED_SCENARIO="$${PCS_SEED_SCENARIO-$(SCENARIO)}" \
		PCS_WORKERS="$${PCS_WORKERS:-2}" $(BIN)/python -m api

# The command-line solve of $(SCENARIO): the KPI table, and out/.
solve: $(STAMP)
	$(BIN)/pcs solve $(SCENARIO) --time-limit $(TIME_LIMIT) --out out

# Every test, the slow ones included, with the thorough hypothesis budgets, after mypy (CI runs this).
test: $(STAMP)
	$(BIN)/mypy
	HYPOTHESIS_PROFILE=ci $(BIN)/python -m pytest

# The day-to-day loop (under 3 minutes on 2 cores): small hypothesis budgets, the slow-marked tests and the API
# suite's PostgreSQL variants (its second run) left out.
test-fast: $(STAMP)
	HYPOTHESIS_PROFILE=fast $(BIN)/python -m pytest -m "not slow and not postgresql"

lint: $(STAMP)
	$(BIN)/ruff check scheduler api tests
	$(BIN)/ruff format --check scheduler api tests

# mypy over scheduler/ and api/ alone (options in pyproject.toml); `test` runs it first.
typecheck: $(STAMP)
	$(BIN)/mypy

# The optimiser against the greedy baselines and the upper bound: a quick profile (a few minutes), or
# BENCH_ARGS=--full for every size, demand level and trace (about 30 minutes). Prints the table, writes CSV.
bench: $(STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

# The online benchmark (bench/online.py): 7-day rolling simulations of the ITP and Philly trace scenarios and the
# default scenario at 1.0x and 1.3x demand, the optimiser and fifo / easy / quota side by side against the
# clairvoyant plan (close to an hour on 2 cores), or BENCH_ARGS=--quick for the one-day smoke profile (~30 s).
# Prints the KPI table and the targets of issue 12; writes CSV and Markdown to out/bench-online-full (or -quick).
bench-online: $(STAMP)
	$(BIN)/python -m bench.online $(BENCH_ARGS)

bench-api: $(STAMP)
	$(BIN)/python bench/api_load.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis pcs.db pcs.db-wal pcs.db-shm pcs.db-writers.lock pcs.db-prepare.lock
