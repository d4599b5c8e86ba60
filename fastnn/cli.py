"""The ``fastnn`` command line: ``fastnn train`` trains on the default dataset.

Run ``fastnn train --help`` for the options. Errors in the arguments or the data are
reported on one line, naming the argument or file, with exit status 2.
"""
import argparse
import json
import sys
import time

import numpy as np

from . import __version__, _checks, _threads
from ._io import ModelFileError
from .checkpoint import CheckpointError
from .data import DataError, load_dataset
from .augment import Augmenter
from .network import Network, TrainingDiverged
from .schedules import HalveOnPlateau


def _sizes(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers")
    return sizes


HIDDEN_CHOICES = ["sigmoid", "tanh", "relu", "identity", "leaky_relu", "elu", "swish"]
OUTPUT_CHOICES = ["sigmoid", "tanh", "relu", "identity", "softmax"]
COST_CHOICES = ["cross_entropy", "log_likelihood", "quadratic"]


def _network_arguments(parser, sizes):
    """--sizes, --cost, --hidden-activation and --output-activation, as train and profile
    share them."""
    parser.add_argument("--sizes", type=_sizes, default=sizes,
                        help="layer sizes, input first, comma-separated")
    parser.add_argument("--cost", default="cross_entropy", choices=COST_CHOICES,
                        help="cost function")
    parser.add_argument("--hidden-activation", default="sigmoid", choices=HIDDEN_CHOICES,
                        help="hidden layers' activation (leaky_relu α 0.01, elu α 1, swish β 1)")
    parser.add_argument("--output-activation", default=None, choices=OUTPUT_CHOICES,
                        help="output activation (default: softmax for log_likelihood, else "
                             "sigmoid)")


def _parser():
    parser = argparse.ArgumentParser(
        prog="fastnn", description="Fast training of fully connected networks on the CPU.")
    parser.add_argument("--version", action="version", version=f"fastnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    train = commands.add_parser(
        "train", help="train a network on the default dataset (Fashion-MNIST)",
        description="Train a network with mini-batch SGD. The defaults are the book's chapter-3 "
                    "settings: [784, 30, 10] sigmoid neurons, cross-entropy, 30 epochs, "
                    "mini-batch 10, eta 0.5, lambda 5.0. Data: --data, else $FASTNN_DATA, else "
                    "the full Fashion-MNIST in /usr/share/datasets/fashion-mnist (Debian package "
                    "dataset-fashion-mnist), else the small sample shipped with fastnn.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _network_arguments(train, [784, 30, 10])
    train.add_argument("--epochs", type=int, default=30, help="passes over the training data")
    train.add_argument("--mini-batch-size", type=int, default=10, help="samples per update")
    train.add_argument("--eta", type=float, default=0.5, help="learning rate")
    train.add_argument("--lmbda", type=float, default=5.0,
                       help="L2 regularization strength (weights decay by 1 - eta*lmbda/n)")
    train.add_argument("--initializer", default="default",
                       choices=["default", "large", "glorot", "he"],
                       help="weights N(0, 1/n_in) (default), N(0, 1) (large), "
                            "N(0, 2/(n_in+n_out)) (glorot) or N(0, 2/n_in) (he)")
    train.add_argument("--optimizer", default="sgd",
                       choices=["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam",
                                "amsgrad"], help="update rule (PyTorch's defaults; see fastnn.optim)")
    train.add_argument("--l1", type=float, default=0.0, help="L1 regularization strength")
    train.add_argument("--clip-norm", type=float, default=None, metavar="C",
                       help="scale every mini-batch's gradient down to norm C when above it")
    train.add_argument("--dropout", type=float, default=0.0,
                       help="probability of dropping each hidden unit per mini-batch")
    train.add_argument("--early-stopping", type=int, default=None, metavar="N",
                       help="stop after N epochs without a better validation accuracy, and "
                            "keep the best epoch's parameters")
    train.add_argument("--halve-eta", type=int, default=None, metavar="N",
                       help="the seeds' schedule: halve eta after N epochs without a better "
                            "validation accuracy; stop when it reaches eta/1024")
    train.add_argument("--augment", action="store_true",
                       help="train each epoch on randomly rotated (±10°), shifted (±2 px) and "
                            "skewed copies of the images")
    train.add_argument("--threads", type=int, default=None,
                       help="engine and BLAS threads (default: $FASTNN_NUM_THREADS, else "
                            "every core)")
    train.add_argument("--hogwild", action="store_true",
                       help="asynchronous lock-free SGD on every thread (plain SGD only; "
                            "faster on many cores, not deterministic)")
    train.add_argument("--checkpoint", default=None, metavar="FOLDER",
                       help="write a checkpoint into FOLDER every --checkpoint-every epochs "
                            "(atomic; the newest two are kept)")
    train.add_argument("--checkpoint-every", type=int, default=1, metavar="K",
                       help="epochs between checkpoints")
    train.add_argument("--checkpoint-batches", type=int, default=None, metavar="N",
                       help="also checkpoint every N mini-batches within an epoch")
    train.add_argument("--resume", action="store_true",
                       help="go on from the newest checkpoint in --checkpoint (same arguments)")
    train.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                       help="float32 for speed, float64 for exactness")
    train.add_argument("--seed", type=int, default=0, help="seeds the weights and the shuffling")
    train.add_argument("--data", default=None,
                       help="folder of IDX files (MNIST layout) or the book's mnist.pkl.gz")
    train.add_argument("--output", default="fastnn-model.npz", help="where to save the model")
    train.add_argument("--history", default=None, help="also write the per-epoch history as JSON")
    train.add_argument("--quiet", action="store_true", help="print only the final summary")
    bench = commands.add_parser(
        "bench", help="time the engine against the NumPy matrix version; optionally gate",
        description="Time one epoch of the engine and of the NumPy matrix version on configs "
                    "A [784,30,10], B [784,100,10] (mini-batch 10) and C [784,1024,1024,10] "
                    "(mini-batch 128), interleaved, and print the medians and their ratio. "
                    "With --gate BASELINE, exit 1 when a ratio fell by more than the "
                    "tolerance below the baseline's.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    bench.add_argument("--configs", default="A,B", help="comma-separated configs (A, B, C)")
    bench.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    bench.add_argument("--threads", default="1",
                       help="engine and BLAS threads: a count, or 'all' (every core)")
    bench.add_argument("--repeats", type=int, default=5, help="timed epochs per implementation")
    bench.add_argument("--samples", type=int, default=10000, help="samples per timed epoch")
    bench.add_argument("--json", default=None, help="write the result as JSON to this path")
    bench.add_argument("--gate", default=None, metavar="BASELINE",
                       help="compare the ratios with this baseline file; exit 1 on a drop")
    bench.add_argument("--tolerance", type=float, default=0.25,
                       help="allowed relative drop of a ratio below the baseline's")
    bench.add_argument("--write-baseline", default=None, metavar="PATH",
                       help="write the measured ratios as a new baseline file")
    prof = commands.add_parser(
        "profile", help="time every phase of every layer of an epoch against a cost model",
        description="Time each phase of each layer (forward product, activation, output "
                    "delta, hidden delta product, activation derivative, weight-gradient "
                    "product, bias gradient, fused update, loop overhead) with the engine's "
                    "own kernels, give its FLOPs and bytes from the cost model, its GFLOP/s "
                    "and GB/s against the GEMM peak and the copy bandwidth measured in the "
                    "same run, and compare the sum of the phases with a measured epoch. "
                    "With --sweep, vary one thing at a time. See docs/profiling-study.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    _network_arguments(prof, [784, 100, 10])
    prof.add_argument("--mini-batch-size", type=int, default=10, help="samples per update")
    prof.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    prof.add_argument("--threads", default="1",
                      help="engine and BLAS threads: a count, or 'all' (every core)")
    prof.add_argument("--samples", type=int, default=None,
                      help="samples per profiled epoch (default 10000; 4096 per sweep point)")
    prof.add_argument("--repeats", type=int, default=None,
                      help="timed repeats of every phase, medians reported (default 5; 3 "
                           "per sweep point)")
    prof.add_argument("--path", default="auto", choices=["auto", "loops", "matrix"],
                      help="the engine's path: its own choice, its loops, or BLAS")
    prof.add_argument("--eta", type=float, default=0.1, help="learning rate")
    prof.add_argument("--lmbda", type=float, default=0.0,
                      help="L2 strength (> 0 adds the weight-decay pass)")
    prof.add_argument("--data", default=None,
                      help="dataset for [784, ..., 10] networks (default: as fastnn train)")
    prof.add_argument("--sweep", default=None, metavar="KIND[,KIND]",
                      help="vary one thing at a time: batch, width, depth, threads, dtype or all")
    prof.add_argument("--quick", action="store_true",
                      help="with --sweep: fewer values, samples and repeats (seconds, for CI)")
    prof.add_argument("--json", default=None, help="write the result as JSON to this path")
    prof.add_argument("--plot", default=None, metavar="FOLDER",
                      help="write PNG figures into this folder (needs fastnn[plot])")
    from . import tune
    tune.add_parser(commands, _network_arguments)
    return parser


def _threads_option(value):
    """--threads as a count of threads or "all" (every core), checked."""
    if value == "all":
        return value
    try:
        return _threads.resolve(int(value) if value.isdigit() else value)
    except ValueError as exc:
        raise ValueError(f"--{exc}") from None


def _profile(args):
    from . import profile as prof

    threads = _threads_option(args.threads)
    for name in ("samples", "repeats", "mini_batch_size"):
        if getattr(args, name) is not None:
            _checks.check_positive("--" + name.replace("_", "-"), getattr(args, name),
                                   integer=True)
    if args.plot:
        prof._pyplot()  # fail now, not after minutes of timing, when matplotlib is missing
    options = dict(hidden_activation=args.hidden_activation,
                   output_activation=args.output_activation, cost=args.cost, path=args.path,
                   eta=args.eta, lmbda=args.lmbda, data=args.data)
    if args.sweep:
        kinds = list(prof.SWEEPS) if args.sweep == "all" else \
            [k.strip() for k in args.sweep.split(",") if k.strip()]
        bad = [k for k in kinds if k not in prof.SWEEPS]
        if bad or not kinds:
            raise ValueError(f"--sweep={args.sweep!r} is invalid; expected names from "
                             f"{', '.join(prof.SWEEPS)}, or all")
        results = []
        for kind in kinds:
            r = prof.sweep(kind, sizes=args.sizes, mini_batch_size=args.mini_batch_size,
                           dtype=args.dtype, threads=threads, samples=args.samples or 4096,
                           repeats=args.repeats or 3, quick=args.quick, **options)
            print(prof.format_sweep(r) + "\n", flush=True)
            if args.plot:
                for path in prof.plot_sweep(r, args.plot):
                    print(f"figure written to {path}")
            results.append(r)
        out = results[0] if len(results) == 1 else {"schema": prof.SCHEMA, "sweeps": results}
    else:
        out = prof.profile(args.sizes, mini_batch_size=args.mini_batch_size, dtype=args.dtype,
                           threads=threads, samples=args.samples or 10000,
                           repeats=args.repeats or 5, **options)
        print(prof.format_report(out), flush=True)
        if args.plot:
            for path in prof.plot_profile(out, args.plot):
                print(f"figure written to {path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
        print(f"JSON written to {args.json}")
    return 0


def _bench(args):
    from . import bench

    if not 0 < args.tolerance < 1:
        raise ValueError(f"--tolerance={args.tolerance} is invalid; expected a number in (0, 1)")
    baseline = bench.load_baseline(args.gate) if args.gate else None
    args.threads = _threads_option(args.threads)
    result = bench.measure(configs=[c.strip() for c in args.configs.split(",") if c.strip()],
                           dtype=args.dtype, repeats=args.repeats, n_samples=args.samples,
                           threads=args.threads)
    print(bench.format_table(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.write_baseline:
        record = {"configs": {k: {"ratio": round(v["ratio"], 3)}
                              for k, v in result["configs"].items()},
                  "measured": {k: v for k, v in result.items() if k != "configs"}}
        with open(args.write_baseline, "w") as f:
            json.dump(record, f, indent=1)
        print(f"baseline written to {args.write_baseline}")
    if baseline is not None:
        failures = bench.gate(result, baseline, args.tolerance)
        for line in failures:
            print(f"FAIL {line}")
        if failures:
            return 1
        print(f"gate passed: every ratio within {args.tolerance:.0%} of {args.gate}")
    return 0


def _train(args):
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    # refuse bad numbers before spending seconds on loading data
    _checks.check_positive("--epochs", args.epochs, integer=True)
    _checks.check_positive("--mini-batch-size", args.mini_batch_size, integer=True)
    _checks.check_positive("--eta", args.eta)
    _checks.check_non_negative("--lmbda", args.lmbda)
    _checks.check_non_negative("--l1", args.l1)
    if not 0 <= args.dropout < 1:
        raise ValueError(f"--dropout={args.dropout} is invalid; expected a probability in [0, 1)")
    _checks.check_positive("--checkpoint-every", args.checkpoint_every, integer=True)
    if args.checkpoint_batches is not None:
        _checks.check_positive("--checkpoint-batches", args.checkpoint_batches, integer=True)
        if not args.checkpoint:
            raise ValueError("--checkpoint-batches needs --checkpoint FOLDER to write into")
    if args.clip_norm is not None:
        _checks.check_positive("--clip-norm", args.clip_norm)
    if args.resume and not args.checkpoint:
        raise ValueError("--resume needs --checkpoint FOLDER, the folder of the run to go on with")
    for name in ("early_stopping", "halve_eta"):
        if getattr(args, name) is not None:
            _checks.check_positive("--" + name.replace("_", "-"), getattr(args, name), integer=True)
    output_activation = args.output_activation or (
        "softmax" if args.cost == "log_likelihood" else "sigmoid")
    if args.threads is not None:
        try:
            _threads.resolve(args.threads)
        except ValueError as exc:
            raise ValueError(f"--{exc}") from None
    net = Network(args.sizes, args.hidden_activation, output_activation, args.cost,
                  dtype=args.dtype, seed=args.seed, initializer=args.initializer,
                  threads=args.threads)
    data = load_dataset(args.data, dtype=np.dtype(args.dtype).type)
    (X, y), validation, (X_test, y_test) = data.train, data.validation, data.test
    say(f"data: {data.description}")
    say(f"training {net} on {X.shape[0]} samples, validating on {validation[0].shape[0]}")

    def progress(epoch, history):
        say(f"epoch {epoch + 1}/{args.epochs}: validation accuracy "
            f"{history['evaluation_accuracy'][-1]:.4f}, {history['seconds'][-1]:.3f} s")

    start = time.perf_counter()
    extras = {}
    if args.early_stopping is not None:
        extras.update(early_stopping=args.early_stopping, restore_best=True)
    if args.halve_eta is not None:
        extras["schedule"] = HalveOnPlateau(patience=args.halve_eta)
    if args.augment:
        extras["augment"] = Augmenter(rotation=10, translation=2, skew=0.1, seed=args.seed)
    history = net.fit(X, y, epochs=args.epochs, mini_batch_size=args.mini_batch_size,
                      eta=args.eta, lmbda=args.lmbda, evaluation_data=validation,
                      callback=progress, optimizer=args.optimizer, l1=args.l1,
                      dropout=args.dropout or None, hogwild=args.hogwild,
                      checkpoint=args.checkpoint, checkpoint_every=args.checkpoint_every,
                      resume=args.resume, clip_norm=args.clip_norm,
                      checkpoint_batches=args.checkpoint_batches, **extras)
    if history["stopped"]:
        say(f"stopped after epoch {history['epoch'][-1] + 1}: {history['stopped']}")
    total = time.perf_counter() - start
    test = net.evaluate(X_test, y_test)
    net.save(args.output)
    seconds = history["seconds"]
    steady = float(np.median(seconds[1:])) if len(seconds) > 1 else seconds[0]
    print(f"test accuracy {test['accuracy']:.4f} ({test['correct']} / {test['n']}); "
          f"{steady:.3f} s per epoch (median; the first, with compilation, took "
          f"{seconds[0]:.3f} s); {total:.1f} s in all; model saved to {args.output}", flush=True)
    if args.history:
        record = dict(history, test_accuracy=test["accuracy"], data=data.description,
                      sizes=list(net.sizes))
        with open(args.history, "w") as f:
            json.dump(record, f, indent=1)
    return 0


def _tune(args):
    from . import tune
    return tune.command(args)


def main(argv=None):
    """Entry point of the ``fastnn`` console command."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        run = {"bench": _bench, "profile": _profile, "train": _train,
               "tune": _tune}[args.command]
        return run(args)
    except (ValueError, DataError, ModelFileError, CheckpointError, TrainingDiverged, OSError,
            ImportError) as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
