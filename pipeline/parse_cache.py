"""The workflow's config checks, done once per config and state of the files they read.

Every parse of the workflow (``snakemake -n``, every run, every cluster job) validates
the config against its JSON schema and cross-checks it
(:func:`pipeline.config.check_config`): that imports jsonschema and reads the schema,
the model sources and the image headers. The verdict cannot change while the config,
the folders models are found in and those files stay the same, so :func:`check_once`
remembers a config that passed, as the check left it (defaults filled in), with the
digests of the files it depends on (a :class:`~pipeline.file_cache.FileCache`).
Standard library only: the Snakefile imports it at parse time.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .file_cache import FileCache
from .fingerprint import _find_source, _package_directory
from .image_sources import BUILTIN_IMAGE_NAMES
from .model_path import model_directories

__all__ = ["check_once", "config_dependencies"]

PACKAGE = Path(__file__).resolve().parent


def _sources(module: str) -> list[Path]:
    """Return the Python files a model module's check can read.

    All files of a package of the user's (a folder beside a config file or in the
    working directory); the module's own file for an installed package (large,
    unchanging).
    """
    directory = _package_directory(module.partition(".")[0])
    folders = [Path(folder) for folder in model_directories()]
    if directory is not None and directory.parent in folders:
        return sorted(directory.rglob("*.py"))
    source = _find_source(module)
    return [] if source is None else [source]


def config_dependencies(config: dict[str, Any], schema: str | Path) -> list[Path]:
    """Every file the checks of a (checked) config read.

    Parameters
    ----------
    config
        The config, as the check left it.
    schema
        The JSON schema it was validated against.

    Returns
    -------
    files
        The schema, this package's sources (the checks and the built-in models), the
        sources of the config's own model modules and its image files.

    """
    files = [Path(schema), *sorted(PACKAGE.rglob("*.py"))]
    for entry in config.get("images", {}).values():
        if entry["source"] not in BUILTIN_IMAGE_NAMES:
            files.append(Path(entry["source"]))
    for entry in config.get("models", {}).values():
        module, colon, _ = entry["class"].partition(":")
        if colon:
            files.extend(_sources(module))
    return files


def check_once(
    config: dict[str, Any],
    check: Callable[[dict[str, Any]], None],
    schema: str | Path,
    cache_file: str | Path,
) -> None:
    """Run ``check(config)`` unless this config passed it with the same files.

    Parameters
    ----------
    config
        The config as loaded; filled in place (by ``check``, or from the cache).
    check
        Validates ``config`` in place (filling defaults) and raises if it is bad.
    schema
        The JSON schema ``check`` validates against (its changes count).
    cache_file
        Where passed configs are remembered (a few, the most recent).

    """
    text = json.dumps([config, model_directories()], sort_keys=True, default=repr)
    key = hashlib.sha256(text.encode()).hexdigest()
    cache = FileCache(cache_file, max_entries=16)
    checked = cache.get(key)
    if isinstance(checked, dict):
        config.clear()
        config.update(checked)
        return
    check(config)
    cache.put(key, config, config_dependencies(config, schema))
