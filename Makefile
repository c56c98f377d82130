# The two commands: `make book` builds the HTML book, `make test` runs the whole suite.
# Both set up everything they need on a fresh machine (Python 3.11 and npm on PATH).
SHELL  := /bin/bash
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# JAX's persistent compilation cache for notebook kernels (one folder per machine kind, .jax_cache/)
JAX_CACHE_ENV = JAX_COMPILATION_CACHE_DIR=$$($(BIN)/python tools/jax_cache.py) \
  JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0 JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES=0

.PHONY: book test test-fast execute bench assets assignments chromium tex repository notebooks pdf requirements clean distclean

## book: create .venv, install the pinned stack and mfutils, build the HTML book (zero warnings);
## first validates the `repository:` setting of _config.yml and syncs what derives from it
book: $(STAMP) assets repository
	$(BIN)/jupyter-book clean .
	$(BIN)/jupyter-book build -W -n --keep-going .
	@echo
	@echo "The book is at $(CURDIR)/_build/html/index.html"

## test: the same set-up plus Debian's chromium and TeX, then the whole suite (unit, nbval, figures,
## build, pages, reader copies, the Binder replay, the PDF)
test: $(STAMP) assets chromium tex
	$(BIN)/python -m pytest

## test-fast: the unit tests, doctests and lint, without notebooks, coursework or the book (about a minute)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not book" tests mfutils

## execute: re-execute every chapter notebook in place (the authoring loop); no timing metadata and
## no widget state are stored, so a re-execution changes only what the notebook computes
NOTEBOOKS ?= chapters/*.ipynb
execute: $(STAMP)
	$(JAX_CACHE_ENV) $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.record_timing=False $(NOTEBOOKS)
	$(BIN)/python tools/strip_timing.py $(NOTEBOOKS)

## assignments: student notebooks and autograders from assignments/*.ipynb (otter-grader, no Docker);
## fails if a solution fails its own tests or a student version leaks a solution
## (ASSIGNMENTS_FLAGS=--no-run-tests skips otter's own run of the tests, as the suite does before it
## grades every solution with its autograder)
ASSIGNMENTS_OUT ?= assignments/dist
assignments: $(STAMP)
	$(BIN)/python tools/assignments.py --out $(ASSIGNMENTS_OUT) $(ASSIGNMENTS_FLAGS)

## bench: the benchmarks in benchmarks/, each printing its figures: the velocity step (ns per pair,
## GFLOP/s against the machine's sgemm, memory against N), online SGD steps/s, and each notebook
## from a clean kernel, cold and warm compilation cache (targets: under 60 s, under 700 MB)
bench: $(STAMP)
	$(BIN)/python benchmarks/velocity.py
	$(BIN)/python benchmarks/sgd.py
	$(BIN)/python benchmarks/notebooks.py

## repository: validate the `repository:` setting and rewrite the files derived from it
repository: $(STAMP)
	$(BIN)/python tools/repository.py sync

## notebooks: reader copies of the chapters (plain Markdown, the book's numbers), published with
## the site in _build/html/notebooks/ (Colab opens these)
notebooks: book
	$(BIN)/python tools/reader_notebooks.py --html _build/html

## pdf: the whole book as one PDF through LaTeX, at _build/latex/book.pdf, also copied into the site
pdf: $(STAMP) repository tex
	rm -rf _build/latex
	$(BIN)/jupyter-book build --builder pdflatex .
	@if [ -d _build/html ]; then cp _build/latex/book.pdf _build/html/book.pdf; fi
	@echo "The PDF is at $(CURDIR)/_build/latex/book.pdf"

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

## assets: MathJax 3 (the TeX-to-CHTML component and what it loads), pinned and verified, served with the book
assets: $(STAMP)
	$(BIN)/python tools/web_assets.py

## tex: Debian's TeX (XeLaTeX, which Jupyter Book's PDF builder uses) and poppler's pdftotext, where missing
TEX_PACKAGES := texlive-latex-recommended texlive-fonts-recommended texlive-latex-extra texlive-xetex \
  tex-gyre fonts-freefont-otf xindy latexmk poppler-utils
tex:
	@command -v xelatex >/dev/null 2>&1 && command -v latexmk >/dev/null 2>&1 && \
	  command -v pdftotext >/dev/null 2>&1 || { \
	  echo "Installing Debian's TeX packages for the PDF (about two minutes)"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q \
	    --no-install-recommends $(TEX_PACKAGES); }

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the page tests"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q chromium; }

## requirements: resolve requirements.in and requirements-dev.in together (one consistent set), then
## write requirements.txt (the reader's kernel: exact pins of requirements.in and all it needs) and
## requirements-dev.txt (-r requirements.txt plus the book, test and build stack)
RESOLVE := /tmp/mfbook-resolve
requirements:
	rm -rf $(RESOLVE) && mkdir -p $(RESOLVE)
	$(PYTHON) -m venv $(RESOLVE)/all && $(PYTHON) -m venv $(RESOLVE)/reader
	$(RESOLVE)/all/bin/pip install --quiet -r requirements.in -r requirements-dev.in
	$(RESOLVE)/all/bin/pip freeze --exclude-editable > $(RESOLVE)/all.txt
	$(RESOLVE)/reader/bin/pip install --quiet -r requirements.in -c $(RESOLVE)/all.txt
	{ echo "# The reader's environment: exact pins of everything, generated by \`make requirements\` from"; \
	  echo "# requirements.in. Do not edit by hand. Python 3.11 (runtime.txt). Binder and Colab read this file."; \
	  $(RESOLVE)/reader/bin/pip freeze --exclude-editable; } > requirements.txt
	{ echo "# The book, test and build stack on top of the reader's environment, generated by"; \
	  echo "# \`make requirements\` from requirements-dev.in. Do not edit by hand."; \
	  echo "-r requirements.txt"; \
	  grep -v -x -F -f requirements.txt $(RESOLVE)/all.txt; } > requirements-dev.txt

clean:
	rm -rf _build _assets .cache .jax_cache

distclean: clean
	rm -rf $(VENV)
