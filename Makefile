# The two commands a fresh machine needs: `make demo` and `make test` (Python 3.11 and make only).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint install clean-demo screenshots

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: export BLUDASH_TIME_ZONE ?= Asia/Colombo
## Run the dashboard with demo data from the built-in Blu sandbox (no external services).
# Every process reads its settings from the environment alone: honcho would add a .env file's
# values to its four processes only (-e /dev/null: none), so that migrate and demo would set up
# one database while the web server and the worker used another, or died on its placeholders.
demo: $(STAMP)
	@test ! -e .env || echo "make demo: .env is not read; settings come from the environment only (see .env.example)"
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo
	@echo "Starting the sandbox, the web server on http://127.0.0.1:8000, a worker and beat: Ctrl-C stops them all."
	$(BIN)/honcho -e /dev/null -f Procfile.demo start

screenshots: export BLUDASH_TIME_ZONE ?= Asia/Colombo
## Full-page PNGs of every page with the demo's data, in var/screenshots/ (needs Chromium).
screenshots: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo
	$(BIN)/python manage.py screenshots --sync-demo

## Run the whole test suite (PostgreSQL and Redis when DATABASE_URL and REDIS_URL are set).
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## Lint, format, types and migrations: what CI checks before the tests.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python manage.py makemigrations --check --dry-run

clean-demo:
	rm -rf var/
