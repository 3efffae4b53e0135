# One entry point per task; every target bootstraps the venv it needs on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv start test test-full lint bench package deploy test-deploy test-azure clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

local.settings.json:
	cp local.settings.json.example local.settings.json

## Run this repo's app on http://127.0.0.1:7071 with the embedded SQLite store (.durable/).
start: $(STAMP) local.settings.json
	$(VENV)/bin/durable-local start --app-dir . --port 7071 --store sqlite --data-dir .durable

## ruff, then mypy (settings in pyproject.toml [tool.mypy]: engine and store strict)
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy durable_local

## The whole suite as CI runs it: ruff and mypy, then pytest without the long `slow` tests.
test: lint
	$(PY) -m pytest -q -m "not slow"

## Everything, including the long chaos/fuzz runs.
test-full: lint
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	$(PY) -m bench $(ARGS)

package: $(STAMP)
	$(PY) scripts/package.py --out dist/app.zip

## Deploy to Azure with the plain az CLI; pass options in ARGS, e.g. make deploy ARGS="--location swedencentral -g rg-orders"
deploy: $(STAMP)
	PYTHON=$(PY) scripts/deploy.sh $(ARGS)

## Only the offline deployment checks (templates, deploy.sh against a fake az, the package in a fresh venv)
test-deploy: $(STAMP)
	$(PY) -m pytest -q tests/deploy

## The store conformance suite and the app's end-to-end suite on Azurite as well
test-azure: $(STAMP)
	DURABLE_STORE_BACKENDS=memory,sqlite,azure $(PY) -m pytest -q tests/store tests/azure tests/e2e

clean:
	rm -rf .durable dist build *.egg-info .pytest_cache .ruff_cache
