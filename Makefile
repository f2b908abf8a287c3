# Every target bootstraps .venv from pyproject.toml when it is missing or stale.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JOBS ?= 2
# One BLAS/XLA thread per process: tests and examples are small, and oversubscribed threads
# on a 2-core machine make small factorisations up to 100x slower.
SINGLE_THREAD := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	XLA_FLAGS="--xla_cpu_multi_thread_eigen=false"

.PHONY: venv gallery test bench docs lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,docs,bench,dev]"
	@touch $(STAMP)

gallery: $(STAMP)
	$(SINGLE_THREAD) MPLBACKEND=Agg $(PY) tools/run_gallery.py

test: $(STAMP)
	$(SINGLE_THREAD) $(PY) -m pytest -n $(JOBS) --dist loadfile -q

# Each benchmark writes its current table into docs/benchmarks.md; BENCH_ARGS=--quick gives
# CI-sized runs (`make bench BENCH_ARGS=--quick`).
BENCH_ARGS ?=
bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(PY) $$f $(BENCH_ARGS) || exit 1; done

# Warnings are errors (-W), all of them reported (--keep-going), every page re-read (-E: an
# incremental build would not repeat the warnings of unchanged pages; examples whose source did
# not change are not re-run); then the built site is checked (every gallery page has a
# non-blank figure, no stray reprs, no broken internal links).
docs: $(STAMP)
	$(SINGLE_THREAD) MPLBACKEND=Agg $(VENV)/bin/sphinx-build -W --keep-going -E -b html docs docs/_build/html
	$(PY) tools/check_docs.py docs/_build/html

lint: $(STAMP)
	$(VENV)/bin/ruff check mixtures solvers tests examples benchmarks tools

clean:
	rm -rf $(VENV) docs/_build .pytest_cache
