"""The ``fastnn`` command line: ``fastnn train`` trains on the default dataset.

``fastnn train`` trains and saves a model, ``evaluate`` scores a saved model on a split of
a dataset, ``predict`` classifies inputs from a file, ``plot`` draws learning curves from
a saved history, ``bench`` and ``profile`` time the engine, ``calibrate`` shows or redoes
the choices measured on this machine (docs/cli.md shows each).

Each subcommand is a ``_add_<name>(commands)`` that builds its parser (``tune``'s is
``tune.add_parser``) and a ``_<name>(args)`` that runs it, listed in ``main``. Run
``fastnn COMMAND --help`` for the options. Errors in the arguments or the data are
reported on one line, naming the argument or file, with exit status 2.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings
import zipfile

import numpy as np
from tqdm import tqdm

from . import __version__, _checks, _io, _threads, _width
from . import activations as _activations
from . import costs as _costs
from . import plot as _plots
from ._io import ModelFileError
from .augment import Augmenter
from .checkpoint import AlreadyTrained, CheckpointError
from .checkpoint import latest as _latest_checkpoint
from .data import DataError, load_dataset, read_idx
from .network import Network, TrainingDiverged, load
from .schedules import HalveOnPlateau
from .stream import StreamedInputs


def _sizes(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers")
    return sizes


# the API's own tables: an activation or cost the library accepts is accepted here too
HIDDEN_CHOICES = list(_activations.HIDDEN_ACTIVATIONS)
OUTPUT_CHOICES = list(_activations.ACTIVATIONS)
COST_CHOICES = list(_costs.COSTS)


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
    _add_train(commands)
    _add_evaluate(commands)
    _add_predict(commands)
    _add_plot(commands)
    _add_calibrate(commands)
    _add_bench(commands)
    _add_profile(commands)
    from . import tune
    tune.add_parser(commands, _network_arguments)
    return parser


def _add_train(commands):
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
                                "amsgrad"],
                       help="update rule (PyTorch's defaults; see fastnn.optim)")
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
    train.add_argument("--history", default=None, metavar="JSON",
                       help="also write the per-epoch history as JSON (fastnn plot draws it)")
    train.add_argument("--monitor-training", action="store_true",
                       help="also measure the cost and accuracy on the training data after "
                            "every epoch (one more pass over it), for the history and --plot")
    train.add_argument("--plot", default=None, metavar="PNG",
                       help="write the learning curves (cost and accuracy per epoch) to this "
                            "PNG at the end (needs fastnn[plot])")
    train.add_argument("--quiet", action="store_true",
                       help="print only the final summary (no per-epoch lines, no progress "
                            "bar; the bar is also off when stderr is not a terminal)")


def _add_bench(commands):
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
    bench.add_argument("--record-machine", default=None, metavar="PATH",
                       help="set this kind of machine's entry of the baseline file PATH to "
                            "the measured ratios, keeping the rest of the file (the gate "
                            "uses that entry on the same CPU, BLAS kernel, dtype and threads)")


def _add_profile(commands):
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
    if args.record_machine and os.path.exists(args.record_machine):
        bench.load_baseline(args.record_machine)  # refuse a bad file before measuring
    args.threads = _threads_option(args.threads)
    result = bench.measure(configs=[c.strip() for c in args.configs.split(",") if c.strip()],
                           dtype=args.dtype, repeats=args.repeats, n_samples=args.samples,
                           threads=args.threads)
    print(bench.format_table(result), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.write_baseline:
        text = json.dumps(bench.baseline_record(result), indent=1) + "\n"
        _io.atomic_write(args.write_baseline, lambda f: f.write(text.encode()))
        print(f"baseline written to {args.write_baseline}")
    if args.record_machine:
        key = bench.record_machine(args.record_machine, result)
        print(f"ratios recorded in {args.record_machine} for machine {key!r}")
    if baseline is not None:
        _, source = bench.floors(result, baseline)
        failures = bench.gate(result, baseline, args.tolerance)
        for line in failures:
            print(f"FAIL {line}")
        if failures:
            print(f"(baseline: {source} of {args.gate})")
            return 1
        print(f"gate passed: every ratio within {args.tolerance:.0%} of {args.gate}, "
              f"{source}")
    return 0


def _train(args):
    """fastnn train; Ctrl-C ends it with one line saying where the last checkpoint is, and
    exit status 130 (128 + SIGINT), as fastnn tune does."""
    try:
        return _train_and_save(args)
    except KeyboardInterrupt:
        print(_interrupted(args.checkpoint), file=sys.stderr, flush=True)
        return 130


def _interrupted(folder):
    """The line fastnn train prints when interrupted."""
    found = None
    if folder and os.path.isdir(folder):
        with warnings.catch_warnings():  # one line: a skipped bad checkpoint is not news now
            warnings.simplefilter("ignore")
            try:
                found = _latest_checkpoint(folder)
            except OSError:
                pass
    if found is None:
        where = (f"no checkpoint in {folder} yet, nothing saved" if folder else
                 "nothing saved (with --checkpoint FOLDER, --resume could go on from the "
                 "last epoch)")
        return f"fastnn train: interrupted; {where}"
    _, meta, path = found
    done = f"{meta['epochs_done']} epochs"
    if meta["batches_done"]:
        done += f" and {meta['batches_done']} mini-batches"
    return (f"fastnn train: interrupted; the last checkpoint is {path} ({done} done): the "
            f"same command with --resume goes on from there")


def _train_and_save(args):
    say = _say(args.quiet)
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
    if args.plot:
        _plots.check_png_path(args.plot, "--plot")
        _plots.require_matplotlib()  # fail now, not after the training, when it is missing
    # a missing folder would otherwise be found only after the training
    for option, path in (("--output", args.output), ("--history", args.history),
                         ("--plot", args.plot)):
        _check_folder(option, path)
    _check_writable("--output", args.output)
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
    sizes = ",".join(str(s) for s in args.sizes)
    if X.shape[1] != args.sizes[0]:
        raise ValueError(f"--sizes={sizes} takes {args.sizes[0]} inputs, but the --data images "
                         f"have {X.shape[1]} pixels ({data.source}); expected --sizes starting "
                         f"with {X.shape[1]}")
    classes = int(max((labels.max() for labels in (y, validation[1], y_test) if labels.size),
                      default=0)) + 1
    if args.sizes[-1] < classes:
        raise ValueError(f"--sizes={sizes} has {args.sizes[-1]} outputs, but the --data labels "
                         f"go up to {classes - 1} ({data.source}); expected --sizes ending "
                         f"with {classes} or more, one output per class")
    n = X.shape[0]
    say(f"data: {data.description}")
    say(f"training {net} on {n} samples, validating on {validation[0].shape[0]}")

    # One bar over every sample of the run, on stderr, advanced once per epoch (the engine
    # trains an epoch in one compiled call); tqdm turns it off when stderr is not a terminal,
    # where the per-epoch lines on stdout are the record.
    bar = tqdm(total=args.epochs * n, desc="training", unit_scale=True, file=sys.stderr,
               disable=True if args.quiet else None, dynamic_ncols=True,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} samples "
                          "[{elapsed}<{remaining}{postfix}]")

    def progress(epoch, history):
        if bar.n == 0 and epoch > 0:  # resumed: the epochs before count as done, not as speed
            bar.n = bar.last_print_n = bar.initial = epoch * n
        bar.update((epoch + 1) * n - bar.n)
        speed = n / history["seconds"][-1] if history["seconds"][-1] > 0 else float("inf")
        accuracy = history["evaluation_accuracy"][-1]
        bar.set_postfix_str(f"epoch {epoch + 1}/{args.epochs}, {_si(speed)} samples/s, "
                            f"validation accuracy {accuracy:.4f}")
        line = f"epoch {epoch + 1}/{args.epochs}: validation accuracy {accuracy:.4f}"
        if args.monitor_training:
            line += f", training accuracy {history['training_accuracy'][-1]:.4f}"
        say(f"{line}, {history['seconds'][-1]:.3f} s")

    start = time.perf_counter()
    extras = {}
    if args.early_stopping is not None:
        extras.update(early_stopping=args.early_stopping, restore_best=True)
    if args.halve_eta is not None:
        extras["schedule"] = HalveOnPlateau(patience=args.halve_eta)
    if args.augment:
        extras["augment"] = Augmenter(rotation=10, translation=2, skew=0.1, seed=args.seed)
    try:
        with bar:
            history = net.fit(X, y, epochs=args.epochs, mini_batch_size=args.mini_batch_size,
                              eta=args.eta, lmbda=args.lmbda, evaluation_data=validation,
                              monitor_training=args.monitor_training,
                              callback=progress, optimizer=args.optimizer, l1=args.l1,
                              dropout=args.dropout or None, hogwild=args.hogwild,
                              checkpoint=args.checkpoint,
                              checkpoint_every=args.checkpoint_every, resume=args.resume,
                              clip_norm=args.clip_norm,
                              checkpoint_batches=args.checkpoint_batches, **extras)
    except AlreadyTrained as exc:
        more = f" and {exc.batches} mini-batches" if exc.batches else ""
        raise ValueError(f"--epochs={args.epochs} is fewer than the {exc.done} epochs{more} "
                         f"already trained by the checkpoint {exc.path} (left as it is); "
                         f"expected --epochs {exc.needed} or more to go on from it, or another "
                         f"--checkpoint folder to start afresh") from None
    if history["stopped"]:
        say(f"stopped after epoch {history['epoch'][-1] + 1}: {history['stopped']}")
    total = time.perf_counter() - start
    test = net.evaluate(X_test, y_test)
    _save_trained(net, args.output, args.checkpoint)
    # everything `fastnn plot` needs to draw the curves again
    record = dict(history, test_accuracy=test["accuracy"], data=data.description,
                  sizes=list(net.sizes), evaluation_data="validation")
    if args.history:
        with open(args.history, "w") as f:
            json.dump(record, f, indent=1)
        say(f"history written to {args.history}")
    if args.plot:
        _plots.plot_history(record, args.plot, title=(
            f"fastnn {list(net.sizes)}, {args.cost}, η {args.eta:g}, λ {args.lmbda:g}, "
            f"mini-batch {args.mini_batch_size}: test accuracy {test['accuracy']:.4f}"))
        say(f"learning curves written to {args.plot}")
    seconds = history["seconds"]
    steady = float(np.median(seconds[1:])) if len(seconds) > 1 else seconds[0]
    print(f"test accuracy {test['accuracy']:.4f} ({test['correct']} / {test['n']}); "
          f"{steady:.3f} s per epoch (median; the first, with compilation, took "
          f"{seconds[0]:.3f} s); {total:.1f} s in all; model saved to {args.output}", flush=True)
    return 0


def _say(quiet):
    """print for the progress lines (stdout), or nothing with --quiet: written through tqdm
    so that a progress bar on the terminal is cleared first and drawn again after."""
    if quiet:
        return lambda text: None

    def say(text):
        tqdm.write(text, file=sys.stdout)
        sys.stdout.flush()
    return say


def _si(value):
    """A rate for the progress bar: 950, 12.3k, 1.5M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def _check_writable(option, path):
    """ValueError naming ``option`` unless ``path`` can be saved to (atomically: not a
    directory or special file, in a folder this process can write), checked before the
    training rather than after it."""
    try:
        _io.check_writable(path)
    except (ValueError, OSError) as exc:
        raise ValueError(f"{option}={path!r} cannot be written: {exc}") from None


