# Config validation, canonical parameters and code fingerprints shared by all rules.
import json
import shlex

from snakemake.utils import validate

from pipeline.config import check_config, metamer_runs, metamer_settings
from pipeline.fingerprint import code_fingerprint


validate(config, "../schemas/config.schema.yaml")
check_config(config)

RESULTS = config["results"]
FIGURE_FORMATS = config["figures"]["formats"]


wildcard_constraints:
    image=r"[A-Za-z0-9_\-]+",
    model=r"[A-Za-z0-9_\-]+",


def canonical(value):
    """Sorted, compact JSON: equal settings always give the equal param string."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def cli_options(settings):
    """`--key value` options (sorted) for a mapping of CLI settings."""
    words = []
    for key, value in sorted(settings.items()):
        words += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(words)


# code each stage runs: a change to it (not to comments or docstrings) reruns the stage
CODE = {
    "images": code_fingerprint("pipeline.stages.images:prepare_image"),
    "metamer": code_fingerprint("pipeline.stages.metamer:synthesize_metamer"),
    "aggregate": code_fingerprint("pipeline.stages.aggregate:aggregate"),
    "render": code_fingerprint("pipeline.stages.render:render_status"),
}


def model_code(model):
    """Fingerprint of a model's code: a pipeline.models name or module:Class."""
    name = config["models"][model]["class"]
    return code_fingerprint(name if ":" in name else f"pipeline.models:{name}")


def figure_paths(stem):
    return [f"{stem}.{fmt}" for fmt in FIGURE_FORMATS]


METAMER_STORES = [
    f"{RESULTS}/metamer/{image}/{model}.zarr" for image, model in metamer_runs(config)
]
SUMMARY = f"{RESULTS}/summary.csv"
METAMER_FIGURES = [
    *figure_paths(f"{RESULTS}/figures/metamer_grid"),
    *figure_paths(f"{RESULTS}/figures/metamer_losses"),
    *(
        f"{RESULTS}/figures/metamer/{image}/{model}_status.png"
        for image, model in metamer_runs(config)
    ),
]
