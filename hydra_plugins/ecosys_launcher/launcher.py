"""hydra-submitit-launcher's SLURM launcher with `runs_per_job`: K cells of a grid in
one SLURM job (one array task), run one after another.

Small runs (the synthetic world; OPT-125m on a big GPU) waste an allocation each, and
clusters cap array sizes. With runs_per_job = K the sweep's cells are cut, in sweep
order, into groups of K; a group's job runs each cell through Hydra's run_job exactly
as the stock launcher's job runs its one cell: its own run dir, W&B run, run store. On
preemption or timeout submitit requeues the whole job, which runs its cells again: the
finished ones are no-ops (their run stores say so), the interrupted one resumes.
With K = 1 this is hydra-submitit-launcher's SlurmLauncher, unchanged.
"""

# no `from __future__ import annotations`: Hydra's plugin scan runs this module before it
# is in sys.modules, where dataclass looks string annotations up
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher
from omegaconf import OmegaConf

if TYPE_CHECKING:  # submitit is imported lazily, as Hydra asks of plugins: discovery stays fast
    import submitit

log = logging.getLogger(__name__)

# one cell, as BaseSubmititLauncher.__call__ takes it:
# (overrides, job_dir_key, job_num, job_id, singleton_state)
Cell = tuple[list[str], str, int, str, dict]


@dataclass
class PackedSlurmConf(SlurmQueueConf):
    """The stock SLURM launcher's options, and runs_per_job (conf/hydra/launcher/slurm.yaml)."""

    _target_: str = "hydra_plugins.ecosys_launcher.launcher.PackedSlurmLauncher"
    runs_per_job: int = 1


ConfigStore.instance().store(
    group="hydra/launcher", name="ecosys_slurm", node=PackedSlurmConf, provider="ecosys"
)


class PackedSlurmLauncher(SlurmLauncher):
    """SlurmLauncher submitting one job per runs_per_job cells (PackedJob runs them)."""

    def __init__(self, runs_per_job: int = 1, **params: Any) -> None:
        if runs_per_job < 1:
            raise ValueError(f"hydra.launcher.runs_per_job must be 1 or more, not {runs_per_job}")
        super().__init__(**params)
        self.runs_per_job = runs_per_job

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        """One JobReturn per cell, in sweep order, as Hydra's sweepers expect."""
        if self.runs_per_job == 1:
            return super().launch(job_overrides, initial_job_idx)
        assert self.config is not None and job_overrides
        executor = self._executor()
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {sweep_dir}")
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        state = Singleton.get_state()
        cells: list[Cell] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            cells.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", state))
        k = self.runs_per_job
        groups = [cells[i : i + k] for i in range(0, len(cells), k)]
        log.info(f"\t{len(cells)} runs in {len(groups)} jobs of up to {k}, each run in turn")
        for n, group in enumerate(groups):
            for cell in group:
                log.info(f"\t#{cell[2]} (job {n}) : {' '.join(filter_overrides(cell[0]))}")
        jobs = executor.map_array(PackedJob(self), groups)
        # results()[0]: the first task's (rank 0's), as the stock launcher takes it
        return [ret for job in jobs for ret in job.results()[0]]

    def _executor(self) -> "submitit.AutoExecutor":
        """The executor BaseSubmititLauncher.launch builds (hydra-submitit-launcher 1.2),
        which it does not expose: the folder and max_num_timeout at init, the rest as
        parameters, the queue-specific ones prefixed with the cluster's name."""
        import submitit

        init_keys = {"submitit_folder", "max_num_timeout"}
        init = {f"{self._EXECUTOR}_max_num_timeout": self.params["max_num_timeout"]}
        executor = submitit.AutoExecutor(
            cluster=self._EXECUTOR, folder=self.params["submitit_folder"], **init
        )
        shared = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{
                k if k in shared else f"{self._EXECUTOR}_{k}": v
                for k, v in self.params.items()
                if k not in init_keys
            }
        )
        return executor


class PackedJob:
    """What one SLURM job of a packed sweep runs: its cells in turn, through the
    launcher's own per-cell __call__. One cell's failure is that cell's JobReturn and
    the next cell still runs, as when each had a job of its own."""

    def __init__(self, launcher: "PackedSlurmLauncher") -> None:
        self.launcher = launcher
        self.stopping = False  # submitit has checkpointed: the job is being requeued or ends

    def __call__(self, cells: list[Cell]) -> list[JobReturn]:
        results = []
        for cell in cells:
            try:
                ret = self.launcher(*cell)
            except SystemExit as stop:
                if self.stopping:  # submitit's exit after requeuing the job
                    raise
                # ecosys refusing this one cell (a config error, a run locked elsewhere):
                # the next cell goes on; the refusal is in the job's stderr
                import submitit

                stderr = submitit.JobEnvironment().paths.stderr
                error = RuntimeError(f"the run exited with status {stop.code}: see {stderr}")
                ret = JobReturn(overrides=cell[0], status=JobStatus.FAILED, _return_value=error)
            if self.stopping and ret.status == JobStatus.FAILED:
                # submitit would not requeue (timed out too many times): the job is over
                raise ret._return_value
            results.append(ret)
        return results

    def checkpoint(self, cells: list[Cell]) -> "submitit.helpers.DelayedSubmission":
        """Called by submitit on SIGUSR2 before it requeues the job: the requeued job
        starts the whole group again (a fresh PackedJob, not one that is stopping)."""
        import submitit

        self.stopping = True
        return submitit.helpers.DelayedSubmission(PackedJob(self.launcher), cells)
