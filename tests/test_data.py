"""Tests of pipeline.data: built-in images, the packaged example images, loading."""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

import pipeline as po
from pipeline import data

DATA_DIR = Path(data.__file__).parent
ROOT = Path(__file__).resolve().parents[1]

EXAMPLES = {
    # name: (shape with the defaults, packaged file)
    "einstein": ((1, 1, 256, 256), "einstein.png"),
    "curie": ((1, 1, 256, 256), "curie.png"),
    "parrot": ((1, 1, 254, 266), "parrot.png"),
    "reptile_skin": ((1, 1, 256, 256), "reptile_skin.png"),
}


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_images(name):
    shape, filename = EXAMPLES[name]
    loader = getattr(po.data, name)
    img = loader()
    assert img.shape == shape and img.dtype == torch.float32
    assert 0 <= float(img.min()) and float(img.max()) <= 1 and float(img.std()) > 0.1
    # positional as_gray, as in the reference: three identical RGB channels
    rgb = loader(False)
    assert rgb.shape == (1, 3, *shape[-2:])
    assert torch.equal(rgb[:, :1], img) and torch.equal(rgb[:, 2:], img)
    # the same image by name (e.g. from a workflow config) and resized
    assert torch.equal(data.load_image(name), img)
    assert loader(size=32).shape == (1, 1, 32, 32)
    # values are the file's 8-bit levels / 255
    from PIL import Image

    with Image.open(DATA_DIR / filename) as handle:
        levels = np.asarray(handle)
    np.testing.assert_array_equal(np.round(img[0, 0].numpy() * 255), levels)


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        (
            "einstein",
            "1c502b01b218529cfe42e781fe2d7fef291f845125ce5b3e512b1539ea3a3e0f",
        ),
        ("curie", "e963ee96456b2d8c2e565a109c51c94d777e5fbc08424f74782e62f90bd747a8"),
    ],
)
def test_einstein_and_curie_are_the_reference_pixels(name, digest):
    # sha256 of the 8-bit pixels of plenoptic 2.1.1's einstein.pgm / curie.pgm:
    # results computed on them (e.g. printed in the tutorials) carry over
    pixels = (data.load_image(name)[0, 0].numpy() * 255).round().astype(np.uint8)
    assert hashlib.sha256(pixels.tobytes()).hexdigest() == digest


def test_color_wheel():
    wheel = po.data.color_wheel()
    assert wheel.shape == (1, 3, 600, 600)
    rgb = wheel[0].permute(1, 2, 0)
    white = torch.ones(3)
    torch.testing.assert_close(rgb[0, 0], white)  # corner: background
    torch.testing.assert_close(rgb[300, 300], white, atol=0.02, rtol=0)  # centre
    # fully saturated hues at the rim: red to the right, green up-left, blue down-left
    assert rgb[300, 590].argmax() == 0 and rgb[300, 590].min() < 0.1
    angle = np.deg2rad(120)
    y, x = int(300 - 280 * np.sin(angle)), int(300 + 280 * np.cos(angle))
    assert rgb[y, x].argmax() == 1
    y = int(300 + 280 * np.sin(angle))
    assert rgb[y, x].argmax() == 2
    gray = po.data.color_wheel(as_gray=True)
    assert gray.shape == (1, 1, 600, 600)
    assert torch.equal(po.data.color_wheel(True), gray)


def test_builtin_names():
    names = data.list_images()
    for name in [
        "camera",
        "einstein",
        "curie",
        "parrot",
        "reptile_skin",
        "color_wheel",
    ]:
        assert name in names
    assert po.data.camera(as_gray=False).shape[1] == 3


def test_package_data_is_small_documented_and_shipped():
    files = sorted(p.name for p in DATA_DIR.glob("*.png"))
    assert files == ["curie.png", "einstein.png", "parrot.png", "reptile_skin.png"]
    assert sum((DATA_DIR / f).stat().st_size for f in files) < 300_000
    readme = (DATA_DIR / "README.md").read_text()
    for name in ["einstein", "curie", "parrot", "reptile_skin", "color_wheel"]:
        row = re.search(rf"^\| `{name}` \|.*\|$", readme, re.MULTILINE)
        assert row, f"{name} has no row in pipeline/data/README.md"
        assert re.search(r"public domain|CC0|this package's licence", row.group(0))
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = config["tool"]["setuptools"]["package-data"]["pipeline.data"]
    assert "*.png" in shipped and "README.md" in shipped


def test_parse_time_check_knows_every_built_in_image():
    from pipeline.image_sources import BUILTIN_IMAGE_NAMES

    assert sorted(BUILTIN_IMAGE_NAMES) == po.data.list_images()
