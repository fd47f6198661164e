"""Run an experiment's grid: in local processes or as Ray tasks; resumable, with a live summary.

Every run has a fixed folder ``<storage>/<experiment>/<method>__<transform>__s<seed>``, so
re-running a sweep finds its own runs: a finished one (``finished.json``, see
``mtrl.finished``; the same for multi-task and ``stl`` runs) is skipped, an interrupted one
(``config.yaml``, no marker) continues from its newest checkpoint (``mtrl train --resume``;
with none it starts over in its folder), and a missing one starts. A worker process that
dies (SIGKILL, out of memory) fails its run with one line and stops the sweep starting
others.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from mtrl.config import RESUME_OVERRIDES, ConfigError, TrainConfig, build_config, to_dict
from mtrl.experiment import Experiment, RunSpec
from mtrl.finished import is_finished, mark_stopped, stopped_reason


@dataclass
class Outcome:
    """How one run of a sweep ended: done, stopped (it stopped itself: an outcome, never
    retried), skipped (done or stopped before), failed, interrupted."""

    name: str
    status: str
    message: str = ""


def run_state(run_dir: Path) -> str:
    """``done`` (``mtrl.finished.is_finished``), ``stopped`` (it stopped itself: ``stopped.json``),
    ``partial`` (has ``config.yaml``) or ``new``."""
    if is_finished(run_dir):
        return "done"
    if stopped_reason(run_dir) is not None:
        return "stopped"
    if (run_dir / "config.yaml").is_file():
        return "partial"
    return "new"


SKIPPED = ("done", "stopped")
"""The run states a sweep does not start again."""


def skip_message(run_dir: Path, state: str) -> str:
    """Why a sweep skips the run in ``run_dir`` (whose ``run_state`` is ``state``)."""
    if state == "stopped":
        return f"stopped itself earlier: {stopped_reason(run_dir)}"
    return "finished earlier"


def run_one(values: dict[str, Any], threads: int) -> tuple[str, str]:
    """Start, resume or skip one run in this process; return ``(status, message)``.

    Runs in a sweep worker (a local process or a Ray task): every error becomes a
    ``failed`` status with a one-line message instead of an exception. A run that stops
    itself (``TrainingStopped``) is marked ``stopped.json`` and reported ``stopped``: it
    would stop again from its checkpoint, so no later sweep retries it.
    """
    import torch

    from mtrl.events import read_scalars
    from mtrl.run_contract import TrainingStopped, load_run_config
    from mtrl.trainer import train

    torch.set_num_threads(max(1, threads))
    cfg = build_config(values)
    run_dir = Path(cfg.logdir) / str(cfg.run_name)
    try:
        state = run_state(run_dir)
        if state in SKIPPED:
            return "skipped", skip_message(run_dir, state)
        if state == "partial":
            saved = load_run_config(run_dir)
            keep = {f: getattr(cfg, f) for f in RESUME_OVERRIDES}
            result = train(dataclasses.replace(saved, **keep), run_dir)
        else:
            if run_dir.is_dir() and not any(run_dir.iterdir()):
                run_dir.rmdir()  # created by a run killed before it wrote anything
            result = train(cfg)
    except TrainingStopped as err:
        if (run_dir / "config.yaml").is_file():
            mark_stopped(run_dir, str(err))
        return "stopped", str(err)
    except ConfigError as err:
        return "failed", str(err)
    except Exception as err:  # a sweep reports a broken run and goes on with the others
        return "failed", f"{type(err).__name__}: {err}"
    if result.signal is not None:
        return "interrupted", f"stopped at step {result.step}; re-run the sweep to continue"
    success = read_scalars(result.run_dir).get("success/mean", [])
    return "done", f"success/mean {success[-1][1]:.2f}" if success else "done"


def default_parallel() -> int:
    """Runs at once by default: one per core (each single-threaded).

    Small study-sized runs are many small ops that a second thread barely shares: on
    2 cores, two one-thread runs finish 1.5× the runs per hour of one two-thread run
    (BENCHMARKS.md, "Runs per hour").
    """
    return max(1, os.cpu_count() or 1)


def threads_per_run(parallel: int) -> int:
    """Torch threads of each of ``parallel`` local runs: the cores shared out, at least 1."""
    return max(1, (os.cpu_count() or 1) // parallel)


@contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """Within the block, worker processes started use ``threads`` BLAS/OpenMP threads.

    Spawned workers inherit the environment, and the thread pools read it when torch
    loads, before ``torch.set_num_threads`` runs; without it each pool would start with
    a thread per core and spin against the other runs. The environment is restored after.
    """
    names = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    saved = {n: os.environ.get(n) for n in names}
    os.environ.update(dict.fromkeys(names, str(threads)))
    try:
        yield
    finally:
        for n, v in saved.items():
            if v is None:
                os.environ.pop(n, None)
            else:
                os.environ[n] = v


@contextmanager
def forward_sigterm() -> Iterator[None]:
    """Within the block, a SIGTERM to this process is passed on to its worker processes.

    A batch system or ``kill`` may signal the sweep alone; its workers would otherwise
    train on, orphaned. They checkpoint and stop as on their own SIGTERM, report
    ``interrupted``, and the sweep starts no other run. (Only from the main thread.)
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: object) -> None:
        for child in multiprocessing.active_children():
            if child.pid is not None:
                os.kill(child.pid, signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Progress:
    """The live summary: one line on stderr per finished run."""

    def __init__(self, experiment: Experiment, parallel: int, out: Callable[[str], None]):
        self.total, self.parallel, self.out = len(experiment.runs), parallel, out
        self.outcomes: list[Outcome] = []

    def add(self, outcome: Outcome) -> None:
        """Record one finished run and print the summary line."""
        self.outcomes.append(outcome)
        statuses = ("done", "skipped", "failed", "stopped", "interrupted")
        count = {s: sum(o.status == s for o in self.outcomes) for s in statuses}
        left = self.total - len(self.outcomes)
        self.out(
            f"[{len(self.outcomes)}/{self.total}] {count['done']} done · {count['skipped']} "
            f"skipped · {min(left, self.parallel)} running · {left} left · "
            f"{count['failed']} failed"
            + "".join(f" · {count[s]} {s}" for s in ("stopped", "interrupted") if count[s])
            + f" — {outcome.name}: {outcome.status}"
            + (f" ({outcome.message})" if outcome.message else "")
        )


def worker_vector(vector: str, threads: int) -> str:
    """A run's vector env in a sweep: ``auto`` becomes ``sync`` when the run has one core.

    An async vector env steps each task in its own process; with one core per run (the
    default: one run per core) those processes have no core of their own and spin
    against the other runs, so a sweep counts them against the run's cores.
    """
    return "sync" if vector == "auto" and threads <= 1 else vector


def _values(spec: RunSpec, device: str | None, threads: int) -> dict[str, Any]:
    cfg: TrainConfig = spec.config
    changes: dict[str, Any] = {
        "progress": False,
        "logdir": str(Path(cfg.logdir).resolve()),
        "vector": worker_vector(cfg.vector, threads),
    }
    if device is not None:
        changes["device"] = device
    return to_dict(dataclasses.replace(cfg, **changes))


def _skip_finished(experiment: Experiment, progress: Progress) -> list[RunSpec]:
    """Report the runs that finished in an earlier sweep; return the others."""
    todo = []
    for spec in experiment.runs:
        run_dir = Path(spec.config.logdir) / spec.name
        if (state := run_state(run_dir)) in SKIPPED:
            progress.add(Outcome(spec.name, "skipped", skip_message(run_dir, state)))
        else:
            todo.append(spec)
    return todo


WORKER_DIED = "its worker process died (killed, or out of memory); re-run the sweep to continue"


def _outcome(name: str, future: Future) -> Outcome:
    """The outcome ``run_one`` returned, or ``failed`` when its worker process died."""
    try:
        return Outcome(name, *future.result())
    except BrokenProcessPool:  # the pool ends every run in flight with it
        return Outcome(name, "failed", WORKER_DIED)


def run_local(
    experiment: Experiment,
    max_parallel: int,
    device: str | None = None,
    out: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[Outcome]:
    """Run the grid in ``max_parallel`` worker processes on this machine."""
    threads = threads_per_run(max_parallel)
    progress = Progress(experiment, max_parallel, out)
    todo = _skip_finished(experiment, progress)
    if not todo:
        return progress.outcomes
    with blas_threads(threads), forward_sigterm():  # the workers spawned below inherit it
        pool = ProcessPoolExecutor(max_parallel, mp_context=get_context("spawn"))
        waiting = iter(todo)
        running: dict[Future, str] = {}
        stopping = False

        def submit_next() -> None:
            spec = next(waiting, None)
            if spec is not None:
                running[pool.submit(run_one, _values(spec, device, threads), threads)] = spec.name

        try:
            for _ in range(max_parallel):
                submit_next()
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcome = _outcome(running.pop(future), future)
                    progress.add(outcome)
                    # a signal reached the runs (Ctrl-C, a batch system's SIGTERM) or a worker
                    # died (which breaks the pool): start no others
                    ended = outcome.status == "interrupted" or outcome.message == WORKER_DIED
                    stopping = stopping or ended
                    if not stopping:
                        submit_next()
        except KeyboardInterrupt:
            # the workers got the Ctrl-C too: their runs checkpoint and stop
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown()
        for spec in waiting:
            progress.add(Outcome(spec.name, "interrupted", "not started"))
    return progress.outcomes


def run_ray(
    experiment: Experiment,
    address: str | None,
    cpus_per_run: float,
    gpus_per_run: float,
    device: str | None = None,
    out: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    **init: Any,
) -> list[Outcome]:
    """Run the grid as Ray tasks on the cluster at ``address`` (None: start a local one).

    Run folders must be on storage every node sees (``--storage``).
    """
    try:
        import ray
    except ImportError:
        raise ConfigError("--backend ray needs Ray: pip install -e '.[ray]'") from None

    progress = Progress(experiment, 1, out)
    todo = _skip_finished(experiment, progress)
    if not todo:
        return progress.outcomes
    ray.init(address=address, log_to_driver=False, **init)
    try:
        resources = ray.cluster_resources()
        parallel = max(1, int(resources.get("CPU", 1) // max(cpus_per_run, 1e-9)))
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)(run_one)
        if device is None and gpus_per_run > 0:
            device = "cuda"
        threads = max(1, int(cpus_per_run))
        pending = {task.remote(_values(spec, device, threads), threads): spec.name for spec in todo}
        progress.parallel = parallel
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                name = pending.pop(ref)
                try:
                    status, message = ray.get(ref)
                except Exception as err:  # the worker itself died (out of memory, node lost)
                    status, message = "failed", f"{type(err).__name__}: {str(err).splitlines()[0]}"
                progress.add(Outcome(name, status, message))
        return progress.outcomes
    finally:
        ray.shutdown()


def exit_code(outcomes: list[Outcome]) -> int:
    """0 when every run reached an end (finished, or stopped itself), 1 when any failed or
    was interrupted."""
    return 0 if all(o.status in ("done", "stopped", "skipped") for o in outcomes) else 1


def report_failures(outcomes: list[Outcome], out: Callable[[str], None]) -> None:
    """One line per run that did not finish (or stopped itself), with its error."""
    for o in outcomes:
        if o.status not in ("done", "skipped"):
            out(f"{o.status}: {o.name}: {o.message}")
