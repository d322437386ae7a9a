"""The README's commands and snippets run as written.

Which blocks run (the rule to keep when editing the README): every fenced ```bash
block under the heading "## The stages by hand", in one shell (``bash -e``) in an
empty folder, and every fenced ```python block under "## The library", in order, in
one Python process (they build on each other). One substitution keeps them fast:
iteration counts (``--max-iter N`` and ``max_iter=N``) become 2. Figures are drawn off
screen (``MPLBACKEND=Agg``).

These take longer than most tests (about 20 processes of the CLI, each importing
torch): they are what a new user types first.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FEWER_ITERATIONS = [
    (re.compile(r"--max-iter \d+"), "--max-iter 2"),
    (re.compile(r"\bmax_iter=\d+"), "max_iter=2"),
]


def blocks(section, language):
    """The fenced blocks of ``language`` under the ``## section`` heading."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no section {section!r}"
    found = re.findall(rf"^```{language}\n(.*?)^```", match.group(1), re.M | re.S)
    assert found, f"README section {section!r} has no {language} block"
    code = "\n".join(found)
    for pattern, replacement in FEWER_ITERATIONS:
        code = pattern.sub(replacement, code)
    return code


def run(command, cwd):
    env = dict(
        os.environ,
        PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}",
        MPLBACKEND="Agg",
    )
    env.pop("PYTHONWARNINGS", None)
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def test_stages_by_hand_run_as_written(tmp_path):
    script = blocks("The stages by hand", "bash")
    run(["bash", "-e", "-c", script], tmp_path)
    # every output the block names exists
    for name in re.findall(r"[\w.-]+\.(?:zarr|model|png|pdf|csv)\b", script):
        assert (tmp_path / name).exists(), name


def test_library_snippets_run_as_written(tmp_path):
    code = blocks("The library", "python")
    result = run([sys.executable, "-c", code], tmp_path)
    # MAD with ssim leaves [0, 1]: the range warning comes once, not per iteration
    warnings = result.stderr.count("Image range falls outside")
    assert warnings <= 1, result.stderr
