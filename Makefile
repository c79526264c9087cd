# The two commands that matter: `make run` and `make test`. Both work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: run test lint bench install migrations messages docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/portal migrate
	$(BIN)/portal serve --host 127.0.0.1 --port 8000

test: $(STAMP)
	@if [ -f tests/node/package.json ] && command -v npm >/dev/null 2>&1; then \
		(cd tests/node && npm ci --silent --no-audit --no-fund); fi
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy portal
	$(BIN)/lint-imports

# Needs Debian's wrk (apt-get install wrk) and two cores; PostgreSQL on 127.0.0.1:5432 when present.
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench $(BENCH_ARGS)
	$(BIN)/python -m bench.desk
	$(BIN)/python -m bench.replicas
	$(BIN)/python -m bench.registry
	$(BIN)/python -m bench.memory

# Until the first release every model change regenerates the single initial migration.
migrations: $(STAMP)
	rm -f portal/models/migrations/0001_initial.py
	$(BIN)/python -m tortoise -c portal.models.TORTOISE_ORM makemigrations

# The generated pages: every PORTAL_* variable (from Settings) and the GraphQL schema; a test fails when stale.
docs: $(STAMP)
	$(BIN)/python -m portal.api.docs

# Extract the message keys used in code and templates (Babel) and update portal/core/locale/*/messages.po.
messages: $(STAMP)
	$(BIN)/python scripts/messages.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
