"""How often, and how much, Hogwild's unlocked exchanges lose an update.

    python bench/hogwild_races.py --runs 2000

Two workers on two threads train one epoch of [784, 100, 10] (4,000 random samples,
mini-batch 10) with the exchange only at the end (``sync_every`` larger than the epoch).
Without races the result is exactly predictable: each worker trains its half of the
mini-batches from the same start, and the shared buffer ends as start + Δ₀ + Δ₁. Each
run's parameters are compared with that prediction (run on one thread, worker by
worker); a run that differs had the two end-of-epoch exchanges overlap on some elements
and one worker's Δ overwritten there. The script prints every such run (how many
elements, where, the largest error) and the count.

The kernel staggers the exchanges (worker t starts at element t·N/workers), which makes
an overlap touch few elements; see kernels/hogwild.py for the measured numbers.
"""
import argparse
import json

import numba
import numpy as np

import fastnn


def race_runs(runs, n=4000, sizes=(784, 100, 10), m=10, eta=0.1, seed=0):
    """Return (records, n_params): one record per run whose result differs from the
    race-free prediction: {"run", "elements", "first", "last", "max_error"}."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0]), dtype=np.float32)
    Y = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    net = fastnn.Network(list(sizes), seed=seed + 1, threads=2)
    engine = net._engine
    start = net.params.copy()
    order = np.arange(n, dtype=np.int64)
    n_batches = -(-n // m)
    cut = (n_batches // 2) * m  # the kernel's split: worker 0 gets batches [0, n_batches // 2)
    predicted = start.copy()
    for share in (order[:cut], order[cut:]):
        p = start.copy()
        engine.train_epoch(p, X, Y, share, m, eta, 0.0, n=n)
        predicted += p - start
    records = []
    for run in range(runs):
        p = start.copy()
        engine.train_epoch_async(p, X, Y, order, m, eta, 0.0, n=n, workers=2,
                                 sync_every=n_batches + 1)
        error = np.abs(p - predicted)
        wrong = np.flatnonzero(error > 1e-5 * (1 + np.abs(predicted)))
        if wrong.size:
            records.append({"run": run, "elements": int(wrong.size), "first": int(wrong[0]),
                            "last": int(wrong[-1]), "max_error": float(error.max())})
    return records, start.size


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--json", help="also write the records here")
    args = parser.parse_args(argv)
    records, size = race_runs(args.runs)
    for r in records:
        print(f"run {r['run']}: {r['elements']} of {size} parameters lost an update "
              f"(elements {r['first']}..{r['last']}, largest error {r['max_error']:.3g})")
    print(f"{len(records)} of {args.runs} runs lost updates "
          f"(threading layer {numba.threading_layer()})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": args.runs, "n_params": size, "records": records}, f, indent=1)


if __name__ == "__main__":
    main()
