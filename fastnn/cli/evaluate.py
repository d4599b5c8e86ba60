"""``fastnn evaluate``: score a saved model on a split of a dataset."""
import argparse
import json
import os

from ..data import load_dataset
from ..network import load
from ._common import _check_folder

# ----------------------------------------------------------------- fastnn evaluate

SPLITS = ("test", "validation", "train")


def add_parser(commands):
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


def run(args):
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
