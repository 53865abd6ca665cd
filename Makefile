# The two commands a new user needs: `make run` (set up, then open the workbench on its offline default)
# and `make test` (set up, then run the test suite). Both create .venv on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test check lint fmt serve clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch first, pinned, so pip takes the CPU build where the machine provides one instead of
	@# resolving `torch` to the registry's newest CUDA build (several GB) on a machine with no GPU.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "torch==2.13.0"
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/grpo-workbench

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

check: test
	$(BIN)/lint-imports
	$(BIN)/mypy workbench jobs screens grpo_workbench tools

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

fmt: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

serve: $(STAMP)
	$(BIN)/textual run --dev screens.app:WorkbenchApp

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
