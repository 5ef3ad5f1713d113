# Two commands on a fresh machine: `make demo` (the King County workflow) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The dataset is never copied into the repo: point the data path at ../shared/datasets when present.
ifeq ($(origin NNFORGE_DATA_DIR), undefined)
ifneq ($(wildcard ../shared/datasets/kc_house_data.csv),)
export NNFORGE_DATA_DIR := $(abspath ../shared/datasets)
endif
endif

.PHONY: venv demo test lint bench bench-full bench-pipeline clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/nnforge xor

lint: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/ruff format --check src tests examples benchmarks

test: $(STAMP)
	$(BIN)/ruff check src tests examples benchmarks
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
