# The two set-up commands of the README:
#   make demo   the main job (creates .venv, builds the core, runs the walkthrough)
#   make test   the whole test suite (creates .venv, builds the core, installs etcd/jq if missing)
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# One stamp per set of packages: the demo needs only the runtime, the tests and benchmarks more.
BASE_STAMP  := $(VENV)/.base-stamp
TEST_STAMP  := $(VENV)/.test-stamp
BENCH_STAMP := $(VENV)/.bench-stamp
BUILD_TOOLS := "setuptools>=77" "Cython>=3.1"

.PHONY: all venv build test test-suite check-install demo bench bench-plot typecheck clean tools

all: demo

# The editable install compiles the core in place, one job per core (setup.py).
$(BASE_STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check $(BUILD_TOOLS) "PyYAML>=6"
	$(PY) -m pip install -q --disable-pip-version-check --no-build-isolation --no-deps -e .
	touch $(BASE_STAMP)

$(TEST_STAMP): $(BASE_STAMP)
	$(PY) scripts/extra_requirements.py test > $(VENV)/test-requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check -r $(VENV)/test-requirements.txt
	touch $(TEST_STAMP)

$(BENCH_STAMP): $(BASE_STAMP)
	$(PY) scripts/extra_requirements.py bench > $(VENV)/bench-requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check -r $(VENV)/bench-requirements.txt
	touch $(BENCH_STAMP)

venv: $(TEST_STAMP)

# Incremental: only recompiles a .pyx that changed.
build: $(BASE_STAMP)
	$(PY) setup.py -q build_ext --inplace -j 2

tools:
	bash scripts/install-tools.sh

# The whole suite, the type checks, then the doors a user takes (sdist -> wheel -> plain pip).
test: test-suite typecheck check-install

test-suite: build $(TEST_STAMP) tools
	$(PY) -m pytest -q -n 2 --dist loadgroup tests

check-install: $(TEST_STAMP)
	$(PY) scripts/check_install.py

typecheck: build $(TEST_STAMP)
	$(PY) -m mypy tests
	$(PY) -m mypy.stubtest fastcidr --allowlist .stubtest-allowlist

demo: build
	$(PY) scripts/demo.py

# One process per area: a module's big allocations must not shape the next module's memory layout.
BENCH_MODULES := single tree multi cluster store server
bench: build $(BENCH_STAMP) tools
	mkdir -p bench/results
	for m in $(BENCH_MODULES); do \
	  $(PY) -m pytest bench/bench_$$m.py --benchmark-only -q --benchmark-columns=median,iqr,ops \
	    --benchmark-sort=name --benchmark-json=bench/results/$$m.json || exit 1; \
	done
	$(PY) scripts/perf_table.py --strip bench/results/*.json --readme README.md

bench-plot: build $(BENCH_STAMP)
	$(PY) scripts/plot_bench.py --headline bench/results/*.json -o docs/bench.png
	$(PY) scripts/plot_bench.py bench/results/*.json -o docs/bench-all.png

clean:
	rm -rf build src/fastcidr/*.c src/fastcidr/*.so src/fastcidr/*.html
