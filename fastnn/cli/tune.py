"""``fastnn tune``: hyperparameter search from the command line (the search is fastnn.tune)."""
import json
import sys
import time

from .. import _checks
from ..tune import NETWORK_ARGS, Tuner, fmt, make_runner, parse_space_value
from ._common import _network_arguments


def _numbers(option, text, kind=float):
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        what = "integers" if kind is int else "numbers"
        raise ValueError(f"{option}={text!r} is invalid; expected comma-separated {what}")
    return values


def add_parser(commands):
    """``fastnn tune``'s argparse subcommand (--sizes, --cost, --hidden-activation and
    --output-activation as ``fastnn train`` has them)."""
    import argparse
    tune = commands.add_parser(
        "tune", help="search hyperparameters: the seeds' recipe, grid or random search",
        description="Without --grid or --random, run the seeds' recipe: (1) trials on a "
                    "data subset, (2) the threshold eta at which the training cost stops "
                    "falling, halved, (3) lambda by factors of 10 on validation accuracy, "
                    "(4) eta again and the mini-batch size, (5) a final run on all the data "
                    "with early stopping and the halving schedule, and the test accuracy. "
                    "Trials run on Dask (an embedded LocalCluster, one single-threaded "
                    "worker per core, or --scheduler) and are written to --trials as they "
                    "finish: running the same command again resumes.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _network_arguments(tune, [784, 30, 10])
    tune.add_argument("--grid", action="append", default=[], metavar="NAME=V1,V2,...",
                      help="grid search over NAME (any fit argument, or sizes as 784-30-10); "
                           "repeat for more names")
    tune.add_argument("--random", type=int, default=None, metavar="N",
                      help="random search of N trials over the --space distributions")
    tune.add_argument("--space", action="append", default=[], metavar="NAME=DIST",
                      help="for --random: log:LO:HI, uniform:LO:HI, int:LO:HI or "
                           "choice:A,B,...; repeat for more names")
    tune.add_argument("--eta", type=float, default=0.5, help="eta of grid/random trials")
    tune.add_argument("--lmbda", type=float, default=0.0,
                      help="lambda of grid/random trials")
    tune.add_argument("--mini-batch-size", type=int, default=10,
                      help="mini-batch size of the recipe's first steps and of grid/random "
                           "trials")
    tune.add_argument("--epochs", type=int, default=10,
                      help="epochs per trial (the recipe's lambda, eta and mini-batch steps)")
    tune.add_argument("--threshold-epochs", type=int, default=3,
                      help="epochs over which the training cost must fall (recipe step 2)")
    tune.add_argument("--etas", default=None, metavar="E1,E2,...",
                      help="the eta decades of step 2 (default 1e-4,...,100)")
    tune.add_argument("--lmbdas", default=None, metavar="L1,L2,...",
                      help="the lambda values of step 3 (default 0,1e-3,...,100)")
    tune.add_argument("--batch-sizes", default="1,5,10,20,50,100",
                      help="mini-batch sizes of step 4")
    tune.add_argument("--trial-sizes", default=None, metavar="SIZES",
                      help="a smaller network for the recipe's trials, e.g. 784,10")
    tune.add_argument("--subset", type=int, default=10000,
                      help="training samples per trial (0: all)")
    tune.add_argument("--validation-subset", type=int, default=2000,
                      help="validation samples per trial (0: all)")
    tune.add_argument("--final-epochs", type=int, default=60, help="final run's epoch limit")
    tune.add_argument("--patience", type=int, default=5,
                      help="final run: epochs without a better validation accuracy before "
                           "eta is halved (early stopping waits 4 times as long)")
    tune.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    tune.add_argument("--seed", type=int, default=0, help="seeds every trial and the subsets")
    tune.add_argument("--data", default=None,
                      help="dataset folder or mnist.pkl.gz (default as for fastnn train)")
    tune.add_argument("--trials", default="fastnn-trials.jsonl",
                      help="JSON-lines file of finished trials (resumed when it exists)")
    tune.add_argument("--scheduler", default=None, metavar="ADDRESS",
                      help="a running Dask scheduler, e.g. tcp://host:8786 (default: an "
                           "embedded LocalCluster)")
    tune.add_argument("--scheduler-file", default=None, metavar="FILE",
                      help="the file `dask scheduler --scheduler-file FILE` writes (waited "
                           "for, up to a minute)")
    tune.add_argument("--workers", type=int, default=None,
                      help="workers of the embedded LocalCluster (default: one per core)")
    tune.add_argument("--in-process", action="store_true",
                      help="run the trials here, one after another, without Dask")
    tune.add_argument("--output", default="fastnn-tuned.npz",
                      help="where the recipe saves its final network")
    tune.add_argument("--json", default=None, help="write the search's summary as JSON here")
    tune.add_argument("--quiet", action="store_true", help="print only the final summary")
    return tune


def run(args):
    """Run ``fastnn tune`` for parsed ``args``; returns the exit status."""
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    for name in ("epochs", "threshold_epochs", "final_epochs", "patience", "mini_batch_size"):
        _checks.check_positive("--" + name.replace("_", "-"), getattr(args, name), integer=True)
    for name in ("subset", "validation_subset"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')}={getattr(args, name)} is invalid; "
                             f"expected a sample count >= 0 (0: all)")
    if args.random is not None:
        _checks.check_positive("--random", args.random, integer=True)
    if args.grid and args.random is not None:
        raise ValueError("--grid and --random exclude each other; choose one search")
    if args.space and args.random is None:
        raise ValueError("--space needs --random N (the number of trials to draw)")
    if args.random is not None and not args.space:
        raise ValueError("--random needs at least one --space NAME=DIST")

    def parse(option, items, random):
        out = {}
        for item in items:
            name, eq, text = item.partition("=")
            name = name.strip().replace("-", "_")
            if not eq or not name or not text:
                raise ValueError(f"{option} {item!r} is invalid; expected NAME=VALUES")
            out[name] = parse_space_value(name, text, random)
        return out

    grid = parse("--grid", args.grid, False)
    space = parse("--space", args.space, True)
    Tuner.check_fit_names({n: v for n, v in {**grid, **space}.items()
                            if n not in NETWORK_ARGS})
    output_activation = args.output_activation or (
        "softmax" if args.cost == "log_likelihood" else "sigmoid")
    network = {"sizes": list(args.sizes), "hidden_activation": args.hidden_activation,
               "output_activation": output_activation, "cost": args.cost, "dtype": args.dtype}
    fit = {"mini_batch_size": args.mini_batch_size}
    if grid or space:
        fit.update(eta=args.eta, lmbda=args.lmbda, epochs=args.epochs)
    recipe_args = {}
    if not (grid or space):
        recipe_args = dict(
            threshold_epochs=args.threshold_epochs, epochs=args.epochs,
            etas=None if args.etas is None else _numbers("--etas", args.etas),
            lmbdas=None if args.lmbdas is None else _numbers("--lmbdas", args.lmbdas),
            batch_sizes=_numbers("--batch-sizes", args.batch_sizes, int),
            trial_sizes=None if args.trial_sizes is None else
            _numbers("--trial-sizes", args.trial_sizes, int),
            final_epochs=args.final_epochs, patience=args.patience, output=args.output)
    runner = make_runner(args.scheduler, args.workers, args.in_process, args.scheduler_file)
    tuner = None
    try:
        with Tuner(network, fit, data=args.data, train_subset=args.subset or None,
                   validation_subset=args.validation_subset or None, trials=args.trials,
                   runner=runner, seed=args.seed, say=say) as tuner:
            start = time.perf_counter()
            if grid:
                out = tuner.grid_search(grid)
            elif space:
                out = tuner.random_search(space, args.random)
            else:
                out = tuner.recipe(**recipe_args)
            seconds = time.perf_counter() - start
            ran = tuner.search.ran
    except KeyboardInterrupt:
        done = 0 if tuner is None else len(tuner.store.records)
        print(f"fastnn tune: interrupted; {done} finished trials are in {args.trials}: the "
              f"same command goes on from there", file=sys.stderr, flush=True)
        return 130
    finally:
        runner.close()
    if grid or space:
        best = out["best"]
        args_shown = {**best["spec"]["network"], **best["spec"]["fit"]}
        chosen = {n: args_shown[n] for n in (grid or space)}
        summary = {"search": "grid" if grid else "random", "best": chosen,
                   "validation_accuracy": best["result"]["validation_accuracy"],
                   "trials": len(out["trials"])}
        print(f"best of {len(out['trials'])} trials: "
              + ", ".join(f"{k} {v}" for k, v in chosen.items())
              + f" (validation accuracy {best['result']['validation_accuracy']:.4f}); "
              f"{ran} trials run in {seconds:.1f} s; trials in {args.trials}", flush=True)
    else:
        summary = {k: v for k, v in out.items() if k != "final"}
        print(f"tuned: eta {out['eta']:g}, lambda {out['lmbda']:g}, mini-batch "
              f"{out['mini_batch_size']}; test accuracy {fmt(out['test_accuracy'])}; "
              f"{ran} trials run in {seconds:.1f} s; model saved to {args.output}; trials in "
              f"{args.trials}", flush=True)
    summary.update(seconds=seconds, trials_run=ran, trials_file=args.trials)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: fastnn tune (python -m fastnn tune --help)")
