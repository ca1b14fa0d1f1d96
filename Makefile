# `make test` / `make demo` create or refresh .venv first; a second run installs nothing.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup test test-all demo benchmarks clean
setup: $(STAMP)

$(STAMP): requirements.txt setup.py tools/install_deps.sh
	bash tools/install_deps.sh $(VENV)
	touch $@

test: $(STAMP)
	$(PY) -m pytest tests

test-all: $(STAMP)
	$(PY) -m pytest tests --runslow

demo: $(STAMP)
	bash tools/demo.sh

benchmarks: $(STAMP)
	bash tools/benchmark_docs.sh

clean:
	rm -rf $(VENV) .cache work_dirs