def _save_trained(net, output, checkpoint=None):
    """Save the trained network to ``output`` (--output). If that fails although it was
    checked before training (the folder vanished, the disk filled up), the network is
    saved elsewhere rather than lost: beside ``output``, else in the current folder, else
    in the temporary folder; the OSError raised then names --output and where it went."""
    try:
        net.save(output)
        return
    except (OSError, ValueError) as exc:
        failure = exc
    stem = os.path.splitext(os.path.basename(os.path.normpath(output)))[0] or "fastnn-model"
    folders = [os.path.dirname(os.path.abspath(output)), os.getcwd(), tempfile.gettempdir()]
    for folder in dict.fromkeys(folders):
        try:
            fd, rescued = tempfile.mkstemp(prefix=f"{stem}-rescued-", suffix=".npz", dir=folder)
        except OSError:
            continue
        os.close(fd)
        try:
            net.save(rescued)
        except (OSError, ValueError):
            os.unlink(rescued)
            continue
        raise OSError(f"--output={output!r} could not be written ({failure}); the trained "
                      f"model was saved to {rescued} instead")
    kept = f"; the last checkpoint is in {checkpoint}" if checkpoint else ""
    raise OSError(f"--output={output!r} could not be written ({failure}), nor could the "
                  f"model be saved beside it, in {os.getcwd()} or in "
                  f"{tempfile.gettempdir()}{kept}")


