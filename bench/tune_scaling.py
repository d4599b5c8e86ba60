"""Trials per minute of ``fastnn tune`` against the number of Dask workers.

One fixed grid search (default 24 trials: [784, 30, 10], 10,000 training samples, 3 epochs,
η × λ), run from an empty trial file in-process and then on an embedded LocalCluster of
1, 2, ... single-threaded workers. The cluster is started before the clock starts; the
time includes each worker's first load of the dataset and of the compiled kernels.

    python bench/tune_scaling.py                       # workers 1 .. every core
    python bench/tune_scaling.py --workers 1,2,4,8,16 --json scaling.json
"""
import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from fastnn import tune  # noqa: E402

GRID = {"eta": [0.05, 0.1, 0.2, 0.5, 1.0, 2.0], "lmbda": [0.0, 0.5, 5.0, 50.0]}
NETWORK = {"sizes": [784, 30, 10], "hidden_activation": "sigmoid",
           "output_activation": "sigmoid", "cost": "cross_entropy", "dtype": "float32"}


def one(runner, subset, epochs):
    with tempfile.TemporaryDirectory() as folder:
        with tune.Tuner(NETWORK, {"epochs": epochs, "mini_batch_size": 10},
                        train_subset=subset, validation_subset=2000,
                        trials=os.path.join(folder, "t.jsonl"), runner=runner,
                        say=lambda *a: None) as t:
            start = time.perf_counter()
            out = t.grid_search(GRID)
            seconds = time.perf_counter() - start
    n = len(out["trials"])
    return {"trials": n, "seconds": seconds, "trials_per_minute": 60 * n / seconds,
            "mean_trial_seconds": sum(r["result"]["wall_seconds"] for r in out["trials"]) / n}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    cores = os.cpu_count() or 1
    parser.add_argument("--workers", default=",".join(str(w) for w in range(1, cores + 1)),
                        help="comma-separated worker counts")
    parser.add_argument("--subset", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    rows = []
    print(f"{len(GRID['eta']) * len(GRID['lmbda'])} trials; {cores} cores "
          f"({platform.processor() or platform.machine()})", flush=True)
    r = one(tune.InProcessRunner(), args.subset, args.epochs)
    rows.append(dict(r, runner="in-process", workers=1))
    print(f"in-process        {r['seconds']:7.2f} s  {r['trials_per_minute']:7.1f} trials/min",
          flush=True)
    base = None
    for w in (int(v) for v in args.workers.split(",")):
        runner = tune.DaskRunner(workers=w)
        try:
            runner.client.wait_for_workers(w)
            r = one(runner, args.subset, args.epochs)
        finally:
            runner.close()
        base = base or r["trials_per_minute"]
        rows.append(dict(r, runner="dask", workers=w, speedup=r["trials_per_minute"] / base))
        print(f"Dask, {w:2d} workers  {r['seconds']:7.2f} s  {r['trials_per_minute']:7.1f} "
              f"trials/min  ×{r['trials_per_minute'] / base:.2f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cores": cores, "subset": args.subset, "epochs": args.epochs,
                       "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
