"""Where trials run: ``InProcessRunner`` (here, one after another) or ``DaskRunner`` (a
Dask cluster: an embedded LocalCluster or a scheduler address)."""
import json
import os
import time

from .. import _checks
from . import trials
from .trials import trial_key


class InProcessRunner:
    """Runs trials one after another in this process."""

    description = "in-process (one trial at a time)"
    workers = 1

    def run(self, specs):
        for spec in specs:
            yield trials.run_trial(spec)

    def close(self):
        pass


class DaskRunner:
    """Runs trials on Dask distributed: an embedded ``LocalCluster`` of ``workers``
    single-threaded worker processes (default: one per core), or the cluster whose
    scheduler is at ``scheduler`` (e.g. ``"tcp://10.0.0.5:8786"``). Workers need fastnn
    installed and the dataset at the same path (or the default one)."""

    def __init__(self, scheduler=None, workers=None, scheduler_file=None, timeout=60):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ImportError('running trials on Dask needs the dask extra: '
                              'pip install "fastnn[dask]"') from None
        self._cluster = None
        if scheduler is not None and scheduler_file is not None:
            raise ValueError("scheduler= and scheduler_file= exclude each other; give one")
        if scheduler_file is not None:
            scheduler_file = os.fspath(scheduler_file)
            deadline = time.monotonic() + timeout
            while not os.path.exists(scheduler_file) and time.monotonic() < deadline:
                time.sleep(0.1)
            try:
                with open(scheduler_file) as f:
                    scheduler = json.load(f)["address"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"scheduler_file={scheduler_file!r} is not a Dask scheduler "
                                 f"file written by `dask scheduler --scheduler-file` "
                                 f"({exc})") from None
        if scheduler is None:
            if workers is not None:
                _checks.check_positive("workers", workers, integer=True)
            n = int(workers or os.cpu_count() or 1)
            self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                         dashboard_address=None)
            self.client = Client(self._cluster)
            self.description = f"Dask LocalCluster, {n} single-threaded worker processes"
        else:
            if not isinstance(scheduler, str) or "://" not in scheduler:
                raise ValueError(f"scheduler={scheduler!r} is invalid; expected an address "
                                 f"such as tcp://host:8786")
            self.client = Client(scheduler, timeout=timeout)
            try:  # a search on a cluster without workers would wait for ever
                self.client.wait_for_workers(1, timeout=timeout)
            except TimeoutError:
                self.client.close()
                raise ValueError(f"no Dask worker joined the scheduler at {scheduler} within "
                                 f"{timeout} s; start some with: dask worker {scheduler} "
                                 f"--nthreads 1") from None
            n = len(self.client.scheduler_info().get("workers", {}))
            self.description = f"Dask cluster at {scheduler} ({n} workers when it started)"

    @property
    def workers(self):
        return max(1, len(self.client.scheduler_info().get("workers", {})))

    def run(self, specs):
        from distributed import as_completed
        futures = [self.client.submit(trials.run_trial, spec, key=f"fastnn-trial-{trial_key(spec)}",
                                      pure=False) for spec in specs]
        for future in as_completed(futures):
            result = future.result()
            future.release()
            yield result

    def close(self):
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_runner(scheduler=None, workers=None, in_process=False, scheduler_file=None):
    """``InProcessRunner`` when asked for (or when Dask is not installed and no scheduler
    was given, with a note), else ``DaskRunner``."""
    if in_process:
        if scheduler is not None or scheduler_file is not None:
            raise ValueError("in_process=True and a scheduler exclude each other")
        return InProcessRunner()
    if scheduler is not None or scheduler_file is not None:
        return DaskRunner(scheduler, workers, scheduler_file)
    if scheduler is None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            runner = InProcessRunner()
            runner.description += ' (Dask is not installed: pip install "fastnn[dask]")'
            return runner
    return DaskRunner(scheduler, workers)


# -- searches ---------------------------------------------------------------------

