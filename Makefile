# Ospost: `make run` starts the demo, `make test` runs every test.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 5000
export PORT

.PHONY: run test lint deps db bench clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

deps: $(VENV)/.installed node_modules/.package-lock.json

db: deps
	$(VENV)/bin/flask --app app db upgrade

run: db
	$(VENV)/bin/flask --app app run --host 127.0.0.1 --port $(PORT)

# Front-end checks with the versions locked in package-lock.json (never a download).
JS_LINT := npx --no-install eslint static/js && \
	npx --no-install prettier --check static/js static/css static/sw.js eslint.config.js

# The whole suite on SQLite, then again on a throwaway PostgreSQL server
# (browser tests run once: they exercise the pages, not the database).
# Two test processes (pytest-xdist), a test file each at a time: most tests
# wait on servers, so two share the 2 cores well; every process starts its
# own simulator, S3 endpoint and PostgreSQL. `make test PYTEST_WORKERS=0`
# runs in one process.
PYTEST_WORKERS ?= 2
XDIST := -n $(PYTEST_WORKERS) --dist loadfile
test: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(JS_LINT)
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)
	$(VENV)/bin/pytest $(XDIST) --postgres -m "not browser" $(PYTEST_ARGS)

lint: deps
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(JS_LINT)

bench: deps
	$(PY) bench/upload.py
	$(PY) bench/bulk.py
	$(PY) bench/reorder.py
	$(PY) bench/publish_burst.py
	$(PY) bench/fault_run.py
	$(PY) bench/kill_trials.py
	$(PY) bench/http_load.py
	$(PY) bench/pg_plans.py
	$(PY) bench/video.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache test-results
