# `make test` / `make demo` create or refresh .venv first; a second run installs nothing.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test test-fast demo benchmarks clean
setup: $(STAMP)

$(STAMP): requirements.txt setup.py tools/install_deps.sh
	bash tools/install_deps.sh $(VENV)
	touch $@

# The whole suite takes ~2-4 min on 2 cores, so the slow tests run by default.
test: $(STAMP)
	$(PY) -m pytest tests --runslow

test-fast: $(STAMP)
	$(PY) -m pytest tests

demo: $(STAMP)
	bash tools/demo.sh

benchmarks: $(STAMP)
	bash tools/benchmark_docs.sh

clean:
	rm -rf $(VENV) .cache work_dirs
