# Two commands: `make run` sets up a fresh machine and runs the default workflow;
# `make test` sets up and runs the tests (what CI runs).
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel on CPU-only machines; on a GPU cluster use environment.yml instead.
TORCH ?= torch==2.13.0
CORES ?= all

.PHONY: setup run test lint bench clean

setup: $(VENV)/.installed

# pip compiles every module it installs, one by one: 40 of the install's 90 s, most of
# it for torch's thousands of modules that nothing here imports. Instead, setup imports
# what the stages, snakemake, the figures and the tests use, which compiles just that;
# and a PYTHONDONTWRITEBYTECODE from the environment is not passed on, so that what is
# still missing is compiled once, not in every process (+1.5 s each for torch).
unexport PYTHONDONTWRITEBYTECODE
WARM_IMPORTS := import torch, zarr, xarray, pandas, matplotlib.pyplot, scipy.ndimage, \
	skimage.io, skimage.transform, snakemake.cli, snakemake_executor_plugin_slurm, \
	plenoptic, pytest, xdist, pipeline.cli, pipeline.plot, pipeline.synthesis, \
	pipeline.metric, pipeline.process, pipeline.stages.aggregate, \
	pipeline.stages.eigendistortion, pipeline.stages.geodesic, pipeline.stages.images, \
	pipeline.stages.mad, pipeline.stages.metamer, pipeline.stages.render

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile "$(TORCH)"
	$(BIN)/python -m pip install --quiet --no-compile -e ".[test]"
	$(BIN)/python -c "$(WARM_IMPORTS)"
	touch $@

run: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/snakemake --cores $(CORES)

lint: setup
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks

# every test, spread over the machine's cores (one worker per test file)
test: setup lint
	PATH="$(abspath $(BIN)):$$PATH" PIPELINE_REQUIRE_REFERENCE=1 \
		$(BIN)/pytest -q -n auto --dist loadfile --no-loadscope-reorder --durations=15

bench: setup
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/python benchmarks/run_all.py

clean:
	rm -rf results .snakemake
