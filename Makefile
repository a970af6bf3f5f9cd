# The README's two commands:  `make demo` (the main job) and `make test` (the tests).
# Each works from a fresh clone: it creates .venv, installs the package and its dependencies,
# installs Fashion-MNIST if it is missing, then runs. Re-running is idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.contrastlens-installed

.PHONY: demo test test-fast install data lint format bench

demo: $(STAMP) data
	$(BIN)/contrastlens reproduce --preset quick

test: $(STAMP) data
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

# The inner loop: everything but the slow and integration tests (tests/conftest.py), <= 60 s.
test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -m "not slow and not integration"

install: $(STAMP)

# torch/torchvision first, on their own, so that pip takes the releases this machine already has
# (any torch>=2.4 works; see pyproject.toml), then the package in editable mode with the dev extra.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "torch>=2.4" "torchvision>=0.19"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

# Fashion-MNIST: already verified -> nothing; else apt (Debian package, when root with apt);
# else contrastlens' own fetch (torchvision's downloader into the data root).
# WordNet 3.0 (the text study's data): Debian's wordnet-base when root with apt; optional.
# Chromium (renders the inspect report in tests/inspect/test_html_chromium.py): Debian's
# chromium when root with apt; optional.
data: $(STAMP)
	@if $(BIN)/contrastlens data verify fashion-mnist >/dev/null 2>&1; then \
		echo "fashion-mnist: present and verified"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist \
		&& $(BIN)/contrastlens data verify fashion-mnist; \
	else \
		$(BIN)/contrastlens data fetch fashion-mnist; \
	fi
	@if $(BIN)/contrastlens data verify wordnet >/dev/null 2>&1; then \
		echo "wordnet: present and verified"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends wordnet-base) \
		|| echo "wordnet-base could not be installed: the WordNet tests will skip"; \
	else \
		echo "wordnet: not installed (sudo apt-get install wordnet-base); its tests will skip"; \
	fi
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: present (the inspect report's browser test)"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "chromium could not be installed: the inspect report's browser test will skip"; \
	else \
		echo "chromium: not installed (sudo apt-get install chromium); the browser test will skip"; \
	fi

lint:
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

bench: $(STAMP)
	$(BIN)/python benchmarks/losses.py
	$(BIN)/python benchmarks/similarity.py
