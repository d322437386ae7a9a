"""What the workflow remembers between parses, and where user models are found."""

import json
import json.decoder
import os
import sys
from pathlib import Path

import pytest

from pipeline.file_cache import FileCache
from pipeline.model_path import (
    MODEL_PATH_VARIABLE,
    add_model_directories,
    model_directories,
    set_config_directories,
)
from pipeline.parse_cache import check_once


def test_file_cache_entry_lives_while_its_files_hold_the_same_bytes(tmp_path):
    source = tmp_path / "source.txt"
    source.write_text("a")
    cache_file = tmp_path / "state" / "cache.json"
    FileCache(cache_file).put("key", {"value": [1, 2]}, [source])
    assert FileCache(cache_file).get("key") == {"value": [1, 2]}
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched
    assert FileCache(cache_file).get("key") == {"value": [1, 2]}
    source.write_text("b")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and time
    assert FileCache(cache_file).get("key") is None
    FileCache(cache_file).put("key", 3, [source])
    source.unlink()
    assert FileCache(cache_file).get("key") is None


def test_file_cache_keeps_the_most_recent_and_survives_bad_files(tmp_path):
    cache_file = tmp_path / "cache.json"
    source = tmp_path / "source.txt"
    source.write_text("a")
    cache = FileCache(cache_file, max_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, key, [source])
    assert list(json.loads(cache_file.read_text())) == ["b", "c"]
    cache.put("d", object(), [source])  # not JSON-able: not stored, nothing lost
    assert FileCache(cache_file).get("b") == "b"
    assert FileCache(cache_file).get("c") == "c"
    cache_file.write_text("{truncated")
    assert FileCache(cache_file).get("c") is None


@pytest.fixture
def checked(tmp_path, monkeypatch):
    """check_once with a check that counts its calls and fills a default."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(MODEL_PATH_VARIABLE, raising=False)
    schema = tmp_path / "schema.yaml"
    schema.write_text("{}")
    image = tmp_path / "photo.png"
    image.write_bytes(b"png")
    calls = []

    def check(config):
        calls.append(json.dumps(config, sort_keys=True))
        if config["images"]["mine"]["size"] < 0:
            raise ValueError("bad size")
        config.setdefault("metamer", {"max_iter": 200})

    def run(size=64):
        config = {
            "images": {"mine": {"source": "photo.png", "size": size}},
            "models": {},
        }
        check_once(config, check, schema, tmp_path / ".snakemake" / "checked.json")
        return config

    return run, calls, image, schema


def test_a_config_that_passed_is_not_checked_again(checked):
    run, calls, _, _ = checked
    first = run()
    assert first["metamer"] == {"max_iter": 200} and len(calls) == 1
    assert run() == first and len(calls) == 1  # filled from the cache
    run(size=32)  # another config
    assert len(calls) == 2


def test_changed_files_or_model_folders_check_again(checked, monkeypatch):
    run, calls, image, schema = checked
    run()
    image.write_bytes(b"png, edited")
    run()
    assert len(calls) == 2
    schema.write_text("{'type': 'object'}")
    run()
    assert len(calls) == 3
    monkeypatch.setenv(MODEL_PATH_VARIABLE, "/elsewhere")  # models found elsewhere
    run()
    assert len(calls) == 4


def test_a_config_that_failed_is_checked_every_time(checked):
    run, calls, _, _ = checked
    for _ in range(2):
        with pytest.raises(ValueError, match="bad size"):
            run(size=-1)
    assert len(calls) == 2


def test_model_folders_come_after_the_installed_packages(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(MODEL_PATH_VARIABLE, "/from/before")
    monkeypatch.setattr(sys, "path", list(sys.path))
    set_config_directories([tmp_path / "proj" / "own.yaml", "other.yaml"])
    assert os.environ[MODEL_PATH_VARIABLE].split(os.pathsep) == [
        str(tmp_path / "proj"),
        str(tmp_path),
        "/from/before",
    ]
    assert model_directories() == [
        str(tmp_path / "proj"),
        str(tmp_path),
        "/from/before",
    ]
    installed = list(sys.path)
    add_model_directories()
    add_model_directories()  # once each
    assert sys.path == [
        *installed,
        str(tmp_path / "proj"),
        str(tmp_path),
        "/from/before",
    ]


def test_a_model_beside_the_config_builds_with_no_environment(tmp_path, monkeypatch):
    from pipeline.stages.models import resolve_model_class

    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "beside_config_models.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    pass\n"
    )
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv(MODEL_PATH_VARIABLE, raising=False)
    with pytest.raises(Exception, match="cannot import module 'beside_config_models'"):
        resolve_model_class("beside_config_models:Net")
    set_config_directories([tmp_path / "proj" / "own.yaml"])  # as the Snakefile does
    cls, path = resolve_model_class("beside_config_models:Net")
    assert cls.__name__ == "Net" and path == "beside_config_models:Net"
    sys.modules.pop("beside_config_models")


def test_dependencies_are_the_users_package_but_one_file_of_an_installed_one(
    tmp_path, monkeypatch
):
    from pipeline.parse_cache import config_dependencies

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv(MODEL_PATH_VARIABLE, raising=False)
    package = tmp_path / "deps_user_pkg"
    package.mkdir()
    for name in ("__init__.py", "models.py", "base.py"):
        (package / name).write_text("class Net:\n    pass\n")
    add_model_directories()
    config = {
        "images": {"mine": {"source": "photo.png"}, "cam": {"source": "camera"}},
        "models": {
            "user": {"class": "deps_user_pkg.models:Net"},
            "installed": {"class": "json.decoder:JSONDecoder"},
            "builtin": {"class": "OnOff"},
        },
    }
    files = set(config_dependencies(config, tmp_path / "schema.yaml"))
    assert {package / name for name in ("__init__.py", "models.py", "base.py")} <= files
    assert Path(json.decoder.__file__) in files
    assert Path(json.__file__) not in files  # not the whole installed package
    assert Path("photo.png") in files and Path("camera") not in files
