# Every target sets up what it needs: a fresh clone only needs `make test` or `make demo`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
UV_VERSION = 0.13.8
CONSTRAINTS ?= constraints/airflow-3.txt
BIN = $(VENV)/bin
STAMP = $(VENV)/.installed-$(notdir $(CONSTRAINTS))

.PHONY: venv lint typecheck test test-fast demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c $(CONSTRAINTS) -e ".[dev]"
	rm -f $(VENV)/.installed-*
	touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check taqnyat_provider tests example_dags tools

typecheck: venv
	$(BIN)/mypy

test: lint typecheck
	$(BIN)/python -m pytest -p no:cacheprovider -q

test-fast: venv
	$(BIN)/python -m pytest -p no:cacheprovider -q tests/unit

demo: venv
	$(BIN)/python tools/demo.py

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .hypothesis
