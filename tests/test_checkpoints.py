"""What a synthesis's checkpoint allows, and what it refuses.

A finished synthesis continues when ``max_iter`` grows; a checkpoint of other
settings is not resumed and ``--restart`` discards one; a ``max_iter`` below what is
checkpointed, a corrupt checkpoint, a diverging synthesis and a second concurrent run
of the same synthesis each get one clear line. Every run is a real process
(``synthesis_runs.pipeline``); the kills themselves are ``test_resume.py``'s.
"""

import signal

import pytest
import xarray as xr
from synthesis_runs import (
    assert_checkpoint_retired,
    assert_resumed,
    assert_same_store,
    checkpointed_iterations,
    pipeline,
    resume_lines,
    synthesis_args,
)

pytestmark = pytest.mark.processes


def test_extending_a_finished_synthesis_equals_running_it_at_once(
    synthesis_inputs, tmp_path
):
    def run(out, max_iter, *extra):
        args = synthesis_args(synthesis_inputs, "metamer", out)
        args[args.index("--max-iter") + 1] = str(max_iter)
        return pipeline(*args, *extra)

    run(tmp_path / "once.zarr", 60)
    run(tmp_path / "grown.zarr", 40)
    # a later run with a larger max_iter continues from iteration 40
    grown = run(
        tmp_path / "grown.zarr", 60, "--overwrite", "--checkpoint-every", "1000"
    )
    assert_resumed(grown.stderr, tmp_path / "grown.zarr", [40])
    assert_same_store(tmp_path / "grown.zarr", tmp_path / "once.zarr", [40])
    grown = xr.open_zarr(tmp_path / "grown.zarr")
    assert grown.sizes["iteration"] == 61
    assert_checkpoint_retired(tmp_path / "grown.zarr")


def test_other_settings_do_not_resume_and_restart_discards(
    synthesis_inputs, reference_store, tmp_path
):
    out = tmp_path / "m.zarr"
    args = synthesis_args(synthesis_inputs, "metamer", out)
    pipeline(*args, kill_at="iteration:12", check=False)
    resume = out.with_name(f".{out.name}.resume")
    assert checkpointed_iterations(out) == 10
    other = pipeline(*args, "--lr", "0.02")  # another learning rate: from scratch
    assert resume_lines(other.stderr) == []
    fresh = tmp_path / "fresh.zarr"
    pipeline(*synthesis_args(synthesis_inputs, "metamer", fresh), "--lr", "0.02")
    assert_same_store(out, fresh)
    # --restart ignores a checkpoint of the same synthesis
    pipeline(*args, "--overwrite", kill_at="iteration:12", check=False)
    restarted = pipeline(
        *args, "--overwrite", "--restart", kill_at="iteration:3", check=False
    )
    assert restarted.returncode == -signal.SIGKILL
    assert not (resume / "state.pt").exists()  # killed before its first checkpoint
    pipeline(*args, "--overwrite")
    assert_same_store(out, reference_store("metamer"))


def test_lower_max_iter_than_checkpointed_is_refused(synthesis_inputs, tmp_path):
    out = tmp_path / "m.zarr"
    args = synthesis_args(synthesis_inputs, "metamer", out)
    pipeline(*args)
    lower = list(args)
    lower[lower.index("--max-iter") + 1] = "20"
    result = pipeline(*lower, "--overwrite", check=False)
    assert result.returncode == 1
    assert "holds 30 iterations, more than max_iter 20" in result.stderr
    assert xr.open_zarr(out).sizes["iteration"] == 31  # nothing lost


def test_corrupt_checkpoint_is_a_clear_error(synthesis_inputs, tmp_path):
    out = tmp_path / "m.zarr"
    args = synthesis_args(synthesis_inputs, "metamer", out)
    pipeline(*args, kill_at="iteration:12", check=False)
    state = out.with_name(f".{out.name}.resume") / "state.pt"
    state.write_bytes(state.read_bytes()[:100])
    result = pipeline(*args, check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "unreadable" in errors[0] and "--restart" in errors[0]
    assert "Traceback" not in result.stderr


def test_diverging_synthesis_stops_with_iteration_and_keeps_checkpoint(
    synthesis_inputs, tmp_path
):
    out = tmp_path / "m.zarr"
    args = synthesis_args(synthesis_inputs, "metamer", out)
    args[args.index("--checkpoint-every") + 1] = "1"
    result = pipeline(*args, "--lr", "1e200", check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert "at iteration" in errors[0] and "lower the learning rate" in errors[0]
    assert not out.exists()
    assert checkpointed_iterations(out) >= 1  # the last good iterations are kept


def test_a_second_run_of_the_same_synthesis_is_refused(synthesis_inputs, tmp_path):
    import fcntl

    out = tmp_path / "m.zarr"
    resume = out.with_name(f".{out.name}.resume")
    resume.mkdir()
    with open(resume / "lock", "a") as held:  # as a running synthesis holds it
        fcntl.flock(held, fcntl.LOCK_EX)
        result = pipeline(
            *synthesis_args(synthesis_inputs, "metamer", out), check=False
        )
    assert result.returncode == 1
    assert "another process is synthesizing" in result.stderr
    assert not out.exists()
    pipeline(*synthesis_args(synthesis_inputs, "metamer", out))  # free again
    assert xr.open_zarr(out).sizes["iteration"] == 31
