# Two entry points: `make demo` (the main job) and `make test` (the whole suite).
# Each creates or refreshes .venv by itself, so a fresh machine needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,postgres,sqlalchemy,report]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m prioq demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy --strict src

# The PostgreSQL tests use PRIOQ_TEST_POSTGRES_URL; scripts/pg.sh starts a loopback server if it can.
test: lint
	PRIOQ_TEST_POSTGRES_URL="$${PRIOQ_TEST_POSTGRES_URL:-$$(bash scripts/pg.sh 2>/dev/null || true)}" \
		$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
