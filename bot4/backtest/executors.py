"""Where a sweep's work units run: in this process, on local processes (every core), or on a Dask.distributed
cluster. All three take the same :class:`~bot4.backtest.sweep.WorkUnit` and give back its rows as units finish."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from bot4.backtest.sweep import WorkUnit, run_unit

Rows = list[dict[str, Any]]


class Executor:
    """Runs work units; ``parallelism`` is how many run at once."""

    name = "inline"
    parallelism = 1

    def run(self, units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Rows]]:
        for u in units:
            yield u, run_unit(u)

    def close(self) -> None:
        return None

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalExecutor(Executor):
    """A pool of local processes (forked: they start with the loaded modules; each loads the compiled kernels from
    the on-disk cache once, and its data once)."""

    def __init__(self, workers: int | None = None) -> None:
        self.parallelism = workers or os.cpu_count() or 1
        self.name = f"local x{self.parallelism}"
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
        self.pool = ProcessPoolExecutor(max_workers=self.parallelism, mp_context=ctx)

    def run(self, units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Rows]]:
        futures = {self.pool.submit(run_unit, u): u for u in units}
        for f in as_completed(futures):
            yield futures[f], f.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class DaskExecutor(Executor):
    """A Dask.distributed cluster: ``address`` is its scheduler (``tcp://HOST:8786``), or ``local`` for a
    ``LocalCluster`` of ``workers`` processes started here. Workers need bot4 installed and the data files at the
    same paths (the shipped sample is inside the package)."""

    def __init__(self, address: str, workers: int | None = None) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ValueError("--scheduler needs Dask.distributed: pip install 'bot4[sweep]'") from None
        self.cluster = None
        if address == "local":
            self.cluster = LocalCluster(
                n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
            )
            address = self.cluster.scheduler_address
        try:
            self.client = Client(address, timeout="10s")
        except (OSError, TimeoutError) as exc:
            if self.cluster is not None:
                self.cluster.close()
            raise ValueError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc})") from None
        n = sum(w.get("nthreads", 1) for w in self.client.scheduler_info().get("workers", {}).values())
        self.parallelism = max(1, n)
        self.name = f"dask {address} ({self.parallelism} worker threads)"

    def run(self, units: Sequence[WorkUnit]) -> Iterator[tuple[WorkUnit, Rows]]:
        from distributed import as_completed as dask_completed

        futures = self.client.map(run_unit, list(units), pure=False)
        owner = {f.key: u for f, u in zip(futures, units, strict=True)}
        for f in dask_completed(futures):
            yield owner[f.key], f.result()

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def make_executor(workers: int | None, scheduler: str | None) -> Executor:
    """Dask when a scheduler is named; else ``workers`` local processes (0: in this process)."""
    if scheduler:
        return DaskExecutor(scheduler, workers)
    if workers == 0:
        return Executor()
    return LocalExecutor(workers)
