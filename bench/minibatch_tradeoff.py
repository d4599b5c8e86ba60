"""Mini-batch size against accuracy per second of training (docs/profiling-study.md).

    python bench/minibatch_tradeoff.py                        # [784,30,10], 12 s per run
    python bench/minibatch_tradeoff.py --budget 4 --batches 1,10,100 --json out.json
    python bench/minibatch_tradeoff.py --plot docs/profiling  # also minibatch-tradeoff.png

For each mini-batch size m, a fresh network (same seed) trains epoch after epoch on the
training set until its training time (``fit``'s per-epoch seconds, which leave out
monitoring) reaches the budget; after every epoch the validation accuracy is recorded
against the cumulative training seconds. Two learning-rate rules: η fixed at the book's
0.5 (the mean gradient's step does not grow with m, so a large m makes fewer steps of the
same size), and η = 0.5 √(m/10) (larger steps for the less noisy gradient of a large
mini-batch). The table gives seconds per epoch, updates per second, and the validation
accuracy reached after 1, 3 and the full budget of seconds (the best epoch so far), and
the last epoch's. ``--load`` prints and plots a saved ``--json`` result without training.
"""
import argparse
import json
import os
import sys

import fastnn
from fastnn.data import load_dataset

RULES = {"fixed": lambda m: 0.5, "sqrt": lambda m: 0.5 * (m / 10) ** 0.5}


def run(m, rule, sizes, budget, data, lmbda, seed, max_epochs):
    X, y = data.train
    eta = RULES[rule](m)
    warm = fastnn.Network(sizes, "sigmoid", "sigmoid", "cross_entropy", seed=seed, threads=1)
    warm.fit(X[:m * 2], y[:m * 2], epochs=1, mini_batch_size=m, eta=eta)  # compile, warm up
    # every run starts from the same parameters and the same shuffles
    net = fastnn.Network(sizes, "sigmoid", "sigmoid", "cross_entropy", seed=seed, threads=1)
    seconds, accuracy, elapsed = [], [], 0.0
    while elapsed < budget and len(seconds) < max_epochs:
        h = net.fit(X, y, epochs=1, mini_batch_size=m, eta=eta, lmbda=lmbda,
                    evaluation_data=data.validation)
        elapsed += h["seconds"][0]
        seconds.append(elapsed)
        accuracy.append(h["evaluation_accuracy"][0])
    n = X.shape[0]
    return {"m": m, "rule": rule, "eta": eta, "epochs": len(seconds),
            "seconds_per_epoch": seconds[-1] / len(seconds),
            "updates_per_second": len(seconds) * -(-n // m) / seconds[-1],
            "cumulative_seconds": seconds, "validation_accuracy": accuracy}


def accuracy_at(result, t):
    """The best validation accuracy of the epochs that ended by t seconds (what early
    stopping would keep; None: none ended). One epoch's accuracy moves by a point or more
    from epoch to epoch at η = 0.5, so the last one alone would be noise."""
    best = None
    for s, a in zip(result["cumulative_seconds"], result["validation_accuracy"]):
        if s <= t and (best is None or a > best):
            best = a
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="784,30,10")
    p.add_argument("--batches", default="1,4,10,32,100,256,1024")
    p.add_argument("--rules", default="fixed,sqrt", help="learning-rate rules: fixed, sqrt")
    p.add_argument("--budget", type=float, default=12.0, help="training seconds per run")
    p.add_argument("--max-epochs", type=int, default=200)
    p.add_argument("--lmbda", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--plot", default=None, metavar="FOLDER")
    p.add_argument("--load", default=None, metavar="JSON",
                   help="print (and plot) a result saved with --json instead of training")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    batches = [int(s) for s in args.batches.split(",")]
    rules = [r for r in args.rules.split(",") if r]
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        p.error(f"--rules: unknown {unknown}; expected from {list(RULES)}")
    if args.load:
        with open(args.load) as f:
            saved = json.load(f)
        results = saved["runs"]
        rules = list(dict.fromkeys(r["rule"] for r in results))
        source = saved["data"]
        header = (f"data: {source}; network {saved['sizes']}, sigmoid, cross-entropy, "
                  f"lambda {saved['lmbda']}, one thread, {saved['budget']:g} s of training per run")
        args.budget = saved["budget"]
    else:
        data = load_dataset(args.data)
        source = data.description
        results = []
        header = (f"data: {source}; network {sizes}, sigmoid, cross-entropy, lambda "
                  f"{args.lmbda}, one thread, {args.budget:g} s of training per run")
    print(header)
    print(f"{'rule':>6} {'m':>5} {'eta':>6} {'epochs':>6} {'s/epoch':>8} {'updates/s':>10} "
          f"{'best@1s':>7} {'best@3s':>7} {'best':>7} {'last':>7}")

    def line(r):
        cells = [accuracy_at(r, 1.0), accuracy_at(r, 3.0), accuracy_at(r, args.budget * 2),
                 r["validation_accuracy"][-1]]
        print(f"{r['rule']:>6} {r['m']:>5} {r['eta']:6.3f} {r['epochs']:>6} "
              f"{r['seconds_per_epoch']:8.3f} {r['updates_per_second']:10.0f} "
              + " ".join("      -" if c is None else f"{c:7.4f}" for c in cells), flush=True)
    if args.load:
        for r in results:
            line(r)
    else:
        for rule in rules:
            for m in batches:
                r = run(m, rule, sizes, args.budget, data, args.lmbda, args.seed,
                        args.max_epochs)
                results.append(r)
                line(r)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": sizes, "budget": args.budget, "lmbda": args.lmbda,
                       "data": source, "runs": results}, f, indent=1)
    if args.plot:
        from fastnn.plot import figure

        os.makedirs(args.plot, exist_ok=True)
        fig = figure(figsize=(6 * len(rules), 4.5))
        axes = fig.subplots(1, len(rules), squeeze=False)
        for ax, rule in zip(axes[0], rules):
            for r in results:
                if r["rule"] == rule:
                    ax.plot(r["cumulative_seconds"], r["validation_accuracy"], ".-",
                            label=f"m={r['m']}")
            ax.set_xscale("log")
            ax.set_xlabel("training seconds (cumulative)")
            ax.set_ylabel("validation accuracy")
            ax.set_ylim(0.6, 0.9)
            ax.set_title(f"eta rule: {rule}", fontsize=9)
            ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(args.plot, "minibatch-tradeoff.png")
        fig.savefig(path, dpi=110)
        print(f"figure written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
