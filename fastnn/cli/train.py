"""``fastnn train``: train a network (the default dataset, the book's settings) and save it."""
import argparse
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np
from tqdm import tqdm

from .. import _checks, _io
from .. import plot as _plots
from .._engine import threads as _threads
from ..augment import Augmenter
from ..checkpoint import AlreadyTrained
from ..checkpoint import latest as _latest_checkpoint
from ..data import load_dataset
from ..network import Network
from ..schedules import HalveOnPlateau
from ._common import _check_folder, _network_arguments


def add_parser(commands):
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


def run(args):
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
