# The README's two commands:  `make demo` (the main job) and `make test` (the tests).
# Each works from a fresh clone: it creates .venv, installs the package and its dependencies,
# installs Fashion-MNIST if it is missing, then runs. Re-running is idempotent.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.contrastlens-installed

.PHONY: demo test test-fast install data browser lint format bench gpu-smoke docs package-check

demo: $(STAMP) data
	$(BIN)/contrastlens reproduce --preset quick

test: $(STAMP) data browser
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
# LibAUC (the SogCLR tests' reference, loaded by path) without its dependencies: the dev extra
# would pull its heavy ones. The recipe re-runs when this file or pyproject.toml changes.
$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check "torch>=2.4" "torchvision>=0.19"
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]"
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps libauc==2.0.1
	touch $(STAMP)

# Fashion-MNIST: already verified -> nothing; else apt (Debian package, when root with apt);
# else contrastlens' own fetch (torchvision's downloader into the data root).
# WordNet 3.0 (the text study's data): Debian's wordnet-base when root with apt; optional.
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

# Chromium (renders the inspect report in tests/inspect/test_html_chromium.py), for the tests
# only: Debian's chromium when root with apt; optional (the browser test skips without it).
browser:
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

# One GPU, a few minutes: the CUDA paths end to end (benchmarks/gpu_smoke.py); not part of test.
# OUT=... picks the folder (it must be new); add ARGS=--cpu for the tiny CPU version.
OUT ?= results/gpu-smoke
gpu-smoke: $(STAMP)
	$(BIN)/python benchmarks/gpu_smoke.py $(OUT) $(ARGS)

# The documentation site (mkdocs.yml, docs/) into site/, warnings as errors: a broken link or
# anchor, a page left out of the navigation or a `:::` reference to nothing fails. No network.
# (`make test` builds it too: tests/test_docs.py.)
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# The package as a user gets it, in build/package-check/ (about 20 s):
# 1. the sdist, then the wheel built from the sdist in an isolated build environment (pip takes
#    setuptools from PyPI or its cache), and `twine check --strict` on both;
# 2. the wheel installed by pip from no index into a fresh virtual environment without pip or
#    packages of its own, which sees this .venv's site-packages through a .pth file: pip resolves
#    the wheel's declared dependencies against them (a missing one fails; nothing is downloaded,
#    so no CUDA torch arrives), and .venv's editable contrastlens stays out of reach (a .pth file
#    in a folder named by a .pth file is not run), so what runs is the wheel;
# 3. the wheel's modules are those of src/contrastlens; `contrastlens --version` prints the
#    wheel's version; `contrastlens --help`, a theory command (torch) and `import contrastlens`
#    work from the installed wheel, outside the source tree, without PYTHONPATH.
PKG := build/package-check
IN_PKG := cd $(PKG) && env -u PYTHONPATH
package-check: $(STAMP)
	rm -rf $(PKG) && mkdir -p $(PKG)
	$(BIN)/python -m build --outdir $(PKG)/dist . > $(PKG)/build.log 2>&1 \
		|| { tail -40 $(PKG)/build.log; exit 1; }
	$(BIN)/twine check --strict $(PKG)/dist/*
	$(BIN)/python -m venv --without-pip $(PKG)/venv
	$(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))' \
		> "$$($(PKG)/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/project-venv.pth"
	$(IN_PKG) venv/bin/python -m pip install -q --no-index --disable-pip-version-check dist/*.whl
	diff <(cd src && find contrastlens -name '*.py' | sort) \
		<(cd $(PKG)/venv/lib/python3*/site-packages && find contrastlens -name '*.py' | sort)
	$(IN_PKG) venv/bin/python -c 'import contrastlens, importlib.metadata as m, pathlib, sys; \
		where = pathlib.Path(contrastlens.__file__).resolve(); print(where, file=sys.stderr); \
		assert where.is_relative_to(pathlib.Path(sys.prefix).resolve()), "not the wheel"; \
		assert contrastlens.__version__ == m.version("contrastlens"); print(m.version("contrastlens"))' \
		> version
	$(IN_PKG) venv/bin/contrastlens --version | grep -qxF "contrastlens $$(cat version)"
	$(IN_PKG) venv/bin/contrastlens --help > /dev/null
	$(IN_PKG) venv/bin/contrastlens theory optimum --n 50000
	@echo "package-check: passed ($$(cd $(PKG)/dist && echo *))"
