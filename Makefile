# Two commands on a fresh machine:  `make demo` (install + data + catalog + app)  and  `make test`.
PY ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: install demo serve test lint e2e-deps clean-data

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	# torch first, so that no other package pulls a CUDA build
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Browser tests need Debian's chromium (Playwright drives it; no browser download).
e2e-deps:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

demo: install
	$(BIN)/sentinelle data fetch
	$(BIN)/sentinelle demo-catalog
	$(BIN)/sentinelle index
	$(BIN)/sentinelle serve    # fits the change heads in the background (zero-shot answers until then)

serve: install
	$(BIN)/sentinelle serve

# lint-imports: the layering contracts of pyproject.toml [tool.importlinter] (docs/architecture.md).
test: install e2e-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q tests

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean-data:
	rm -rf data
