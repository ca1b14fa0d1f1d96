# `make demo` / `make test` create or refresh .venv first; a second run installs
# nothing. Two levels of set-up (tools/install_deps.sh, docs/setup.md):
#   setup       the main job (training, extraction, evaluation): mmcv-lite, wheels
#               only, never compiles. `make demo` needs only this.
#   setup-full  + full mmcv (compiled ops), mmsegmentation, test tools: what imports
#               mmsegmentation and `make test` need. Full mmcv comes from a prebuilt
#               wheel ($MMCV_WHEEL_DIR, ../shared/wheels) or is built once from source.
#   setup-lite  switch a full venv back to mmcv-lite.
VENV := .venv
PY := $(VENV)/bin/python
CORE := $(VENV)/.installed-core
FULL := $(VENV)/.installed-full
DEPS := requirements.txt requirements/mmcv-lite.txt setup.py tools/install_deps.sh
FULL_DEPS := $(DEPS) requirements/seg.txt requirements/tests.txt

.PHONY: setup setup-full setup-lite test test-fast demo reproduce-mini benchmarks clean
setup: $(CORE)
setup-full: $(FULL)

$(CORE): $(DEPS)
	bash tools/install_deps.sh --core $(VENV)
	touch $@

# A full set-up also satisfies the core one.
$(FULL): $(FULL_DEPS)
	bash tools/install_deps.sh --full $(VENV)
	touch $(CORE) $@

setup-lite:
	bash tools/install_deps.sh --lite $(VENV)
	touch $(CORE)

# The whole suite takes ~5-15 min on 2 cores, so the slow tests run by default.
test: $(FULL)
	$(PY) -m pytest tests --runslow

test-fast: $(FULL)
	$(PY) -m pytest tests

demo: $(CORE)
	bash tools/demo.sh

# image-SSL start | +image SSL | +MoSiC static | +MoSiC (docs/mini_reproduction.md)
reproduce-mini: $(CORE)
	$(PY) tools/reproduce_mini.py

benchmarks: $(CORE)
	bash tools/benchmark_docs.sh

clean:
	rm -rf $(VENV) .cache work_dirs
