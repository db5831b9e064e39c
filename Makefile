# Test-Time Compute Scaling: build the book and run the tests.
#
#   make book        build the HTML book into _build/html (creates .venv on first use)
#   make test        everything CI checks: ruff (lint and format); mypy; pytest tests/; every chapter, its exercises solved,
#                    under nbval; the book built (-W) as readers get it; its PDF; the HTML and PDF checked
#   make solutions   write the chapters with every exercise solved into _build/solutions
#   make check-html  open every built page in headless Chromium (after make book)
#   make pdf         print the built book into one PDF, _build/html/test-time-compute-scaling.pdf (after make book)
#   make colab       the chapters as Colab renders them, into _build/colab (after make book)
#   make test-latest the wheel in a fresh environment with the newest versions its bounds allow (as
#                    Colab's preinstalled packages would be), and the solved chapters run there
#   make env         only create / update .venv
#   make clean       remove the built book and caches (keeps .venv); `make distclean` also removes .venv
#
# The environment is rebuilt whenever requirements.txt or pyproject.toml change: the stamp
# file in .venv is named after their hash.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
ENV_HASH := $(shell cat requirements.txt pyproject.toml | sha256sum | cut -c1-16)
STAMP  := $(VENV)/.tsc-env-$(ENV_HASH)

# `make book JBFLAGS=` builds without treating warnings as errors.
JBFLAGS ?= -W --keep-going
NBVAL_FLAGS ?= --nbval-lax --nbval-current-env --nbval-cell-timeout=300

# The book and the tests run offline: the models they use ship in tsc/assets.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
# Kernels are looked up in .venv before ~/.local/share/jupyter.
export JUPYTER_PREFER_ENV_PATH := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# Hidden checks of live timings and exact seeded counts (tsc.notebook.expect) are fatal here
# and under CI; in a reader's Jupyter or Colab they only warn.
export TSC_STRICT ?= 1

.PHONY: help env book test test-latest lint solutions nbval check-html pdf chromium colab clean distclean

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make test   ruff + mypy + pytest tests/ + nbval over the solved chapters + make book + make pdf + make check-html"
	@echo "make solutions / check-html / pdf / colab   solved chapters / the HTML in a browser / the PDF / Colab notebooks"
	@echo "make test-latest   the wheel with the newest dependencies its bounds allow, and the chapters run there"
	@echo "make env    create or update $(VENV) only"
	@echo "make clean  remove _build and caches (distclean also removes $(VENV))"

env: $(STAMP)

$(STAMP):
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 (or run make PYTHON=/path/to/python3.11)"; exit 1; }
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); }
	rm -f $(VENV)/.tsc-env-*
	$(BIN)/python -m pip install --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --disable-pip-version-check -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (tsc)"
	touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build $(JBFLAGS) .
	@echo "open _build/html/index.html"

lint: $(STAMP)
	$(BIN)/ruff check tsc tests benchmarks
	$(BIN)/ruff format --check tsc tests benchmarks

# Each step stops the run on failure. The chapters run twice: under nbval with every exercise
# solved (so each reference solution must grade correct), and in the book build as readers
# get them (placeholders; a cell that raises fails the build). The two run side by side, one
# thread each, so both cores stay busy (a model this small gains little from a second thread);
# each one's log is printed whole when it ends.
test: $(STAMP)
	$(BIN)/ruff check tsc tests benchmarks
	$(BIN)/ruff format --check tsc tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest --durations=10 tests
	OMP_NUM_THREADS=1 $(MAKE) --no-print-directory -j2 --output-sync=target nbval book
	$(MAKE) --no-print-directory pdf check-html

solutions: $(STAMP)
	$(BIN)/python -m tsc solutions --out _build/solutions

# nbval exits 5 when there is no notebook; that alone is not a failure
nbval: solutions
	rc=0; $(BIN)/pytest $(NBVAL_FLAGS) -p no:cacheprovider _build/solutions || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no notebooks collected"; rc=0; fi; \
	exit $$rc

chromium:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		echo "installing headless Chromium (Debian's chromium and chromium-driver)"; \
		apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; }

check-html: $(STAMP) chromium
	@test -f _build/html/index.html || { echo "error: no built book in _build/html: run make book first"; exit 1; }
	TSC_CHECK_HTML=1 $(BIN)/pytest -p no:cacheprovider tests/html
	@echo "screenshots of every page: _build/screenshots"

# The whole book as one PDF, printed by the same headless Chromium (tests/html checks it).
pdf: $(STAMP) chromium
	@test -f _build/html/index.html || { echo "error: no built book in _build/html: run make book first"; exit 1; }
	$(BIN)/python -m tsc pdf --html _build/html --out _build/html/test-time-compute-scaling.pdf

# What Colab does, with tomorrow's packages: the wheel (not the checkout) installed into a fresh
# environment with the newest versions pyproject.toml's bounds allow, no myst-nb (Colab has none),
# and every solved chapter run from outside the repository under nbval, as a reader runs it
# (TSC_STRICT=0: checks of exact seeded counts warn). Prints the versions that differ from
# requirements.txt. Not part of `make test`: it downloads the newest torch (CUDA build, ~3 GB).
# A constraints file in pip's configuration (a machine-wide cap on torch, say) would hold the
# newest versions back without a word: the fresh environment's pip reads LATEST_CONSTRAINTS
# instead (none; `make test-latest LATEST_CONSTRAINTS=c.txt` to test under a cap on purpose).
LATEST := _build/latest
LATEST_CONSTRAINTS ?= /dev/null
test-latest: solutions
	rm -rf $(LATEST) && mkdir -p $(LATEST)/chapters
	$(PYTHON) -m venv $(LATEST)/venv
	mkdir -p $(LATEST)/src && tar -c --exclude=./.venv --exclude=./_build --exclude=./runs --exclude=./.git --exclude=./build . \
		| tar -x -C $(LATEST)/src  # built from a copy: setuptools writes build/ beside the sources
	$(BIN)/python -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation -w $(LATEST)/dist $(LATEST)/src
	PIP_CONSTRAINT=$(LATEST_CONSTRAINTS) $(LATEST)/venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
	PIP_CONSTRAINT=$(LATEST_CONSTRAINTS) $(LATEST)/venv/bin/python -m pip install --disable-pip-version-check -q --upgrade --upgrade-strategy eager \
		$(LATEST)/dist/tsc-*.whl pytest nbval ipykernel
	$(LATEST)/venv/bin/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	$(LATEST)/venv/bin/python tests/newest_versions.py requirements.txt | tee $(LATEST)/versions.txt
	cp _build/solutions/[0-9]*.ipynb $(LATEST)/chapters/
	printf '[pytest]\n' > $(LATEST)/chapters/pytest.ini  # not the checkout's pyproject.toml settings
	cd $(LATEST)/chapters && TSC_STRICT=0 OMP_NUM_THREADS=1 ../venv/bin/pytest $(NBVAL_FLAGS) -p no:cacheprovider --durations=0 .

colab: $(STAMP)
	@test -d _build/jupyter_execute || { echo "error: build the book first (make book): its executed chapters hold the values"; exit 1; }
	$(BIN)/python -m tsc colab --out _build/colab/book

clean:
	rm -rf _build .pytest_cache .ruff_cache .mypy_cache .hypothesis .jupyter_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) *.egg-info
