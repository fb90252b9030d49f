# The two set-up commands of the README:
#   make demo   the main job (creates .venv, builds the core, runs the walkthrough)
#   make test   the whole test suite (creates .venv, builds the core, installs etcd/jq if missing)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: all venv build test demo bench bench-plot typecheck clean tools

all: demo

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "setuptools>=68" wheel "Cython>=3"
	$(PY) -m pip install -q --no-build-isolation -e '.[test,bench]'
	touch $(STAMP)

venv: $(STAMP)

# Incremental: only recompiles a .pyx that changed.
build: $(STAMP)
	$(PY) setup.py -q build_ext --inplace -j 2

tools:
	bash scripts/install-tools.sh

test: build tools
	$(PY) -m pytest -q -n 2 --dist loadgroup tests
	$(MAKE) --no-print-directory typecheck

typecheck: build
	$(PY) -m mypy tests
	$(PY) -m mypy.stubtest fastcidr --allowlist .stubtest-allowlist

demo: build
	$(PY) scripts/demo.py

# One process per area: a module's big allocations must not shape the next module's memory layout.
BENCH_MODULES := single tree multi cluster store server
bench: build tools
	mkdir -p bench/results
	for m in $(BENCH_MODULES); do \
	  $(PY) -m pytest bench/bench_$$m.py --benchmark-only -q --benchmark-columns=median,iqr,ops \
	    --benchmark-sort=name --benchmark-json=bench/results/$$m.json || exit 1; \
	done
	$(PY) scripts/perf_table.py --strip bench/results/*.json --readme README.md

bench-plot: build
	$(PY) scripts/plot_bench.py bench/results/*.json -o docs/bench.png

clean:
	rm -rf build src/fastcidr/*.c src/fastcidr/*.so src/fastcidr/*.html
