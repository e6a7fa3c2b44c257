# Carthouse: `make run` starts the embedded stack, `make test` runs the test suite.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
PROTOS  := $(wildcard protos/carthouse/v1/*.proto)
STAMP   := .venv/.installed

.PHONY: setup gen run test lint release-contract cluster-schema bench clean

# npm packages (buf; esbuild for the tracker; uPlot for the dashboard), pinned by package-lock.json.
NPM_STAMP := node_modules/.package-lock.json
BUF       := node_modules/.bin/buf
IMAGE     := build/carthouse.pb\#format=binpb
RELEASED  := protos/released/carthouse-v1.binpb
AGAINST   := $(RELEASED)\#format=binpb

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

TRACKER   := build/sdk/carthouse.js

setup: $(STAMP) build/carthouse.pb $(NPM_STAMP) $(TRACKER)

$(STAMP): pyproject.toml sdk/python/pyproject.toml
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]' -e sdk/python
	touch $(STAMP)

# Python modules, .pyi stubs and the descriptor set are build outputs of protos/, never edited.
build/carthouse.pb: $(PROTOS) $(STAMP)
	scripts/gen-protos $(PY)

gen: build/carthouse.pb

# The browser tracker (sdk/js), minified into the one file the gateway serves at /sdk/carthouse.js.
$(TRACKER): $(wildcard sdk/js/src/*.js) $(NPM_STAMP)
	npm run --silent build:tracker

run: setup
	.venv/bin/carthouse run

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

# ruff; the layering contracts (pyproject.toml, import-linter); buf lint of the protos; buf breaking against the
# released contract, so that a change that would break clients fails here.
lint: setup
	.venv/bin/ruff check .
	.venv/bin/lint-imports
	$(BUF) lint "$(IMAGE)" --config protos/buf.yaml --path carthouse/v1
	$(BUF) breaking "$(IMAGE)" --against "$(AGAINST)" --config protos/buf.yaml \
		--against-config protos/buf.yaml --path carthouse/v1

# At a release, on purpose: the current contract becomes the one later changes must not break.
release-contract: gen
	cp build/carthouse.pb $(RELEASED)

# The schema in cluster form (CARTHOUSE_CLICKHOUSE_CLUSTER), regenerated from the migrations after changing one;
# a test fails until it is.
cluster-schema: setup
	$(PY) -m carthouse.store.cluster > carthouse/store/cluster_schema.sql

bench: setup
	$(PY) bench/ingest_grpc.py

clean:
	rm -rf build carthouse/v1 .pytest_cache
