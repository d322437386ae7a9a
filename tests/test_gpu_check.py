"""``benchmarks/gpu_check.py``, the GPU check in one command, keeps working between
the sessions that have a GPU: here it runs on the CPU as a smoke run."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def gpu_check(*args, cwd):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True
    )


def test_smoke_run_runs_the_cuda_tests_and_reports_every_timing(tmp_path):
    out = tmp_path / "gpu.md"
    result = gpu_check(
        "--device",
        "cpu",
        "--size",
        "32",
        "--ps-sizes",
        "128",
        "--rounds",
        "1",
        "--commit",
        "abc1234",
        "--out",
        str(out),
        cwd=tmp_path,  # not the checkout: the script finds it by itself
    )
    assert result.returncode == 0, result.stderr
    report = out.read_text()
    assert report in result.stdout
    assert report.startswith("## GPU check, ") and "commit abc1234" in report
    tests = next(line for line in report.splitlines() if "(`GPU_TESTS`)" in line)
    # every listed test was found and ran (each skips without CUDA)
    assert re.search(r": \d+ (passed|skipped)", tests) and "error" not in tests
    table = [line for line in report.splitlines() if line.startswith("|")]
    rows = dict(
        (cell.strip() for cell in line.strip("|").split("|")) for line in table[2:]
    )
    assert set(rows) == {
        "metamer step, CenterSurround(31) 32²",
        "metamer step, OnOff(31, pretrained) 32²",
        "Portilla-Simoncelli forward+backward 128²",
    }
    assert all(re.match(r"\d+\.\d\d ms; ", value) for value in rows.values())


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param([], 1, "Error: no CUDA device here", id="no CUDA"),
        pytest.param(
            ["--device", "cpu", "--ps-sizes", "256", "32"],
            2,
            "Error: --ps-sizes: image_shape (32, 32) is too small",
            id="texture size too small",
        ),
    ],
)
def test_bad_input_is_refused_in_one_line_before_anything_runs(
    args, code, message, tmp_path
):
    if not args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = gpu_check(*args, "--out", str(tmp_path / "gpu.md"), cwd=tmp_path)
    assert result.returncode == code
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""  # not even the tests ran
    assert not (tmp_path / "gpu.md").exists()
