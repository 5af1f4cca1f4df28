# The two set-up commands of the README: `make run` and `make test`. Everything else is a helper of theirs.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
STACK := deploy/local/stack
# Starts the local stack unless ES_URL and MONGO_URL already point somewhere; stops it afterwards
# only if this command started it (KEEP_STACK=1 leaves it running for the next command).
WITH_STACK := source deploy/with-stack.sh &&

.PHONY: venv run test test-slow test-tools bench lint unit integration stack-up stack-down clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock requirements-dev.lock
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy

unit: venv
	$(PY) -m pytest -q tests/unit

integration: venv test-tools
	$(WITH_STACK) $(PY) -m pytest -q tests/integration tests/deploy

test: lint test-tools
	$(WITH_STACK) $(PY) -m pytest -q -rs tests

# What the tests need beyond the venv and the stack, installed when missing (as root; otherwise one line says what to
# install): nginx (the routing tests), promtool (the alerts' unit tests), helm (the chart's checks, built from the Go
# module proxy into the cache once) and the Gateway API CRDs (the HTTPRoute's check): see deploy/test-tools.
test-tools:
	deploy/test-tools >/dev/null

test-slow: venv
	$(WITH_STACK) $(PY) -m pytest -q -rs -m slow tests

# wrk (Debian's package) loads the lookup benchmark; installed here when missing and apt can (root).
bench: venv
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -q wrk >/dev/null; } || \
		{ echo "make bench: wrk is missing and apt-get install wrk needs root here: install it, then run again" >&2; exit 2; }
	$(WITH_STACK) $(PY) -m benchmarks.lookup --visitors 100000 \
		&& $(PY) -m benchmarks.regex_baseline --visitors 100000 && $(PY) -m benchmarks.chart \
		&& $(PY) -m benchmarks.backfill --visitors 100000 && $(PY) -m benchmarks.freshness --visitors 100000 \
		&& $(PY) -m benchmarks.contacts --contacts 1000000 --rocketchat-sizes 10000,100000 --requests 30 \
		&& $(PY) -m benchmarks.visitors --visitors 1000000 --rocketchat-sizes 10000,100000 --requests 30

run: venv
	KEEP_STACK=1 $(WITH_STACK) PORT=$(PORT) PYTHON=$(PY) deploy/demo/run

stack-up:
	$(STACK) up

stack-down:
	$(STACK) down

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
