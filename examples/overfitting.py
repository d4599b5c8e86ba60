"""Overfitting on 1,000 images, and L2 regularization against it.

The claim (chapter 3): a [784, 30, 10] network trained for hundreds of epochs on only
1,000 images overfits: its training cost keeps falling and it classifies every training
image correctly, while its test accuracy stops improving early and then drifts. L2
regularization (weight decay, λ = 0.1 for 1,000 images in the book) narrows the gap
between training and test accuracy and ends with a higher test accuracy.

Setup (the book's): [784, 30, 10] sigmoid network, cross-entropy, mini-batch 10,
η = 0.5, the first 1,000 training images, training cost and test accuracy (10,000 test
images) after every epoch; the same run again with L2, λ = 0.1. Both start from the
same weights (seed 0).

Measured on Fashion-MNIST (float32, seed 0; "last-10" is the mean test accuracy of the
last 10 epochs, "gap" the final training minus final test accuracy)::

    python examples/overfitting.py                  # 200 epochs

    run          cost: ep 1    final train acc test acc  last-10  best test (epoch)     gap
    plain            1.5680   0.0074    1.0000   0.7972   0.7964      0.8026 ( 41)  0.2028
    L2 λ=0.1         1.5762   0.5825    0.9360   0.7613   0.7842      0.7995 ( 62)  0.1747

    python examples/overfitting.py --epochs 400     # the book's length

    plain            1.5680   0.0028    1.0000   0.7944   0.7951      0.8026 ( 41)  0.2056
    L2 λ=0.1         1.5762   0.3395    0.9860   0.7865   0.7653      0.7995 ( 62)  0.1995

The overfitting is there as claimed: without regularization the training cost falls
from 1.57 to 0.0074 (0.0028 by epoch 400; small bumps on the way), every one of the
1,000 training images is classified correctly from epoch 119 on, yet the test accuracy
peaks at 0.803 in epoch 41 and then drifts down to 0.794-0.797: a gap of 20 points.

L2 with the book's λ = 0.1 does NOT help on Fashion-MNIST at η = 0.5. Its final test
accuracy is lower (0.761 at 200 epochs, 0.787 at 400, against 0.797 and 0.794), and
its gap is smaller only because its training accuracy keeps collapsing. With weight
decay at this learning rate, training is unstable: the training cost falls to 0.155
by epoch 112, jumps to 0.78 in epoch 115 and swings between 0.24 and 1.02 from then
on, the training accuracy between 0.85 and 0.996 (see the figure). A separate plain
NumPy implementation of the book's update rule (float64, its own random start),
written while checking this, shows the same kind of jumps, so they come from the
dynamics, not from the engine. With a smaller
learning rate L2 is stable and helps a little, far less than the five points (82% to
87%) the book reports on MNIST::

    python examples/overfitting.py --eta 0.1 --lmbda 1

    plain            2.4207   0.0409    1.0000   0.7914   0.7941      0.8018 ( 51)  0.2086
    L2 λ=1           2.4544   0.5655    0.9930   0.7975   0.7971      0.8032 ( 68)  0.1955

(+0.6 points final test accuracy, +0.3 points over the last 10 epochs, gap 1.3 points
smaller.) On 1,000 Fashion-MNIST images the test accuracy stays near 80% with or
without L2.

``--plot overfitting.png`` draws the training cost and the training and test accuracy
per epoch of both runs.
"""
import _common
import numpy as np

import fastnn


def run(lmbda, X, y, X_test, y_test, args):
    net = fastnn.Network([784, args.hidden, 10], cost="cross_entropy", seed=args.seed)
    h = net.fit(X, y, epochs=args.epochs, mini_batch_size=10, eta=args.eta, lmbda=lmbda,
                evaluation_data=(X_test, y_test), monitor_training=True)
    cost = np.array(h["training_cost"])
    train_acc = np.array(h["training_accuracy"])
    test_acc = np.array(h["evaluation_accuracy"])
    best = int(np.argmax(test_acc))
    first_perfect = np.flatnonzero(train_acc >= 1.0)
    return {"lmbda": lmbda,
            "first_cost": float(cost[0]), "final_cost": float(cost[-1]),
            "min_cost": float(cost.min()),
            "final_train": float(train_acc[-1]), "final_test": float(test_acc[-1]),
            "best_test": float(test_acc[best]), "best_epoch": best + 1,
            "last10_test": float(test_acc[-10:].mean()),
            "gap": float(train_acc[-1] - test_acc[-1]),
            "first_epoch_all_train_correct": int(first_perfect[0]) + 1
            if first_perfect.size else None,
            "training_cost": _common.rounded(cost, 6),
            "training_accuracy": _common.rounded(train_acc),
            "test_accuracy": _common.rounded(test_acc)}


def plot(results, path, args):
    fig, (ax_cost, ax_acc) = _common.figure(1, 2, size=(11, 4))
    for name, r in results.items():
        epochs = np.arange(1, len(r["training_cost"]) + 1)
        label = "no regularization" if name == "plain" else f"L2, λ = {r['lmbda']:g}"
        line, = ax_cost.plot(epochs, r["training_cost"], label=label)
        ax_acc.plot(epochs, r["test_accuracy"], color=line.get_color(), label=f"test, {label}")
        ax_acc.plot(epochs, r["training_accuracy"], ":", color=line.get_color(),
                    label=f"training, {label}")
    ax_cost.set(xlabel="epoch", ylabel="training cost (L2 term included)", yscale="log",
                title="Cost on the training data")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    ax_cost.legend()
    ax_acc.legend(fontsize=8)
    fig.suptitle(f"[784, {args.hidden}, 10] on {args.n_train or 'all'} training images, "
                 f"η = {args.eta:g}, mini-batch 10")
    _common.save(fig, path)


def main(argv=None):
    p = _common.parser(__doc__)
    _common.add_data_args(p, n_train=1000, epochs=200)
    p.add_argument("--hidden", type=int, default=30, help="hidden neurons (default %(default)s)")
    p.add_argument("--eta", type=float, default=0.5, help="default %(default)s")
    p.add_argument("--lmbda", type=float, default=0.1,
                   help="L2 strength of the regularized run (default %(default)s)")
    args = p.parse_args(argv)
    X, y, X_test, y_test, _ = _common.load(args, evaluation="test")

    results = {"plain": run(0.0, X, y, X_test, y_test, args),
               "l2": run(args.lmbda, X, y, X_test, y_test, args)}
    print(f"{'run':<12} {'cost: ep 1':>10} {'final':>8} {'train acc':>9} {'test acc':>8} "
          f"{'last-10':>8} {'best test (epoch)':>18} {'gap':>7}")
    for name, r in results.items():
        label = "plain" if name == "plain" else f"L2 λ={r['lmbda']:g}"
        print(f"{label:<12} {r['first_cost']:>10.4f} {r['final_cost']:>8.4f} "
              f"{r['final_train']:>9.4f} {r['final_test']:>8.4f} {r['last10_test']:>8.4f} "
              f"{r['best_test']:>11.4f} ({r['best_epoch']:>3}) {r['gap']:>7.4f}")
    plain = results["plain"]
    print(f"no regularization: all {len(y):,} training images right from epoch "
          f"{plain['first_epoch_all_train_correct']}; best test accuracy at epoch "
          f"{plain['best_epoch']} of {args.epochs}")
    if args.plot:
        plot(results, args.plot, args)
    return results


if __name__ == "__main__":
    main()
