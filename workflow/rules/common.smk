# Config validation, canonical parameters and code fingerprints shared by all rules.
import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.utils import validate

from pipeline.config import (
    MAD_METRICS,
    check_config,
    check_stored_iterations,
    mad_metric_pair,
    mad_runs,
    mad_settings,
    max_iter_setting,
    metamer_settings,
    runs,
    settings,
)
from pipeline.fingerprint import code_fingerprint
from pipeline.model_path import add_model_directories, set_config_directories
from pipeline.parse_cache import check_once


CONFIG_FILES = [Path(path) for path in workflow.configfiles]
# jobs run the `pipeline` command installed beside this snakemake, activated or not
os.environ.update(
    PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
)
# a model's module:Class imports from the config files' folders and the working
# directory, here and in every job (PIPELINE_MODEL_PATH, inherited)
set_config_directories(CONFIG_FILES)
add_model_directories()


def check(config):
    validate(config, "../schemas/config.schema.yaml")
    check_config(config)


# schema validation and cross-checks, skipped for a config that passed them before
# with the same files (fast dry runs and cluster jobs, which parse this file again)
check_once(
    config,
    check,
    Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
    ".snakemake/pipeline_checked_configs.json",
)
# and, once the store paths are known (below): check_stored_iterations(STORED_ITERATIONS)

# where the config says, else a folder named after the config file: config.yaml
# writes results/, my.yaml my_results/ (several files: their names joined by _)
NAME = "_".join(path.stem for path in CONFIG_FILES)
RESULTS = config.get("results") or ("results" if NAME == "config" else f"{NAME}_results")
FIGURE_FORMATS = config["figures"]["formats"]
# when syntheses write the checkpoints they resume from: handed to every job through
# the environment (set again wherever the workflow is parsed, cluster jobs included),
# not through params, because they change no result and must rerun nothing
os.environ.update(
    PIPELINE_CHECKPOINT_EVERY=str(config["checkpoints"]["every_iterations"]),
    PIPELINE_CHECKPOINT_SECONDS=str(config["checkpoints"]["every_seconds"]),
)


wildcard_constraints:
    image=r"[A-Za-z0-9_\-]+",
    model=r"[A-Za-z0-9_\-]+",
    set=r"[A-Za-z0-9_\-]+",
    optimized=r"[A-Za-z0-9_\-]+",
    minmax=r"min|max",
    pair=r"[A-Za-z0-9_\-]+",


def canonical(value):
    """Sorted, compact JSON: equal settings always give the equal param string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def cli_options(settings):
    """`--key value` options (sorted) for a mapping of CLI settings: a list gives
    its values after one flag, a mapping one `--key name=value` per entry, None
    the word none."""
    words = []
    for key, value in sorted(settings.items()):
        flag = f"--{key.replace('_', '-')}"
        if isinstance(value, dict):
            for name, item in sorted(value.items()):
                words += [flag, f"{name}={canonical(item)}"]
            continue
        values = value if isinstance(value, list) else [value]
        words += [flag, *("none" if v is None else str(v) for v in values)]
    return shlex.join(words)


def code(entry_point):
    """Fingerprint of a stage entry point given as "module" + ":" + "function".
    Any change to that code (not to comments or docstrings) reruns its jobs.
    Fingerprints are cached by source digest (see pipeline.fingerprint), which keeps
    dry runs fast and spares each job recomputing its stage's own."""
    return code_fingerprint(f"pipeline.stages.{entry_point}")


def model_code(model):
    """Fingerprint of a model's code: a pipeline.models name or module:Class."""
    name = config["models"][model]["class"]
    target = name if ":" in name else f"pipeline.models:{name}"
    return code_fingerprint(target)


def synthesis_gpus(device):
    """GPUs a synthesis job declares (Snakemake resource `gpu`): 1 on cuda, 0 on cpu,
    and on auto what `resources.gpus_per_synthesis` says (1 where jobs run on GPU
    nodes). A cluster places gpu=1 jobs on GPU nodes; a local run with
    `--resources gpu=N` runs at most N of them at once."""
    return {"cpu": 0, "cuda": 1}.get(device, config["resources"]["gpus_per_synthesis"])


