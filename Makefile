# Carthouse: `make run` starts the embedded stack, `make test` runs the test suite.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
PROTOS  := $(wildcard protos/carthouse/v1/*.proto)
STAMP   := .venv/.installed

.PHONY: setup gen run test lint bench clean

setup: $(STAMP) build/carthouse.pb

$(STAMP): pyproject.toml
	python3 -m venv .venv
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

# Python modules, .pyi stubs and the descriptor set are build outputs of protos/, never edited.
build/carthouse.pb: $(PROTOS) $(STAMP)
	scripts/gen-protos $(PY)

gen: build/carthouse.pb

run: setup
	.venv/bin/carthouse run

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .

bench: setup
	$(PY) bench/ingest_grpc.py

clean:
	rm -rf build carthouse/v1 .pytest_cache
