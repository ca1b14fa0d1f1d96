# `make demo` / `make test` create or refresh .venv first; a second run installs
# nothing. Three levels of set-up (tools/install_deps.sh, docs/setup.md):
#   setup       the main job (training, extraction, evaluation): mmcv-lite, wheels
#               only, never compiles.
#   setup-dev   + mmsegmentation and the test tools, wheels only, never compiles:
#               what `make test` and `make demo` need (mmseg runs on mmcv-lite through
#               mosic_mm/compat_mmcv_ext.py; compiled mmcv ops raise when called).
#   setup-full  setup-dev with full mmcv (compiled ops) instead of mmcv-lite, from a
#               prebuilt wheel ($MMCV_WHEEL_DIR, ../shared/wheels) or built once
#               from source. The test suite passes on it too.
#   setup-lite  switch a full venv back to mmcv-lite.
VENV := .venv
PY := $(VENV)/bin/python
CORE := $(VENV)/.installed-core
DEV := $(VENV)/.installed-dev
FULL := $(VENV)/.installed-full
DEPS := requirements.txt requirements/mmcv-lite.txt setup.py tools/install_deps.sh
DEV_DEPS := $(DEPS) requirements/seg.txt requirements/tests.txt
FULL_DEPS := $(DEV_DEPS) requirements/mmcv-full.txt

.PHONY: setup setup-dev setup-full setup-lite lint test test-fast demo reproduce-mini benchmarks clean
setup: $(CORE)
setup-dev: $(DEV)
setup-full: $(FULL)

$(CORE): $(DEPS)
	bash tools/install_deps.sh --core $(VENV)
	touch $@

# A dev set-up also satisfies the core one, a full set-up both.
$(DEV): $(DEV_DEPS)
	bash tools/install_deps.sh --dev $(VENV)
	touch $(CORE) $@

$(FULL): $(FULL_DEPS)
	bash tools/install_deps.sh --full $(VENV)
	touch $(CORE) $(DEV) $@

setup-lite:
	bash tools/install_deps.sh --lite $(VENV)
	touch $(CORE)

# Lint first (seconds): ruff (pyflakes, pycodestyle, import order) and the
# layer contracts of pyproject.toml (import-linter). Then the suite of the
# package and of the lab (tests/, tools/lab/tests/, in random order:
# pytest-randomly prints its seed); the slow tests run by default, on
# TEST_WORKERS pytest-xdist processes (whole files each: 2 cores run the
# suite in ~15 min instead of ~20, as most slow tests wait on subprocesses).
TEST_WORKERS ?= 2
lint: $(DEV)
	$(VENV)/bin/ruff check mosic_mm tools tests conftest.py
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest --runslow -n $(TEST_WORKERS) --dist loadfile

# No multi-process, subprocess or long tests (< 5 min on 2 cores).
test-fast: lint
	$(PY) -m pytest

# The demo's table includes the linear probe (an mmseg config): setup-dev.
demo: $(DEV)
	bash tools/demo.sh

# image-SSL start | +image SSL | +MoSiC static | +MoSiC (docs/mini_reproduction.md)
reproduce-mini: $(CORE)
	$(PY) tools/lab/reproduce_mini.py

benchmarks: $(CORE)
	bash tools/lab/benchmark_docs.sh

clean:
	rm -rf $(VENV) .cache work_dirs