def figure_paths(stem):
    return [f"{stem}.{fmt}" for fmt in FIGURE_FORMATS]


def figure(path, caption, category, subcategory=None):
    """A figure that `snakemake --report` shows, with its caption from
    workflow/report/<caption>.rst."""
    return report(
        path,
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory=subcategory,
    )


def figure_outputs(stem, caption, category):
    """A figure in every configured format; the report shows the first one."""
    first, *others = figure_paths(stem)
    return [figure(first, caption, category), *others]


METAMER_IMAGES = config["metamer"].get("images", [])
METAMER_STORES = [
    f"{RESULTS}/metamer/{image}/{model}.zarr" for image, model in runs(config, "metamer")
]
TEXTURE_STORES = [
    f"{RESULTS}/texture/{image}/{model}.zarr" for image, model in runs(config, "texture")
]
TEXTURE_FIGURES = [
    *(figure_paths(f"{RESULTS}/figures/texture_grid") if TEXTURE_STORES else []),
    *(
        f"{RESULTS}/figures/texture/{image}/{model}_{kind}.png"
        for image, model in runs(config, "texture")
        for kind in ("representation_error", "scale_losses")
    ),
]
MAD_SETS = sorted(config["mad"]["sets"])
MAD_STORES = [
    f"{RESULTS}/mad/{name}/{optimized}_{minmax}.zarr"
    for name, optimized, minmax in mad_runs(config)
]
MAD_FIGURES = [
    *(f"{RESULTS}/figures/mad/{name}_set.png" for name in MAD_SETS),
    *(f"{RESULTS}/figures/mad/{name}_trajectories.png" for name in MAD_SETS),
]
EIGENDISTORTION_STORES = [
    f"{RESULTS}/eigendistortion/{image}/{model}.zarr"
    for image, model in runs(config, "eigendistortion")
]
EIGENDISTORTION_FIGURES = [
    f"{RESULTS}/figures/eigendistortion/{image}.png"
    for image in sorted({image for image, _ in runs(config, "eigendistortion")})
]
GEODESIC_STORES = [
    f"{RESULTS}/geodesic/{pair}/{model}.zarr" for pair, model in runs(config, "geodesic")
]
GEODESIC_FIGURES = [
    *(f"{RESULTS}/figures/geodesic/{pair}/{model}.png" for pair, model in runs(config, "geodesic")),
    *(
        f"{RESULTS}/figures/geodesic/{pair}_deviation.png"
        for pair in sorted({pair for pair, _ in runs(config, "geodesic")})
    ),
]
SUMMARY = f"{RESULTS}/summary.csv"
SYNTHESIS_STORES = [
    *METAMER_STORES,
    *TEXTURE_STORES,
    *MAD_STORES,
    *EIGENDISTORTION_STORES,
    *GEODESIC_STORES,
]
# (store, config key of its max_iter, max_iter): no max_iter below what a store holds
STORED_ITERATIONS = [
    (store, *max_iter_setting(config, section, run))
    for section, stores, section_runs in (
        ("metamer", METAMER_STORES, runs(config, "metamer")),
        ("texture", TEXTURE_STORES, runs(config, "texture")),
        ("mad", MAD_STORES, mad_runs(config)),
        ("geodesic", GEODESIC_STORES, runs(config, "geodesic")),
    )
    for store, run in zip(stores, section_runs, strict=True)
]
check_stored_iterations(STORED_ITERATIONS)


def metric_argument(metric):
    """A MAD metric on the command line: its name, or the model's artifact."""
    return metric if metric in MAD_METRICS else f"{RESULTS}/models/{metric}.model"


def mad_set_stores(name):
    return [f"{RESULTS}/mad/{s}/{o}_{m}.zarr" for s, o, m in mad_runs(config) if s == name]
METAMER_FIGURES = [
    *(figure_paths(f"{RESULTS}/figures/metamer_grid") if METAMER_STORES else []),
    *(figure_paths(f"{RESULTS}/figures/metamer_losses") if METAMER_STORES else []),
    *(
        f"{RESULTS}/figures/metamer/{image}/{model}_status.png"
        for image, model in runs(config, "metamer")
    ),
]
