# Two commands on a fresh machine: `make demo` (the King County workflow) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: venv browser screenshots demo demo-seed demo-classification xor test lint bench bench-backends bench-full bench-floor \
	bench-pipeline bench-classification bench-scale clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The main job: the King County workflow end to end (train 8 folds x 500 epochs, importance,
# HTML report), as `nnforge demo` runs it from an installed package. The spec and the data ship
# in the package (src/nnforge/examples/, src/nnforge/_datasets/); a kc_house_data.csv of your
# own is used instead when `nnforge data where` finds one.
RUN ?= runs/king_county
demo: $(STAMP)
	$(BIN)/nnforge demo king-county --out $(RUN)

# The seed's final model, option for option, for comparison (`nnforge compare`).
demo-seed: $(STAMP)
	$(BIN)/nnforge demo king-county-seed --out runs/king_county_seed

# Classification end to end: the Palmer penguins shipped with the package (344 rows, 3 species),
# `examples/penguins/spec.json` as `nnforge spec init` wrote it; importance and the HTML report.
PENGUINS_RUN ?= runs/penguins
demo-classification: $(STAMP)
	$(BIN)/nnforge train examples/penguins/spec.json --out $(PENGUINS_RUN)
	$(BIN)/nnforge importance $(PENGUINS_RUN)
	$(BIN)/nnforge report $(PENGUINS_RUN)

xor: $(STAMP)
	$(BIN)/nnforge xor --plot runs/xor.png

# The README's screenshots (docs/*.png): an 80-column training and the report's first screen.
screenshots: $(STAMP) browser
	$(BIN)/python docs/screenshots.py --work runs/screenshots $(SHOT_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks tools
	$(BIN)/ruff format --check src tests examples benchmarks tools

# The report's browser test renders report.html in Debian's headless chromium: installed here
# when missing and apt-get is available (never a browser download of its own).
browser:
	@test -x /usr/bin/chromium || ! command -v apt-get >/dev/null || \
		(apt-get update -q && apt-get install -y -q chromium) || \
		echo "make: could not install chromium; tests/test_report_browser.py will skip"

test: $(STAMP) browser
	$(BIN)/ruff check src tests examples benchmarks tools
	$(BIN)/python -m pytest -q

# Benchmarks (issue 6). The peers are optional extras installed here, never by `make test`; a peer
# that cannot be installed is skipped with a message. OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (set on
# some hosts for old OpenBLAS builds) slow a current numpy down: unset for these runs only.
BENCH_PEERS := torch==2.13.0 jax scikit-learn psutil
BENCH_ENV   := env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE

bench: $(STAMP)
	for peer in $(BENCH_PEERS); do $(BIN)/python -m pip install -q "$$peer" || \
		echo "bench: could not install $$peer; the benchmark skips what needs it"; done
	$(BENCH_ENV) $(BIN)/python benchmarks/seed_workload.py $(BENCH_ARGS)
	$(MAKE) bench-backends

# The full King County run through `nnforge train --backend numpy` and `--backend jax` (issue 16).
bench-backends: $(STAMP)
	$(BENCH_ENV) $(BIN)/python benchmarks/backends.py $(BACKENDS_ARGS)

# Issue 10: the engine's training step against the bare NumPy calls it cannot avoid (matrix
# products, ReLU, Adam) on the tuned King County network, alone and one copy per worker.
bench-floor: $(STAMP)
	$(BENCH_ENV) $(BIN)/python benchmarks/step_floor.py $(FLOOR_ARGS)

bench-full: $(STAMP)
	$(BIN)/python -m pip install -q psutil || echo "bench-full: psutil missing, no peak memory"
	$(BENCH_ENV) $(BIN)/python benchmarks/seed_workload.py --full $(BENCH_ARGS)

# Classification through the CLI only (spec init -> train -> predict) on five public tables,
# against scikit-learn's LogisticRegression and MLPClassifier on the same folds.
bench-classification: $(STAMP)
	$(BIN)/python -m pip install -q scikit-learn || echo "bench-classification: needs scikit-learn"
	$(BENCH_ENV) $(BIN)/python benchmarks/classification.py $(BENCH_ARGS)

bench-pipeline: $(STAMP)
	$(BIN)/python benchmarks/pipeline_bench.py

# Issue 15: 0.1 M, 1 M and 10 M King County-like rows, 8 folds x 1 epoch; wall time, rows per
# second and the peak memory of the whole process tree. SCALE_ROWS picks the sizes.
SCALE_ROWS ?= 100000,1000000,10000000
bench-scale: $(STAMP)
	$(BIN)/python -m pip install -q psutil || echo "bench-scale: psutil is needed for memory"
	$(BENCH_ENV) $(BIN)/python benchmarks/scale_bench.py --rows $(SCALE_ROWS) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
