# Two entry points do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# The CPU wheel of this exact version is on disk here; anything looser pulls GBs of CUDA
# packages. Override on other machines, e.g. `make test TORCH_SPEC="torch>=2.5"`.
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin

.PHONY: demo fashion-mnist test test-fast lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# What `make demo` needs: torch and cnnzoo. The byte-compile spares every later command
# compiling cnnzoo's modules again where PYTHONDONTWRITEBYTECODE is set (it is, here).
$(VENV)/.installed-base: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	$(BIN)/python -m compileall -q src
	touch $@

# `make test`: the optional extras too, so that ONNX, OpenVINO and int8 paths, Lightning,
# Ray and submitit, TensorBoard logging, shell completion and the tour notebook are tested.
$(VENV)/.installed: $(VENV)/.installed-base
	$(BIN)/pip install -q -e ".[test,export,openvino,lightning,ray,slurm,tensorboard,completion,notebook]"
	touch $@

install: $(VENV)/.installed

# The main job: LeNet-5 on the embedded MNIST sample (8k train / 2k test real digits) with
# its recipe (`cnnzoo show lenet5`) and its test evaluation, then the case studies in quick
# mode with their HTML report. Finished studies are reused on a rerun.
DEMO_OUT ?= runs/demo
STUDIES_OUT ?= runs/studies
demo: $(VENV)/.installed-base fashion-mnist
	@echo "make demo: rerunning it replaces $(DEMO_OUT)/ (finished studies in $(STUDIES_OUT)/ are reused)"
	rm -rf $(DEMO_OUT)
	$(BIN)/cnnzoo train lenet5 --data mnist --out $(DEMO_OUT)
	$(BIN)/cnnzoo eval lenet5 --weights $(DEMO_OUT)/best.safetensors --data mnist \
		--confusion-png $(DEMO_OUT)/confusion.png
	@echo "LeNet-5 done: weights, checkpoints, metrics.jsonl, curves.png and confusion.png in $(DEMO_OUT)/"
	$(BIN)/cnnzoo study run --quick --out $(STUDIES_OUT)
	@echo ""
	@echo "Next, try (the files exist now):"
	@echo "  $(BIN)/cnnzoo predict lenet5 --weights $(DEMO_OUT)/best.safetensors examples/seven_on_paper.png"
	@echo "  $(BIN)/cnnzoo summary resnet50 --stages"
	@echo "  $(BIN)/cnnzoo study show degradation --out $(STUDIES_OUT)   # one verdict and why"
	@echo "  $(BIN)/cnnzoo study run degradation --quick --out $(STUDIES_OUT)   # one study, cached"
	@echo "Rerunning make demo replaces $(DEMO_OUT)/; the studies' report is $(STUDIES_OUT)/report.html."

# The training studies use Fashion-MNIST (Debian dataset-fashion-mnist) where apt-get can
# install it; elsewhere they fall back to the embedded digits and say so.
fashion-mnist:
	@if [ -d /usr/share/datasets/fashion-mnist ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist; } || \
		echo "note: could not install dataset-fashion-mnist; the studies will use the embedded digits"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
		sudo -n apt-get install -y -q dataset-fashion-mnist || \
		echo "note: could not install dataset-fashion-mnist; the studies will use the embedded digits"; \
	else echo "note: no apt-get here; the studies will use the embedded MNIST digits"; fi

lint: install
	$(BIN)/ruff check .

# One worker per core, each with one torch thread: two workers of two threads each on two
# cores ran 8% slower. pytest caches its assertion-rewritten test modules as .pyc files,
# which PYTHONDONTWRITEBYTECODE forbids: every worker rewrote all 45 files again, ~3 s each.
# A file's tests stay on one worker, in order: a docs page's commands build on each other,
# and a module fixture (a training run) is built once. (`--dist worksteal` balances better
# but splits files; `loadgroup` cannot group them: pytest 9 ignores how xdist 3.8 marks.)
PYTEST := env -u PYTHONDONTWRITEBYTECODE OMP_NUM_THREADS=1 $(BIN)/pytest
PYTEST_JOBS ?= -n auto --dist loadfile --no-loadscope-reorder  # tests/conftest.py orders the files
test: lint
	$(PYTEST) $(PYTEST_JOBS)

# The edit-test loop: everything but the slow tests and those needing installed data.
test-fast: install
	$(PYTEST) $(PYTEST_JOBS) -m "not slow and not data"

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
