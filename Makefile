# Carthouse: `make run` starts the embedded stack, `make test` runs the test suite.
PY      := .venv/bin/python
PIP     := .venv/bin/pip
SITE     = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
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
	mkdir -p build carthouse/v1
	$(PY) -m grpc_tools.protoc -Iprotos -I$(SITE) -I$(SITE)/grpc_tools/_proto \
		--python_out=. --pyi_out=. --grpc_python_out=. \
		--descriptor_set_out=build/carthouse.pb --include_imports --include_source_info \
		$(PROTOS)
	touch carthouse/v1/__init__.py

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
