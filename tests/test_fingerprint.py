"""Code fingerprints follow what a definition uses, and ignore comments and docs."""

import os
import shutil
import sys
import textwrap

import pytest

from pipeline.fingerprint import (
    _definition,
    _find_source,
    _load,
    _package_directory,
    code_fingerprint,
    default_cache_file,
)

SOURCE = '''
"""A package of models."""
from .helpers import scale

OFFSET = 1.0


def shared(x):
    """Used by A only."""
    return x + OFFSET


class A:
    def forward(self, x):
        return scale(shared(x))  # a comment


class B:
    def forward(self, x):
        return x
'''


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "fpkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "models.py").write_text(SOURCE)
    (root / "helpers.py").write_text("def scale(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield root
    for cache in (_package_directory, _find_source, _load, _definition):
        cache.cache_clear()
    sys.modules.pop("fpkg", None)


def fingerprints():
    for cache in (_package_directory, _find_source, _load, _definition):
        cache.cache_clear()
    return code_fingerprint("fpkg.models:A"), code_fingerprint("fpkg.models:B")


def test_edit_changes_only_dependents(package):
    a, b = fingerprints()
    (package / "helpers.py").write_text("def scale(x):\n    return 3 * x\n")
    a2, b2 = fingerprints()
    assert a2 != a and b2 == b
    models = package / "models.py"
    models.write_text(models.read_text().replace("OFFSET = 1.0", "OFFSET = 2.0"))
    a3, b3 = fingerprints()
    assert a3 != a2 and b3 == b


def test_comments_docstrings_and_formatting_do_not_count(package):
    before = fingerprints()
    models = package / "models.py"
    text = (
        models.read_text()
        .replace("# a comment", "# reworded")
        .replace('"""Used by A only."""', '"""Reworded docs."""')
    )
    models.write_text(textwrap.dedent(text).replace("return x\n", "return (x)\n"))
    assert fingerprints() == before


def test_unknown_target_is_an_error(package):
    with pytest.raises(ValueError, match="cannot find"):
        code_fingerprint("fpkg.models:Missing")


def test_fingerprinting_does_not_import_torch():
    import subprocess

    code = (
        "import sys; from pipeline.fingerprint import code_fingerprint;"
        "code_fingerprint('pipeline.synthesis.metamer:Metamer');"
        "assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_imports_inside_functions_are_followed():
    from pipeline.fingerprint import code_dependencies

    used = code_dependencies("pipeline.stages.metamer:synthesize_metamer")
    for key in (
        "pipeline.synthesis.metamer:Metamer",
        "pipeline.synthesis.base:OptimizedSynthesis",
        "pipeline.loss:mse",
        "pipeline.store.history:HistoryWriter",
    ):
        assert key in used


def test_cache_reuses_unchanged_files_and_notices_edits(package, tmp_path, monkeypatch):
    import pipeline.fingerprint as fingerprint

    cache = tmp_path / "cache.json"
    first = code_fingerprint("fpkg.models:B", cache)
    assert "fpkg.models:B" in cache.read_text()

    def fail(target):
        raise AssertionError("parsed again although nothing changed")

    original = fingerprint.code_dependencies
    monkeypatch.setattr(fingerprint, "code_dependencies", fail)
    assert code_fingerprint("fpkg.models:B", cache) == first
    monkeypatch.setattr(fingerprint, "code_dependencies", original)
    models = package / "models.py"
    models.write_text(models.read_text().replace("return x\n", "return -x\n"))
    for memo in (_package_directory, _find_source, _load, _definition):
        memo.cache_clear()
    assert code_fingerprint("fpkg.models:B", cache) != first


def test_cache_notices_an_edit_of_the_same_size_and_time(package, tmp_path):
    cache = tmp_path / "cache.json"
    first = code_fingerprint("fpkg.models:B", cache)
    models = package / "models.py"
    stat = models.stat()
    models.write_text(models.read_text().replace("return x\n", "return 0\n"))
    os.utime(models, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as a fast edit can
    assert models.stat().st_size == stat.st_size
    for memo in (_package_directory, _find_source, _load, _definition):
        memo.cache_clear()
    assert code_fingerprint("fpkg.models:B", cache) != first


def test_cache_keeps_checkouts_of_the_same_package_apart(
    package, tmp_path, monkeypatch
):
    cache = tmp_path / "cache.json"
    first = code_fingerprint("fpkg.models:B", cache)
    other = tmp_path / "other"
    shutil.copytree(package, other / "fpkg")
    models = other / "fpkg" / "models.py"
    models.write_text(models.read_text().replace("return x\n", "return -x\n"))
    monkeypatch.syspath_prepend(str(other))
    for memo in (_package_directory, _find_source, _load, _definition):
        memo.cache_clear()
    assert code_fingerprint("fpkg.models:B", cache) != first


def test_default_cache_is_the_environment_variable_or_the_user_cache(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("PIPELINE_FINGERPRINT_CACHE", str(tmp_path / "f.json"))
    assert default_cache_file() == tmp_path / "f.json"
    monkeypatch.setenv("PIPELINE_FINGERPRINT_CACHE", "")
    assert default_cache_file() is None
    monkeypatch.delenv("PIPELINE_FINGERPRINT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_file() == tmp_path / "pipeline" / "code-fingerprints.json"