def _check_folder(option, path):
    """ValueError unless the folder ``path`` would be written into exists."""
    if path:
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ValueError(f"{option}={path!r} is invalid: the folder {folder!r} does not "
                             f"exist; expected a path in an existing folder")


# ----------------------------------------------------------------- fastnn evaluate

SPLITS = ("test", "validation", "train")


def _add_evaluate(commands):
    evaluate = commands.add_parser(
        "evaluate", help="cost and accuracy of a saved model on a dataset",
        description="Load a model saved by fastnn train (or Network.save) and print its cost "
                    "(without the L2 term), accuracy and correct / n on one split of a "
                    "dataset, read as fastnn train reads it (the same validation hold-out).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    evaluate.add_argument("model", metavar="MODEL", help="the model file (.npz)")
    evaluate.add_argument("--data", default=None,
                          help="folder of IDX files or mnist.pkl.gz (default: as fastnn train)")
    evaluate.add_argument("--split", default="test", choices=SPLITS,
                          help="which part of the dataset")
    evaluate.add_argument("--json", default=None, metavar="PATH",
                          help="also write the result as JSON to this path")


def _evaluate(args):
    _check_folder("--json", args.json)
    net = load(args.model)
    data = load_dataset(args.data, dtype=net.dtype)
    X, y = getattr(data, args.split)
    if X.shape[1] != net.sizes[0]:
        raise ValueError(f"MODEL={args.model!r} takes {net.sizes[0]} inputs per sample, but the "
                         f"--data images have {X.shape[1]} ({data.source}); expected a model "
                         f"trained on this dataset")
    if int(y.max()) >= net.sizes[-1]:
        raise ValueError(f"MODEL={args.model!r} has {net.sizes[-1]} outputs, but the --data "
                         f"labels go up to {int(y.max())}; expected one output per class")
    result = net.evaluate(X, y)
    print(f"data: {data.description}")
    print(f"model: {args.model}: {net}")
    print(f"{args.split}: cost {result['cost']:.4f}, accuracy {result['accuracy']:.4f} "
          f"({result['correct']} / {result['n']})", flush=True)
    if args.json:
        record = {"model": os.fspath(args.model), "data": data.description,
                  "split": args.split, "cost": float(result["cost"]),
                  "accuracy": float(result["accuracy"]), "correct": result["correct"],
                  "n": result["n"]}
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
        print(f"JSON written to {args.json}")
    return 0


# ------------------------------------------------------------------ fastnn predict

PREDICT_FORMATS = (".npy", ".csv", ".txt")


def _add_predict(commands):
    predict = commands.add_parser(
        "predict", help="classify inputs from a file with a saved model",
        description="Print the predicted class of every sample of DATA, one per line (or, "
                    "with --proba, the output activations, one row per sample), or write "
                    "them to --output. DATA is a .npy array (n, n_in), or (n, rows, cols) "
                    "images when rows x cols = n_in; a .npz file holding such an array named "
                    "X; or an IDX image file, raw or gzipped. uint8 values are pixels and "
                    "are scaled by 1/255 as fastnn's datasets are; other numbers are used as "
                    "they are.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    predict.add_argument("model", metavar="MODEL", help="the model file (.npz)")
    predict.add_argument("data", metavar="DATA", help="the inputs: .npy, .npz or IDX file")
    predict.add_argument("--output", default=None, metavar="PATH",
                         help="write to PATH instead of stdout, as .npy, .csv or .txt by its "
                              "extension")
    predict.add_argument("--proba", action="store_true",
                         help="output the output activations (n, n_out) instead of classes")


def _predict(args):
    kind = None
    if args.output:
        kind = os.path.splitext(args.output)[1].lower()
        if kind not in PREDICT_FORMATS:
            raise ValueError(f"--output={args.output!r} has an unknown extension "
                             f"{kind or '(none)'!r}; expected one of "
                             f"{', '.join(PREDICT_FORMATS)}")
        _check_folder("--output", args.output)
    net = load(args.model)
    X = _read_inputs(args.data, net.sizes[0], args.model)
    try:
        result = net.feedforward(X) if args.proba else net.predict(X)
    except ValueError as exc:  # a non-finite value: the message names its row and column
        raise ValueError(f"DATA={args.data!r}: {exc}") from None
    # enough digits to read the very numbers back (float32: 9, float64: 17)
    fmt = "%d" if not args.proba else ("%.9g" if result.dtype == np.float32 else "%.17g")
    if kind == ".npy":
        np.save(args.output, result)
    elif kind is not None:
        np.savetxt(args.output, result, fmt=fmt, delimiter="," if kind == ".csv" else " ")
    else:
        try:
            np.savetxt(sys.stdout, result, fmt=fmt, delimiter=" ")
            sys.stdout.flush()
        except BrokenPipeError:  # `fastnn predict ... | head`: the reader has had enough
            _silence_stdout()
        return 0
    what = "output activations" if args.proba else "predicted classes"
    print(f"{what} of {result.shape[0]} samples written to {args.output}")
    return 0


def _silence_stdout():
    """Point stdout at /dev/null, so that the flush at exit does not fail again on the
    closed pipe (the Python documentation's advice for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured)
        pass


def _mapped_npy(path):
    """A .npy DATA file, memory-mapped once its header has been checked against the file's
    size (a header claiming more, or fewer, bytes than the file holds is refused)."""
    where = f"DATA={path!r}"
    try:
        with open(path, "rb") as f:
            shape, fortran, dtype, n_bytes = _io.read_npy_header(f, where, DataError)
            offset = f.tell()
        held = os.path.getsize(path) - offset
        if n_bytes != held:
            raise DataError(f"{where}: the .npy header claims {n_bytes:,} data bytes (shape "
                            f"{shape}, dtype {dtype}) but the file holds {held:,} after it; "
                            f"the file is truncated or corrupt")
        if n_bytes == 0:
            return np.empty(shape, dtype)
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape,
                         order="F" if fortran else "C")
    except DataError:
        raise
    except _io._ARCHIVE_ERRORS as exc:
        raise ValueError(f"{where}: not a readable .npy file ({type(exc).__name__}: "
                         f"{exc})") from None


def _read_inputs(path, n_in, model):
    """The samples of a predict DATA file as a StreamedInputs (n, n_in): a .npy file stays
    on disk (memory-mapped), uint8 pixels are read as pixel / 255 in the model's dtype."""
    expected = "a .npy file, a .npz file holding an array X, or an IDX image file (raw or .gz)"
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as exc:
        raise OSError(f"DATA={path!r}: cannot read it: {exc.strerror or exc}") from None
    if head.startswith(b"\x93NUMPY"):
        X = _mapped_npy(path)
    elif head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                names = [n[:-4] if n.endswith(".npy") else n for n in z.namelist()]
                if "X" not in names:
                    raise DataError(f"DATA={path!r}: the .npz file holds "
                                    f"{', '.join(names) or 'no arrays'}; expected an array "
                                    f"named X")
                X = _io.read_member(z, "X", f"DATA={path!r}", os.path.getsize(path), DataError)
        except DataError:
            raise
        except (KeyError,) + _io._ARCHIVE_ERRORS as exc:  # a damaged archive or member
            raise ValueError(f"DATA={path!r}: not a readable .npz file "
                             f"({type(exc).__name__}: {exc})") from None
    else:
        try:
            X = read_idx(path)
        except DataError as exc:
            raise DataError(f"DATA: {exc}; expected {expected}") from None
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == np.bool_) \
            or np.issubdtype(X.dtype, np.complexfloating):
        raise ValueError(f"DATA={path!r} holds an array of dtype {X.dtype}; expected real "
                         f"numbers")
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != n_in:
        raise ValueError(f"DATA={path!r} holds an array of shape {X.shape}, but MODEL={model!r} "
                         f"takes {n_in} inputs per sample; expected shape (n, {n_in}), or "
                         f"(n, rows, cols) images with rows x cols = {n_in}")
    if X.shape[0] == 0:
        raise ValueError(f"DATA={path!r} holds no samples (shape {X.shape}); expected at "
                         f"least one")
    X = X.reshape(X.shape[0], n_in)
    return StreamedInputs(X, divisor=255 if X.dtype == np.uint8 else None)


# --------------------------------------------------------------------- fastnn plot

def _add_plot(commands):
    plot = commands.add_parser(
        "plot", help="draw learning curves from a history saved by fastnn train --history",
        description="Write a PNG of the learning curves in HISTORY (the JSON file fastnn train "
                    "--history writes): the cost per epoch and the accuracy per epoch, for "
                    "the validation data and, when trained with --monitor-training, the "
                    "training data. Needs matplotlib (pip install \"fastnn[plot]\").",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    plot.add_argument("history", metavar="HISTORY", help="the history JSON file")
    plot.add_argument("-o", "--output", default=None, metavar="PNG",
                      help="the PNG to write (default: HISTORY with .png for .json)")
    plot.add_argument("--title", default=None,
                      help="the figure's title (default: the layer sizes and test accuracy)")


def _plot(args):
    output = args.output or os.path.splitext(args.history)[0] + ".png"
    _check_folder("--output", output)
    _plots.plot_history(args.history, output, title=args.title)
    print(f"learning curves written to {output}")
    return 0


# ---------------------------------------------------------------- fastnn calibrate

#: what ``fastnn calibrate --redo`` measures without --sizes: config C and the network of
#: issue 18's example (both on the matrix path at their mini-batch of 128)
CALIBRATE_NETWORKS = (([784, 1024, 1024, 10], 128), ([784, 512, 256, 10], 128))


def _add_calibrate(commands):
    cal = commands.add_parser(
        "calibrate", help="show, redo or clear the choices measured on this machine",
        description="fastnn measures which GEMM (BLAS or its own) and how many threads train "
                    "a network's mini-batches fastest on this machine, and on a CPU with "
                    "AVX-512 the vector width its loops run fastest at, once, and keeps the "
                    "result in a file in the user's cache folder ($FASTNN_CACHE_DIR, else "
                    "$XDG_CACHE_HOME/fastnn, else ~/.cache/fastnn). Without options, show "
                    "this machine's records. FASTNN_CALIBRATE=off turns the measuring off "
                    "(the built-in rules run), =redo measures again once per process. See "
                    "docs/performance.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    what = cal.add_mutually_exclusive_group()
    what.add_argument("--redo", action="store_true",
                      help="measure again (the networks of --sizes/--mini-batch-size, else "
                           "config C and [784,512,256,10] at mini-batch 128) and show them")
    what.add_argument("--clear", action="store_true",
                      help="forget this machine's records (the next training measures again)")
    cal.add_argument("--sizes", type=_sizes, default=None,
                     help="with --redo: the network to measure (comma-separated sizes)")
    cal.add_argument("--mini-batch-size", type=int, default=128,
                     help="with --redo and --sizes: the mini-batch size")
    cal.add_argument("--dtype", default="float32", choices=["float32", "float64"],
                     help="with --redo: the dtype measured")
    cal.add_argument("--threads", type=int, default=None,
                     help="with --redo: the threads (default: every core, of which the "
                          "measurement may choose fewer)")


def _calibrate(args):
    from . import _calibrate as cal
    mode = cal.mode()
    if args.clear:
        cal.clear()
        if cal.save_error():
            raise OSError(f"cannot write {cal.cache_path()}: {cal.save_error()}")
        print(f"cleared this machine's records in {cal.cache_path()}")
        return 0
    if args.redo:
        if mode == "off":
            raise ValueError(f"{cal.ENV}=off turns measuring off; unset it to use --redo")
        networks = CALIBRATE_NETWORKS if args.sizes is None else \
            ((args.sizes, _checks.check_positive("--mini-batch-size", args.mini_batch_size,
                                                 integer=True)),)
        if args.threads is not None:
            _threads.resolve(args.threads)
        saved = os.environ.get(cal.ENV)
        os.environ[cal.ENV] = "redo"
        try:
            for sizes, m in networks:
                net = Network(sizes, "relu", "softmax", "log_likelihood", dtype=args.dtype,
                              threads=args.threads)
                net.engine.matrix = True
                for kind, what in (("sgd", "SGD"), ("general", "an optimizer's step")):
                    start = time.perf_counter()
                    plan = net.engine.plan(m, _threads.resolve(args.threads), kind)
                    print(f"{'x'.join(map(str, sizes))}, mini-batch {m}, {args.dtype}, "
                          f"{what}: {plan.describe()} [{time.perf_counter() - start:.1f} s]")
            start = time.perf_counter()
            line = _width.redo()
            print(f"loop vector width: {line} [{time.perf_counter() - start:.1f} s]")
        finally:
            if saved is None:
                os.environ.pop(cal.ENV, None)
            else:
                os.environ[cal.ENV] = saved
        if cal.save_error():
            print(f"note: not saved ({cal.save_error()}); the choices hold for this process "
                  f"only", file=sys.stderr)
        return 0
    print(f"calibration file: {cal.cache_path()} ({cal.ENV}={mode})")
    if cal.problem():
        print(f"note: the file {cal.problem()}")
    m = cal.machine()
    print(f"this machine: {m['cpu']['vendor']} family {m['cpu']['family']} model "
          f"{m['cpu']['model']} ({m['cpu']['name']}), Numba CPU {m['numba_cpu']}, "
          f"{m['blas']['internal_api']} {m['blas']['version']} ({m['blas']['architecture']} "
          f"kernel), {m['cores']} cores")
    print(f"loop vector width in this process: {_width.describe()}")
    records = cal.records()
    if not records:
        print("no records for this machine yet (training on the matrix path measures, or "
              "run fastnn calibrate --redo)")
    for key, rec in sorted(records.items()):
        ranked = sorted(rec["seconds"], key=rec["seconds"].get)
        print(f"{key}: {rec['choice']} (measured {rec.get('date', '?')}: " + ", ".join(
            f"{c} {rec['seconds'][c] * 1e3:.3g} ms" for c in ranked) + ")")
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
               "evaluate": _evaluate, "predict": _predict, "plot": _plot,
               "tune": _tune, "calibrate": _calibrate}[args.command]
        return run(args)
    except (ValueError, DataError, ModelFileError, CheckpointError, TrainingDiverged, OSError,
            ImportError) as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
