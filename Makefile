# Test-Time Compute Scaling: build the book and run the tests.
#
#   make book    build the HTML book into _build/html (creates .venv on first use)
#   make test    ruff, then pytest tests/, then every notebook in book/ under nbval
#   make env     only create / update .venv
#   make clean   remove the built book and caches (keeps .venv); `make distclean` also removes .venv
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

.PHONY: help env book test lint clean distclean

help:
	@echo "make book   build the HTML book into _build/html"
	@echo "make test   ruff + pytest tests/ + nbval over book/*.ipynb"
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
	$(BIN)/ruff check tsc tests

# Each step stops the run on failure. nbval exits 5 when book/ holds no notebook yet;
# that alone is not a failure.
test: $(STAMP)
	$(BIN)/ruff check tsc tests
	$(BIN)/pytest tests
	rc=0; $(BIN)/pytest $(NBVAL_FLAGS) book/ || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "no notebooks collected in book/"; rc=0; fi; \
	exit $$rc

clean:
	rm -rf _build .pytest_cache .ruff_cache .hypothesis .jupyter_cache
	find . -path ./$(VENV) -prune -o \( -name __pycache__ -o -name .ipynb_checkpoints \) -type d -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV) *.egg-info
