# transferbench: `make test` and `make sweep` set everything up on a fresh clone.
PYTHON ?= python3
TORCH ?= 2.13.0
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test lint bench preview fit sweep leaderboard clean lock

SWEEP ?= synthetic
JOBS ?= 2
TEST_WORKERS ?= 2

install: $(STAMP)

# torch is pinned first so the package's `torch>=2.6` is already satisfied (no multi-GB CUDA wheel); every
# other package at the version in constraints.txt, the environment the committed results were made in.
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "torch==$(TORCH)"
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev,lidc]"
	touch $(STAMP)

# Record the installed environment as the new constraints (after changing a dependency in pyproject.toml).
lock: $(STAMP)
	{ head -2 constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v "^torch=="; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

# The main job: plan, run (resumable: re-running skips finished runs) and aggregate the default sweep.
# Prepares the synthetic data if absent; writes results/synthetic/leaderboard.csv, .md and figures/.
sweep: $(STAMP)
	$(BIN)/transferbench sweep --config $(SWEEP) --jobs $(JOBS)

leaderboard: $(STAMP)
	$(BIN)/transferbench leaderboard results/$(SWEEP)

# Two test processes (pytest-xdist), one torch thread each: the suite's time on 2 cores roughly halves.
test: $(STAMP)
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

lint: $(STAMP)
	$(BIN)/ruff check transferbench tests benchmarks
	$(BIN)/ruff format --check transferbench tests benchmarks

bench: $(STAMP)
	WANDB_MODE=disabled $(BIN)/python -m benchmarks.run_all

preview: $(STAMP)
	$(BIN)/transferbench data prepare synthetic --out data/synthetic
	$(BIN)/transferbench data preview --root data/synthetic --out docs/synthetic_domains.png

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# One train + test run of the CPU 3D U-Net on the synthetic benchmark (data generated on first use).
fit: $(STAMP)
	$(BIN)/transferbench fit --config synthetic_unet3d
