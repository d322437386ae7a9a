"""Config checks that need no snakemake: model classes and parameters read from
source (``pipeline.signatures``) and max_iter against what stores hold."""

import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import (
    ConfigError,
    check_config,
    check_models,
    check_stored_iterations,
    max_iter_setting,
)
from pipeline.signatures import (
    builtin_model_names,
    constructor_signature,
    find_model_class,
)

USER_MODELS = '''
import torch
from torch import nn

from .base import Base, Other


class Plain(nn.Module):
    """No constructor of its own: nn.Module takes no keyword arguments."""

    def forward(self, x):
        return x


class Child(Base):
    pass


class GrandChild(Child):
    pass


class Keywords(nn.Module):
    def __init__(self, width=3, **kwargs):
        super().__init__()


class Positional(nn.Module):
    def __init__(self, a, /, b, *args, c, d=1):
        super().__init__()


class Mixed(Base, Other):
    pass


class Foreign(torch.nn.Conv2d):
    pass


def factory():
    return Plain
'''
BASE = """
from torch import nn


class Base(nn.Module):
    def __init__(self, width: int = 3, height: int = 4):
        super().__init__()


class Other:
    pass
"""


@pytest.fixture
def user_package(tmp_path, monkeypatch):
    package = tmp_path / "usermodels_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .models import Child as Exported\n")
    (package / "models.py").write_text(USER_MODELS)
    (package / "base.py").write_text(BASE)
    (tmp_path / "star_models.py").write_text("from os import *\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "usermodels_pkg.models"


def test_builtin_names_are_the_package_all():
    import pipeline.models

    assert builtin_model_names() == tuple(sorted(pipeline.models.__all__))


@pytest.mark.parametrize("name", sorted(__import__("pipeline.models").models.__all__))
def test_builtin_signatures_match_inspect(name):
    import pipeline.models

    parameters = list(
        inspect.signature(getattr(pipeline.models, name).__init__).parameters.values()
    )[1:]
    keyword = [
        p for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    signature = constructor_signature(name)
    assert signature is not None
    assert signature.accepted == tuple(p.name for p in keyword)
    assert signature.required == tuple(p.name for p in keyword if p.default is p.empty)


def test_user_classes_and_inheritance(user_package):
    module = user_package
    assert constructor_signature(f"{module}:Plain").accepted == ()
    for name in ("Child", "GrandChild"):  # __init__ inherited from another module
        signature = constructor_signature(f"{module}:{name}")
        assert signature.accepted == ("width", "height")
        assert signature.defined_in == "usermodels_pkg.base:Base"
    exported = constructor_signature("usermodels_pkg:Exported")  # a re-export
    assert exported.accepted == ("width", "height")
    positional = constructor_signature(f"{module}:Positional")
    assert positional.accepted == ("b", "c", "d")  # a is positional-only
    assert positional.required == ("b", "c")


@pytest.mark.parametrize(
    "name",
    [
        "Keywords",  # **kwargs: anything may be accepted
        "Mixed",  # several bases
        "Foreign",  # a base outside the package (not nn.Module itself)
        "factory",  # not a class
        "Missing",
    ],
)
def test_what_cannot_be_known_statically_is_skipped(user_package, name):
    assert constructor_signature(f"{user_package}:{name}") is None


def test_find_model_class(user_package):
    assert find_model_class("OnOff") is True
    assert find_model_class("OnOf") is False
    assert find_model_class(f"{user_package}:Child") is True
    assert find_model_class(f"{user_package}:Nope") is False
    assert find_model_class("usermodels_pkg.nomodule:Child") is False
    assert find_model_class("no_such_module_anywhere:Model") is False
    assert find_model_class("star_models:Anything") is None  # star import
    assert find_model_class("os:system") is None  # os star-imports posix


def _config(**models):
    return {
        "images": {"camera": {"source": "camera", "size": 16}},
        "models": models,
        "metamer": {"images": ["camera"], "models": list(models), "max_iter": 5},
        "mad": {"max_iter": 4, "sets": {}},
    }


@pytest.mark.parametrize(
    ("models", "message"),
    [
        (
            {"on_off": {"class": "OnOff", "params": {"kernal_size": 31}}},
            "config models.on_off.params: unknown parameter 'kernal_size' for OnOff; "
            "accepted are kernel_size, amplitude_ratio, pad_mode, pretrained, "
            "activation, apply_mask, cache_filt",
        ),
        (
            {"g": {"class": "Gaussian", "params": {}}},
            "config models.g.params: Gaussian needs parameter 'kernel_size'; add it "
            "under models.g.params",
        ),
        (
            {"i": {"class": "Identity", "params": {"scale": 2}}},
            "config models.i.params: unknown parameter 'scale' for Identity; "
            "accepted are none",
        ),
        (
            {"x": {"class": "OnOf"}},
            "config models.x.class: unknown model class 'OnOf'; built-in classes are "
            "CenterSurround, DeepNetFeatures, Gaussian, Identity, Linear, "
            "LinearNonlinear, LuminanceContrastGainControl, LuminanceGainControl, OnOff, "
            "PortillaSimoncelli, SteerablePyramidFreq (or module:Class for your own)",
        ),
        (
            {"x": {"class": "usermodels_pkg.models:Chlid"}},
            "config models.x.class: cannot find class 'Chlid' in module "
            "'usermodels_pkg.models'",
        ),
        (
            {"x": {"class": "usermodels_pkg.models:Child", "params": {"depth": 1}}},
            "config models.x.params: unknown parameter 'depth' for "
            "usermodels_pkg.models:Child; accepted are width, height",
        ),
    ],
)
def test_check_models_names_the_key(user_package, models, message):
    with pytest.raises(ConfigError) as error:
        check_config(_config(**models))
    assert str(error.value).startswith(message)


def test_check_models_accepts_good_and_unknowable(user_package):
    check_models(
        _config(
            on_off={
                "class": "OnOff",
                "params": {"kernel_size": 31, "pretrained": True},
            },
            plain={"class": f"{user_package}:Plain", "params": {}},
            keywords={"class": f"{user_package}:Keywords", "params": {"anything": 1}},
            foreign={"class": f"{user_package}:Foreign", "params": {"whatever": 1}},
            star={"class": "star_models:Anything", "params": {"x": 1}},
        )
    )


def test_default_config_passes():
    from pathlib import Path

    import yaml

    config = yaml.safe_load((Path(__file__).parents[1] / "config.yaml").read_text())
    check_config(config)


def _store(path, **attrs):
    path.mkdir(parents=True)
    metadata = {"zarr_format": 3, "node_type": "group", "attributes": attrs}
    (path / "zarr.json").write_text(json.dumps(metadata))
    return str(path)


def test_max_iter_setting():
    config = {
        "metamer": {"max_iter": 300, "overrides": {"on_off": {"max_iter": 500}}},
        "mad": {"max_iter": 100, "sets": {"a": {"max_iter": 50}, "b": {}}},
        "texture": {"max_iter": 20},
        "geodesic": {"max_iter": 30},
    }
    assert max_iter_setting(config, "metamer", ("camera", "on_off")) == (
        "metamer.overrides.on_off.max_iter",
        500,
    )
    assert max_iter_setting(config, "metamer", ("camera", "gauss")) == (
        "metamer.max_iter",
        300,
    )
    assert max_iter_setting(config, "mad", ("a", "mse", "min")) == (
        "mad.sets.a.max_iter",
        50,
    )
    assert max_iter_setting(config, "mad", ("b", "mse", "max")) == ("mad.max_iter", 100)
    assert max_iter_setting(config, "texture", ("brick", "ps")) == (
        "texture.max_iter",
        20,
    )
    assert max_iter_setting(config, "geodesic", ("pair", "m")) == (
        "geodesic.max_iter",
        30,
    )


def test_stored_iterations_below_max_iter_refused(tmp_path):
    store = _store(
        tmp_path / "met.zarr",
        complete=True,
        n_iterations=300,
        parameters={"max_iter": 300},
    )
    check_stored_iterations([(store, "metamer.max_iter", 300)])  # equal
    check_stored_iterations([(store, "metamer.max_iter", 400)])  # raised: continues
    with pytest.raises(ConfigError) as error:
        check_stored_iterations([(store, "metamer.max_iter", 200)])
    assert str(error.value) == (
        f"config metamer.max_iter: 200 is below the 300 iterations already stored in "
        f"{store}; raise it, or delete that store to recompute with fewer"
    )


def test_stored_iterations_counts_what_was_run(tmp_path):
    # stopped early: 120 iterations stored although max_iter was 300
    early = _store(
        tmp_path / "early.zarr",
        complete=True,
        n_iterations=120,
        parameters={"max_iter": 300},
    )
    check_stored_iterations([(early, "mad.sets.a.max_iter", 150)])
    # an older store without n_iterations: its max_iter counts
    old = _store(tmp_path / "old.zarr", complete=True, parameters={"max_iter": 80})
    with pytest.raises(ConfigError, match=r"config mad\.max_iter: 50 is below the 80"):
        check_stored_iterations([(old, "mad.max_iter", 50)])


def test_stored_iterations_skips_what_it_cannot_judge(tmp_path):
    incomplete = _store(tmp_path / "partial.zarr", complete=False, n_iterations=900)
    garbage = tmp_path / "garbage.zarr"
    garbage.mkdir()
    (garbage / "zarr.json").write_bytes(b"\xff{ not json")
    not_a_dict = tmp_path / "list.zarr"
    not_a_dict.mkdir()
    (not_a_dict / "zarr.json").write_text("[1, 2]")
    check_stored_iterations(
        [
            (incomplete, "metamer.max_iter", 1),
            (str(garbage), "metamer.max_iter", 1),
            (str(not_a_dict), "metamer.max_iter", 1),
            (str(tmp_path / "absent.zarr"), "metamer.max_iter", 1),
        ]
    )


def test_config_checks_do_not_import_torch():
    code = (
        "import sys; from pipeline.config import check_models; "
        "check_models({'models': {'m': {'class': 'OnOff', 'params': {'kernel_size': 3}},"
        " 'p': {'class': 'PortillaSimoncelli', 'params': {'image_shape': [64, 64]}}}}); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_references_are_checked_before_user_model_sources():
    # a section's bad reference is reported even where the user module can't be found
    config = _config(blur={"class": "not_on_the_path_models:Blur"})
    config["metamer"]["images"] = ["einstein"]
    with pytest.raises(ConfigError, match=r"config metamer\.images: unknown image"):
        check_config(config)
    # but an unknown built-in class comes before what refers to it
    config = _config(ps={"class": "PortillaSimoncelly"})
    config["texture"] = {"images": ["camera"], "models": ["ps"]}
    with pytest.raises(ConfigError, match=r"config models\.ps\.class: unknown model"):
        check_config(config)


def test_model_import_problems_are_read_from_source(tmp_path, monkeypatch):
    from pipeline.signatures import model_import_problem

    (tmp_path / "fine_models_m.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    pass\n"
    )
    (tmp_path / "syntax_models_m.py").write_text("class Net(:\n    pass\n")
    (tmp_path / "needs_models_m.py").write_text("import not_installed_pkg\n\nNet = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PIPELINE_MODEL_PATH", str(tmp_path / "configs"))
    assert model_import_problem("fine_models_m:Net") is None
    assert model_import_problem("fine_models_m:Nett") == (
        "cannot find class 'Nett' in module 'fine_models_m': "
        f"{tmp_path / 'fine_models_m.py'} defines no Nett"
    )
    assert model_import_problem("syntax_models_m:Net").startswith(
        f"cannot import module 'syntax_models_m': {tmp_path / 'syntax_models_m.py'} "
        "line 1: "
    )
    assert model_import_problem("needs_models_m:Net") == (
        f"cannot import module 'needs_models_m': {tmp_path / 'needs_models_m.py'} "
        "imports 'not_installed_pkg', which is not installed"
    )
    # a missing module names where it was looked for: the config folders, then here
    missing = model_import_problem("absent_models_m:Net")
    assert missing.startswith(
        "cannot find class 'Net' in module 'absent_models_m': no such module is "
        f"installed or in {tmp_path / 'configs'}, {Path.cwd()} (put absent_models_m.py "
    )


def test_image_sources_are_checked_from_their_header(tmp_path):
    from PIL import Image

    Image.new("L", (40, 30)).save(tmp_path / "fine.png")
    Image.new("L", (4, 4)).save(tmp_path / "tiny.png")
    (tmp_path / "notes.png").write_text("not an image")
    config = _config()
    config["images"]["fine"] = {"source": str(tmp_path / "fine.png")}
    check_config(config)
    for name, message in [
        ("missing.png", "image file not found"),
        ("notes.png", "cannot read image file"),
        ("tiny.png", "is 4x4: too small"),
    ]:
        config["images"]["mine"] = {"source": str(tmp_path / name)}
        with pytest.raises(
            ConfigError, match=rf"^config images\.mine\.source: .*{message}"
        ):
            check_config(config)
