"""One definition per setting: its declaration (``pipeline.stages.settings``) is what
the command line offers, what the workflow config's schema says section by section,
and what the library's methods default to where they share a name; each rule
between settings gives the same words on the command line and in a config."""

import dataclasses
import inspect
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

import pipeline as po
from pipeline.cli import main
from pipeline.cli.synthesize import BATCH_EXCLUDED, synthesize
from pipeline.config import SECTIONS, ConfigError, check_config, settings
from pipeline.stages.settings import (
    EigendistortionSettings,
    GeodesicSettings,
    MADSettings,
    MetamerSettings,
    SettingError,
    declarations,
)

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load(
    (REPO / "workflow" / "schemas" / "config.schema.yaml").read_text()
)
# keys of a section that say what to synthesize, not how
STRUCTURE = {
    "metamer": {"images", "models", "batch", "overrides"},
    "texture": {"images", "models"},
    "mad": {"sets"},
    "eigendistortion": {"images", "models"},
    "geodesic": {"pairs", "models"},
}
KINDS = {int: "integer", float: "number", str: "string", dict: "object"}


def resolve(node):
    """A schema property with its $ref chain followed (its own keys win)."""
    node = dict(node)
    while "$ref" in node:
        path = node.pop("$ref").removeprefix("#/").split("/")
        target = SCHEMA
        for part in path:
            target = target[part]
        node = {**target, **node}
    return node


def described(prop):
    """What a schema property says about a value: type, range, choices."""
    types = prop["type"] if isinstance(prop["type"], list) else [prop["type"]]
    bounds = prop.get("additionalProperties", prop) if "object" in types else prop
    return {
        "type": set(types),
        "enum": None if "enum" not in prop else set(prop["enum"]),
        **{k: bounds.get(k) for k in ("minimum", "exclusiveMinimum", "maximum")},
    }


def declared_view(declared, section):
    """What a declaration (narrowed by a section) says a schema must say."""
    spec = declared.setting
    choices = section.choices.get(declared.name, spec.choices)
    nullable = {None} if declared.nullable else set()
    return {
        "type": {KINDS[declared.kind], *(["null"] if declared.nullable else [])},
        "enum": None if choices is None else {*choices, *nullable},
        "minimum": spec.minimum,
        "exclusiveMinimum": spec.exclusive_minimum,
        "maximum": spec.maximum,
    }


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_schema_section_matches_declarations_and_section_defaults(name):
    section = SECTIONS[name]
    properties = SCHEMA["properties"][name]["properties"]
    assert set(properties) - STRUCTURE[name] == set(section.keys)
    by_name = {d.name: d for d in declarations(section.settings)}
    for key in section.keys:
        prop = resolve(properties[key])
        assert described(prop) == declared_view(by_name[key], section), key
        assert prop["default"] == section.default(key), f"{name}.{key} default"
        assert prop.get("description"), key


def test_schema_per_model_and_per_set_settings_match_their_section():
    metamer = SCHEMA["properties"]["metamer"]["properties"]
    overrides = metamer["overrides"]["additionalProperties"]["properties"]
    mad = SCHEMA["properties"]["mad"]["properties"]
    sets = mad["sets"]["additionalProperties"]["properties"]
    for keys, section, parent in (
        (overrides, "metamer", metamer),
        ({k: v for k, v in sets.items() if k not in ("image", "metrics")}, "mad", mad),
    ):
        assert set(keys) <= set(SECTIONS[section].keys)
        for key, prop in keys.items():
            # no default of their own: an unset key is the section's setting
            assert described(resolve(prop)) == described(resolve(parent[key]))
            assert "default" not in prop, key


def test_section_overrides_are_real_and_valid():
    for name, section in SECTIONS.items():
        keys = set(section.keys)
        assert set(section.defaults) <= keys and set(section.choices) <= keys, name
        for key, value in section.defaults.items():
            declared = next(d for d in declarations(section.settings) if d.name == key)
            assert value != declared.default, f"{name}.{key} repeats the default"
        values = settings({}, name) | ({"minmax": "min"} if name == "mad" else {})
        section.settings(**values)  # the section's defaults are valid settings


