"""The subnormal cliff: epoch times of a run whose parameters decay into subnormal range.

The configuration of issue 18 ([784, 512, 256, 10], ReLU, softmax and log-likelihood,
float32, Adam η 0.001, λ 5, dropout 0.2, mini-batch 128, one thread, Fashion-MNIST):
L2 and Adam drive many weights of the first layer, which few pixels feed, towards zero.
On an Intel Xeon (Emerald Rapids) without flushing, epochs 5-9 took 31-40 s against
1.6-2.2 s for the first three, with 140,679 of 535,818 parameters subnormal at the end.

Each mode runs in a fresh process (``FASTNN_SUBNORMALS=flush``, fastnn's default, and
``keep``, gradual underflow), alternated ``--repeats`` times; for every epoch it prints
the seconds and the parameters that are subnormal after it. The check
of issue 18: no later epoch of the default mode over 1.3x the median of its first three
(``--check`` makes the exit status say so).

Usage::

    python bench/subnormals.py [--epochs 10] [--repeats 1] [--samples 50000] [--check]
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import json, sys, time
import numpy as np
import fastnn
from fastnn.data import load_dataset

epochs, samples = int(sys.argv[1]), int(sys.argv[2])
data = load_dataset()
X, y = data.train[0][:samples], data.train[1][:samples]
net = fastnn.Network([784, 512, 256, 10], hidden_activation="relu",
                     output_activation="softmax", cost="log_likelihood", dtype="float32",
                     seed=0, threads=1)
tiny = np.finfo(np.float32).tiny
seen = []

def count(a):
    return int(np.count_nonzero((a != 0) & (np.abs(a) < tiny)))

def after(epoch, history):
    seen.append({"epoch": epoch, "seconds": history["seconds"][-1],
                 "subnormal_params": count(net.params)})

net.fit(X, y, epochs=epochs, mini_batch_size=128, eta=0.001, lmbda=5.0, optimizer="adam",
        dropout=0.2, callback=after)
print(json.dumps({"epochs": seen, "n_params": int(net.params.size)}))
"""


def run(mode, epochs, samples):
    env = dict(os.environ, FASTNN_SUBNORMALS=mode)
    done = subprocess.run([sys.executable, "-c", _CHILD, str(epochs), str(samples)],
                          cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the {mode} run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--samples", type=int, default=50000)
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when an epoch after the first three of the default mode "
                             "(flush) is over 1.3x the median of the first three")
    args = parser.parse_args(argv)
    for name in ("epochs", "repeats", "samples"):
        if getattr(args, name) < (4 if name == "epochs" else 1):
            parser.error(f"--{name} {getattr(args, name)} is too small")
    import llvmlite.binding as llvm
    import numpy  # noqa: F401  (loads the BLAS that threadpoolctl reports)
    from threadpoolctl import threadpool_info
    blas = ", ".join(f"{i.get('internal_api')} ({i.get('architecture')})"
                     for i in threadpool_info() if i.get("user_api") == "blas")
    print(f"CPU: {llvm.get_host_cpu_name()}; BLAS: {blas}; one thread, float32, "
          f"{args.samples:,} samples per epoch")
    worst = 0.0
    for r in range(args.repeats):
        for mode in ("flush", "keep"):
            result = run(mode, args.epochs, args.samples)
            seconds = [e["seconds"] for e in result["epochs"]]
            base = sorted(seconds[:3])[1]
            ratio = max(seconds[3:]) / base
            if mode == "flush":
                worst = max(worst, ratio)
            print(f"\n{mode} (run {r + 1}): slowest later epoch {ratio:.2f}x the median of "
                  f"the first three")
            print("epoch  seconds  subnormal parameters (of {:,})".format(result["n_params"]))
            for e in result["epochs"]:
                print(f"{e['epoch']:5d}  {e['seconds']:7.2f}  {e['subnormal_params']:,}")
    if args.check and worst > 1.3:
        print(f"\nFAILED: a later epoch of the default mode took {worst:.2f}x the median of "
              f"the first three (limit 1.3x)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
