"""A fake SLURM for tests: every command the Snakemake SLURM executor calls.

Installed in a test's ``bin`` folder under the names ``sbatch``, ``sacct``,
``squeue``, ``sinfo``, ``scontrol``, ``sacctmgr``, ``sshare``, ``srun`` and
``scancel`` (all this one script), it runs each submitted job at once, on this
machine, and remembers every submission (``submissions.jsonl``) and each job's exit
status in ``$FAKE_SLURM_DIR``. ``FAKE_SLURM_KILL=<rule>`` makes the first job of
that rule die as if the scheduler killed it (SIGKILL after 7 iterations of its
synthesis, through ``PIPELINE_KILL_AT``).

Called as ``fake_slurm.py <command> <arguments...>``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_SLURM_DIR"])


def sbatch(args):
    jobs = sorted(STATE.glob("*.status"))
    job_id = 1000 + len(jobs)
    wrap = next(a.split("=", 1)[1] for a in args if a.startswith("--wrap="))
    options = [a for a in args if not a.startswith("--wrap=")]
    with open(STATE / "submissions.jsonl", "a") as log:
        log.write(
            json.dumps({"id": job_id, "options": options, "command": wrap}) + "\n"
        )
    env = dict(os.environ, SLURM_JOB_ID=str(job_id))
    victim = os.environ.get("FAKE_SLURM_KILL")
    killed = STATE / "killed"
    if victim and f"'{victim}:" in wrap and not killed.exists():
        killed.write_text(str(job_id))
        env["PIPELINE_KILL_AT"] = "iteration:7"
    # the job's output goes to its log (--output), as on a cluster, not to sbatch's
    log = (
        options[options.index("--output") + 1] if "--output" in options else os.devnull
    )
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as handle:
        status = subprocess.run(
            ["bash", "-c", wrap], env=env, stdout=handle, stderr=subprocess.STDOUT
        ).returncode
    (STATE / f"{job_id}.status").write_text("COMPLETED" if status == 0 else "FAILED")
    print(job_id)


def sacct(args):
    for path in sorted(STATE.glob("*.status")):
        print(f"{path.stem}|{path.read_text()}")


def srun(args):
    # srun [options] <command...>: run the command
    command = list(args)
    while command and command[0].startswith("-"):
        command.pop(0)
    sys.exit(subprocess.run(command).returncode)


def main():
    name, args = sys.argv[1], sys.argv[2:]
    if name == "sbatch":
        sbatch(args)
    elif name == "sacct":
        sacct(args)
    elif name == "srun":
        srun(args)
    elif name in ("sacctmgr", "sshare"):
        print("testaccount")
    elif name == "scontrol":
        print("MinJobAge = 300 sec")
    # sinfo, squeue, scancel: nothing to say


if __name__ == "__main__":
    main()
