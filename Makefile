# Two entry points do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel of this exact version is on disk here; anything looser pulls GBs of CUDA
# packages. Override on other machines, e.g. `make test TORCH_SPEC="torch>=2.5"`.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo test lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test,export]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/cnnzoo list

lint: install
	$(BIN)/ruff check .

test: lint
	$(BIN)/pytest

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
