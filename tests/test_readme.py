"""The README's commands and snippets run as written.

Which blocks run (the rule to keep when editing the README): every fenced ```bash
block under the heading "## The stages by hand", each of whose commands (lines
joined at a trailing backslash) is a ``pipeline`` command, run in order in an empty
folder; and every fenced ```python block under "## The library", in order, in one
Python process (they build on each other). Two substitutions keep them fast:
iteration counts (``--max-iter N`` and ``max_iter=N``) become 2, and image sizes in
Python (``size=N``) 128. The commands go
through the ``pipeline`` command's entry point in this process (click's runner: the
same arguments, parsing and code, without a start-up of torch per command); figures are drawn
off screen (``MPLBACKEND=Agg``).
"""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from pipeline.cli import main

REPO = Path(__file__).resolve().parents[1]
SMALLER = [
    (re.compile(r"--max-iter \d+"), "--max-iter 2"),
    (re.compile(r"\bmax_iter=\d+"), "max_iter=2"),
    (re.compile(r"\bsize=\d+"), "size=128"),
]


def blocks(section, language):
    """The fenced blocks of ``language`` under the ``## section`` heading."""
    text = (REPO / "README.md").read_text()
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README has no section {section!r}"
    found = re.findall(rf"^```{language}\n(.*?)^```", match.group(1), re.M | re.S)
    assert found, f"README section {section!r} has no {language} block"
    code = "\n".join(found)
    for pattern, replacement in SMALLER:
        code = pattern.sub(replacement, code)
    return code


def test_stages_by_hand_run_as_written(tmp_path, monkeypatch):
    script = blocks("The stages by hand", "bash")
    commands = [shlex.split(line) for line in script.replace("\\\n", " ").splitlines()]
    monkeypatch.chdir(tmp_path)
    for words in filter(None, commands):
        assert words[0] == "pipeline", words  # the rule above
        result = CliRunner().invoke(main, words[1:])
        assert result.exit_code == 0, (words, result.output, result.exception)
    # every output the block names exists
    for name in re.findall(r"[\w.-]+\.(?:zarr|model|png|pdf|csv)\b", script):
        assert (tmp_path / name).exists(), name


def test_library_snippets_run_as_written(tmp_path):
    code = blocks("The library", "python")
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("PYTHONWARNINGS", None)  # Python's default filters, as a user has them
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # the MAD snippet leaves [0, 1] from its first iteration: ssim says so once,
    # not once per iteration
    assert result.stderr.count("Image range falls outside") == 1, result.stderr
