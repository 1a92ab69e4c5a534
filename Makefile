# Two commands on a fresh machine: `make demo` and `make test` (both create .venv first).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench clean training-data train-gpu

KERNEL := src/spikesci/lossless/_mixcoder.c src/spikesci/lossless/_mixkernel.h

venv: $(STAMP) $(VENV)/.kernel

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU build from local disk; never an unpinned torch (it would pull a multi-GB CUDA build)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# the archive's compiled coder, rebuilt in place when its C source changes (optional: see setup.py)
$(VENV)/.kernel: $(KERNEL) $(STAMP)
	$(BIN)/python setup.py --quiet build_ext --inplace || echo "spikesci: compiled archive coder not built (pure-Python fallback)"
	# bytecode written once, as a regular install does: with PYTHONDONTWRITEBYTECODE set, every command
	# would otherwise compile its modules again (~30 ms of a 0.1 s unpack)
	$(BIN)/python -m compileall -q src/spikesci
	touch $@

demo: venv
	$(BIN)/spikesci demo --out demo_out

lint: venv
	$(BIN)/ruff check src tests benchmarks

test: venv lint
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist loadfile

bench: venv
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

# Optional pack of real photographs/videos for training only (docs/training_data.md); never shipped
training-data: venv
	$(BIN)/python -m spikesci.data.pack --out training_data

clean:
	rm -rf $(VENV) demo_out .pytest_cache

# The prepared GPU run of perception release 3 (issue 14): ten minutes at most, resumable, on a CUDA machine.
# Continues OUT's checkpoint if there is one; copy runs/gpu back and `--resume` on the CPU to go on.
train-gpu: venv
	$(BIN)/spikesci train --stage perception3 --device cuda --minutes 9 --steps 20000 --batch 32 \
		--out runs/gpu --resume $(if $(wildcard training_data/photos),--extra-photos training_data/photos) \
		$(if $(wildcard training_data/videos),--extra-videos training_data/videos)
