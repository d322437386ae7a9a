"""Where a user's own model classes (``module:Class`` in a config) are imported from.

A config may name ``mymodels:MyModel`` with ``mymodels.py`` beside the config file or
in the working directory, with no environment variable to set. The workflow lists the
folders of its config files in ``PIPELINE_MODEL_PATH`` (wherever it is parsed, cluster
jobs included; every job inherits it), and whatever reads a model's source or imports
it first calls :func:`add_model_directories`, which appends those folders and the
working directory to ``sys.path``: after the installed packages, so that no file of
the user's shadows one of them. Standard library only.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "MODEL_PATH_VARIABLE",
    "add_model_directories",
    "model_directories",
    "set_config_directories",
]

MODEL_PATH_VARIABLE = "PIPELINE_MODEL_PATH"


def model_directories() -> list[str]:
    """Folders searched for model modules besides the installed packages.

    Returns
    -------
    directories
        The absolute folders listed in ``PIPELINE_MODEL_PATH`` (the config files'),
        then the working directory, without repeats.

    """
    listed = os.environ.get(MODEL_PATH_VARIABLE, "").split(os.pathsep)
    folders = [folder for folder in (*listed, os.getcwd()) if folder]
    return list(dict.fromkeys(str(Path(folder).resolve()) for folder in folders))


def set_config_directories(config_files: Iterable[str | Path]) -> None:
    """List the folders of ``config_files`` first in ``PIPELINE_MODEL_PATH``.

    Parameters
    ----------
    config_files
        The workflow's config files, in the order they were given.

    """
    folders = [str(Path(path).resolve().parent) for path in config_files]
    listed = os.environ.get(MODEL_PATH_VARIABLE, "").split(os.pathsep)
    unique = dict.fromkeys(folder for folder in (*folders, *listed) if folder)
    os.environ[MODEL_PATH_VARIABLE] = os.pathsep.join(unique)


def add_model_directories() -> list[str]:
    """Append :func:`model_directories` to ``sys.path`` (those not on it yet).

    Returns
    -------
    directories
        The folders searched, as :func:`model_directories` gives them.

    """
    directories = model_directories()
    for directory in directories:
        if directory not in sys.path:
            sys.path.append(directory)
    return directories
