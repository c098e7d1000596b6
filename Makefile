# Every target sets up what it needs: a fresh clone only needs `make test` or `make demo`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION = 0.13.8
PYTEST_ARGS ?= -p no:cacheprovider -q

# Airflow 3 (latest) is the main environment; Airflow 2.11 (oldest supported) runs the same suite.
VENV ?= .venv
CONSTRAINTS ?= constraints/airflow-3.txt
VENV_AF2 ?= .venv-airflow2
CONSTRAINTS_AF2 ?= constraints/airflow-2.txt
BIN = $(VENV)/bin
BIN_AF2 = $(VENV_AF2)/bin

.PHONY: venv venv-airflow2 lint typecheck docs bench bench-short test test-airflow3 test-airflow2 test-e2e test-e2e-celery test-chaos test-ui test-fast demo clean

# $(1): venv folder, $(2): constraints file, $(3): dependency groups (pyproject's [dependency-groups])
define make_venv
	test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(1)/bin/uv pip install --python $(1)/bin/python --quiet -c $(2) -e . $(foreach group,$(3),--group $(group))
	rm -f $(1)/.installed-*
	touch $(1)/.installed-$(notdir $(2))
endef

venv: $(VENV)/.installed-$(notdir $(CONSTRAINTS))
$(VENV)/.installed-$(notdir $(CONSTRAINTS)): pyproject.toml $(CONSTRAINTS)
	$(call make_venv,$(VENV),$(CONSTRAINTS),dev docs)

venv-airflow2: $(VENV_AF2)/.installed-$(notdir $(CONSTRAINTS_AF2))
$(VENV_AF2)/.installed-$(notdir $(CONSTRAINTS_AF2)): pyproject.toml $(CONSTRAINTS_AF2)
	$(call make_venv,$(VENV_AF2),$(CONSTRAINTS_AF2),dev)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check taqnyat_provider tests example_dags tools benchmarks docs/conf.py

typecheck: venv
	$(BIN)/mypy

# Sphinx, warnings as errors; the HTML lands in docs/_build/html.
docs: venv
	rm -rf docs/_build docs/_generated
	$(BIN)/python -m sphinx -W --keep-going -b html -q docs docs/_build/html

test-airflow3: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-airflow2: venv-airflow2
	$(BIN_AF2)/python -m pytest $(PYTEST_ARGS)

# A real Airflow 3 deployment (scheduler, dag-processor, triggerer, api-server) on PostgreSQL,
# installed from Debian's packages when missing: the example DAGs, a worker SIGKILLed mid-send and its
# retry, a missed deadline, quiet hours. About 2 to 3 minutes, bounded at 10.
test-e2e: venv
	timeout 600 $(BIN)/python tools/e2e.py

# The connection form, a voice task's log and its XCom in headless Chromium (Debian's, installed when
# missing) against an Airflow 3 api-server and the sandbox; regenerates the screenshots in docs/images/.
# About 2 minutes.
test-ui: venv
	timeout 600 $(BIN)/python tools/ui_test.py

# The same on a distributed Airflow: CeleryExecutor with Redis (from Debian's packages when missing)
# and two workers, a burst of mapped sends against the sandbox's rate limit; about 3 minutes, bounded at 10.
test-e2e-celery: venv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c $(CONSTRAINTS) -e ".[celery]"
	timeout 600 $(BIN)/python tools/e2e_celery.py

# Chaos on that deployment: 60 mapped voice and SMS sends while Celery workers are SIGKILLed, the
# api-server, PostgreSQL and Redis restarted and the sandbox answers 429, 503, drops and hangs; prints
# `chaos: seed S, ... duplicates 0, unaccounted 0, time T s`. About 5 minutes, bounded at 10;
# CHAOS_SEED picks the fault schedule, CHAOS_SECONDS runs the chaos longer (the bound grows with it).
test-chaos: venv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c $(CONSTRAINTS) -e ".[celery]"
	timeout $$((450 + $${CHAOS_SECONDS:-150})) $(BIN)/python tools/chaos.py

# Side-by-side benchmarks; `bench` rewrites docs/performance.md and its plots (about 12 minutes; its
# DAG runs use both venvs), `bench-short` (in `test`, about 2.5 minutes; Airflow 3 only) keeps them
# alive and draws the plots in a scratch folder.
bench: venv venv-airflow2
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c $(CONSTRAINTS) -e . --group bench
	$(BIN)/python benchmarks/run.py --write

bench-short: venv
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c $(CONSTRAINTS) -e . --group bench
	$(BIN)/python benchmarks/run.py --short

.PHONY: dist test-floors test-python test-dist test-docs

# The wheel and the sdist in dist/; uv builds the sdist first and the wheel from it, so a file the
# sdist leaves out is missing from the wheel too.
dist: venv
	rm -rf dist
	$(BIN)/uv build --quiet --out-dir dist

# The wheel with the lowest versions it declares (uv's lowest-direct), in fresh venvs on the lowest
# Python: everything at its floor (Airflow 2.11.0), then Airflow 3.3 with the provider's requirements at
# theirs; unit tests and DAG runs in each. About 2 minutes.
test-floors: dist
	timeout 900 $(BIN)/python tools/test_matrix.py floors

# The wheel on the Pythons above the floor, up to the newest Airflow 3.3's constraints install on here
# (3.12, 3.13), with those constraints; same tests. About 2.5 minutes.
test-python: dist
	timeout 600 $(BIN)/python tools/test_matrix.py python

# The wheel and sdist carry LICENSE and the metadata; the wheel alone, in a clean venv with Airflow 3's
# constraints, is listed by `airflow providers list` with its version, runs `taqnyat-sandbox` and passes
# `airflow connections test` against it. About 1 minute.
test-dist: dist
	timeout 600 $(BIN)/python tools/test_dist.py

# The README's quickstart and the docs' blocks marked runnable, verbatim, in a fresh venv (Airflow from
# Airflow 3's constraints, then the wheel) with an empty home, against the sandbox; tools/test_docs.py
# says how to mark a block. About 2 to 3 minutes.
test-docs: dist
	timeout 900 $(BIN)/python tools/test_docs.py

# The README's test command: lint, types, docs, the suite on Airflow 3.x and on 2.11, the deployments
# (LocalExecutor, Celery, chaos), the browser, the benchmarks in short, the wheel on its floors and
# other Pythons, and the README and docs run as written. About 25 minutes on 2 cores.
test: lint typecheck docs test-airflow3 test-airflow2 test-e2e test-e2e-celery test-chaos test-ui bench-short test-floors test-python test-dist test-docs

test-fast: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS) tests/core

demo: venv
	$(BIN)/python tools/demo.py

clean:
	rm -rf $(VENV) $(VENV_AF2) .venv-matrix dist .demo .mypy_cache .ruff_cache .hypothesis docs/_build docs/_generated