COMMANDS = {
    "metamer": (MetamerSettings, (), ["i", "m", "o"]),
    "metamer-batch": (MetamerSettings, BATCH_EXCLUDED, ["m", "--run", "i", "o"]),
    "mad": (
        MADSettings,
        (),
        ["i", "o", "--optimized-metric", "mse", "--reference-metric", "ssim",
         "--minmax", "max"],
    ),
    "eigendistortion": (EigendistortionSettings, (), ["i", "m", "o"]),
    "geodesic": (GeodesicSettings, (), ["a", "b", "m", "o"]),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_cli_options_are_the_declarations(name):
    cls, excluded, required = COMMANDS[name]
    command = synthesize.commands[name]
    options = {p.name: p for p in command.params}
    given = command.make_context(name, list(required)).params  # what it would run
    for declared in declarations(cls):
        if declared.name in excluded:
            assert declared.name not in options
            continue
        option, spec = options[declared.name], declared.setting
        assert option.help == spec.help
        assert option.required == declared.required, declared.name
        if not declared.required:
            assert given[declared.name] == declared.default, declared.name
        if spec.choices is not None:
            extra = ["none"] if declared.nullable else []
            assert list(option.type.choices) == [*spec.choices, *extra]
        elif isinstance(option.type, click.IntRange | click.FloatRange):
            exclusive = spec.exclusive_minimum is not None
            low = spec.exclusive_minimum if exclusive else spec.minimum
            assert (option.type.min, option.type.max) == (low, spec.maximum)
            assert option.type.min_open == exclusive


# the library's methods whose arguments share names with a stage's settings
LIBRARY = {
    MetamerSettings: [po.Metamer, po.MetamerCTF],
    MADSettings: [po.MADCompetition],
    GeodesicSettings: [po.Geodesic],
    EigendistortionSettings: [po.Eigendistortion],
}


@pytest.mark.parametrize("cls", list(LIBRARY), ids=lambda c: c.__name__)
def test_library_defaults_agree_or_the_difference_is_declared(cls):
    by_name = {d.name: d for d in declarations(cls)}
    shared = 0
    for method in LIBRARY[cls]:
        for function in (method.__init__, method.synthesize):
            for parameter in inspect.signature(function).parameters.values():
                declared = by_name.get(parameter.name)
                if declared is None or parameter.default is parameter.empty:
                    continue
                shared += 1
                where = f"{method.__name__}.{function.__name__}({parameter.name})"
                if declared.setting.library is None:
                    assert parameter.default == declared.default, where
                else:  # a declared difference must still be one
                    assert parameter.default != declared.default, where
    assert shared >= 3


def test_the_known_disagreements_are_reconciled():
    eigen = {d.name: d.default for d in declarations(EigendistortionSettings)}
    assert eigen["max_iter"] == 1000
    assert SECTIONS["eigendistortion"].default("max_iter") == 1000
    metamer = {d.name: d.default for d in declarations(MetamerSettings)}
    assert (metamer["ctf_iters_to_check"], metamer["change_scale_criterion"]) == (
        50,
        0.01,
    )
    # the texture section's own schedule (fixed iterations per L-BFGS scale)
    texture = SECTIONS["texture"]
    assert (texture.default("ctf_iters_to_check"), texture.default("optimizer")) == (
        5,
        "lbfgs",
    )
    assert texture.default("change_scale_criterion") is None


def _config(**sections):
    return {
        "images": {"camera": {"source": "camera", "size": 16}},
        "models": {"g": {"class": "Gaussian", "params": {"kernel_size": 5}}},
        **sections,
    }


def _stage_message(cls, **values):
    with pytest.raises(SettingError) as error:
        cls(**values)
    return error.value.key, str(error.value)


@pytest.mark.parametrize(
    ("config", "key", "settings_class", "values"),
    [
        (
            {"texture": {"stop_criterion": 0.5, "change_scale_criterion": 0.1}},
            "texture.stop_criterion",
            MetamerSettings,
            {
                "coarse_to_fine": "together",
                "stop_criterion": 0.5,
                "change_scale_criterion": 0.1,
            },
        ),
        (
            {"texture": {"loss": "mse", "loss_weights": {"kurtosis": 2}}},
            "texture.loss_weights",
            MetamerSettings,
            {"loss": "mse", "loss_weights": {"kurtosis": 2}},
        ),
        (
            {"mad": {"sets": {"s": {"image": "camera", "metrics": ["mse", "ssim"],
                                    "metric_tradeoff_lambda": -1}}}},
            "mad.sets.s.metric_tradeoff_lambda",
            MADSettings,
            {"minmax": "min", "metric_tradeoff_lambda": -1},
        ),
        (
            {"metamer": {"overrides": {"g": {"max_iter": 0}}, "models": ["g"]}},
            "metamer.overrides.g.max_iter",
            MetamerSettings,
            {"max_iter": 0},
        ),
    ],
)  # fmt: skip
def test_a_rule_between_settings_says_the_same_at_parse_time(
    config, key, settings_class, values
):
    field, message = _stage_message(settings_class, **values)
    assert key.endswith(field)
    with pytest.raises(ConfigError) as error:
        check_config(_config(**config))
    assert str(error.value) == f"config {key}: {message}"


def test_batched_metamers_rule_on_the_command_line_and_in_a_config(tmp_path):
    config = _config(
        metamer={"images": ["camera"], "models": ["g"], "batch": True,
                 "overrides": {"g": {"stop_criterion": 0.1}}},
    )  # fmt: skip
    with pytest.raises(ConfigError) as error:
        check_config(config)
    with pytest.raises(SettingError) as stage:
        MetamerSettings(stop_criterion=0.1).check_batchable()
    assert str(error.value) == (
        f"config metamer.batch: {stage.value} (metamer.overrides.g)"
    )
    result = CliRunner().invoke(
        main,
        ["synthesize", "metamer-batch", "m.model", "--run", "i.zarr",
         str(tmp_path / "o.zarr"), "--stop-criterion", "0.1"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"Error: {stage.value}" in result.output


@pytest.mark.parametrize(
    ("cls", "values", "message"),
    [
        (MetamerSettings, {"max_iter": 0}, "max_iter must be >= 1, got 0"),
        (MetamerSettings, {"lr": 0.0}, "lr must be positive, got 0.0"),
        (MetamerSettings, {"max_iter": 2.5}, "max_iter must be an integer"),
        (MetamerSettings, {"seed": True}, "seed must be an integer"),
        (MetamerSettings, {"optimizer": "adamw"}, "optimizer must be one of adam"),
        (MetamerSettings, {"loss_weights": {"a": -1}}, "loss_weights.a must be >= 0"),
        (MetamerSettings, {"initial_noise": None}, None),
        (MADSettings, {"minmax": "min", "initial_noise": None}, "must be set"),
        (GeodesicSettings, {"n_steps": 1}, "n_steps must be >= 2"),
        (EigendistortionSettings, {"method": "lanczos"}, "method must be one of"),
    ],
)
def test_every_value_is_checked_against_its_declaration(cls, values, message):
    if message is None:
        cls(**values)
        return
    with pytest.raises(SettingError, match=message):
        cls(**values)


def test_settings_are_frozen_and_keyword_only():
    settings_ = MetamerSettings(max_iter=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings_.max_iter = 4
    with pytest.raises(TypeError):
        MetamerSettings(3)
    with pytest.raises(TypeError, match="minmax"):
        MADSettings()  # the one setting without a default
