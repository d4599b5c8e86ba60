"""Learning slowdown: one sigmoid neuron, quadratic cost against cross-entropy.

The claim (chapter 3): a sigmoid neuron trained by gradient descent with the quadratic
cost learns slowly when it starts badly wrong, because its gradient carries the factor
σ'(z), which is nearly 0 when the output is near 1. The cross-entropy cost cancels that
factor (gradient = (a − y)·x), so it learns fast from any start.

Setup: one neuron, input x = 1, target y = 0, learning rate η = 0.15, 300 epochs of
plain gradient descent on that single sample, started from (w, b) = (0.6, 0.9)
(output 0.82) and from (w, b) = (2, 2) (output 0.98), with each cost.

Measured (float64; deterministic, no data involved)::

    python examples/learning_slowdown.py

    cost           start (w, b)   output: start  after 150  after 300
    quadratic      (0.6, 0.9)            0.8176     0.1527     0.0940
    quadratic      (2.0, 2.0)            0.9820     0.9334     0.2028
    cross_entropy  (0.6, 0.9)            0.8176     0.0241     0.0116
    cross_entropy  (2.0, 2.0)            0.9820     0.0257     0.0120

The quadratic neuron that starts at (2, 2) has moved its output only from 0.982 to
0.933 after 150 epochs and ends at 0.20; from (0.6, 0.9) it ends at 0.09. With
cross-entropy both starts are below 0.03 by epoch 150 and end near 0.012: the neuron
that starts more wrong does not learn more slowly.

``--plot slowdown.png`` draws the output (and the cost) per epoch, four curves.
"""
import _common
import numpy as np

import fastnn

STARTS = ((0.6, 0.9), (2.0, 2.0))
COSTS = ("quadratic", "cross_entropy")


def cost_value(cost, a, y=0.0):
    """The single-sample cost: ½(a − y)² or −[y ln a + (1 − y) ln(1 − a)]."""
    if cost == "quadratic":
        return 0.5 * (a - y) ** 2
    return -(y * np.log(a) + (1.0 - y) * np.log1p(-a))


def train_neuron(cost, w, b, epochs=300, eta=0.15):
    """Train one sigmoid neuron on (x = 1, y = 0); outputs and costs, start included.

    Returns two arrays of ``epochs + 1`` values: index e is after e epochs.
    """
    net = fastnn.Network([1, 1], output_activation="sigmoid", cost=cost, dtype="float64")
    net.set_parameters([[[w]]], [[b]])
    X, Y = [[1.0]], [[0.0]]
    outputs = [net.feedforward(X)[0, 0]]
    for _ in range(epochs):
        net.train_epoch(X=X, y=Y, order=[0], mini_batch_size=1, eta=eta)
        outputs.append(net.feedforward(X)[0, 0])
    outputs = np.array(outputs)
    return outputs, cost_value(cost, outputs)


def plot(runs, path):
    fig, (ax_out, ax_cost) = _common.figure(1, 2, size=(11, 4))
    styles = {"quadratic": "-", "cross_entropy": "--"}
    for (cost, start), run in runs.items():
        label = f"{cost.replace('_', '-')}, (w, b) = {start}"
        epochs = np.arange(len(run["outputs"]))
        ax_out.plot(epochs, run["outputs"], styles[cost], label=label)
        ax_cost.plot(epochs, run["costs"], styles[cost], label=label)
    ax_out.set(xlabel="epoch", ylabel="output a (target 0)", ylim=(0, 1),
               title="Output of one sigmoid neuron, x = 1, η = 0.15")
    ax_cost.set(xlabel="epoch", ylabel="cost", yscale="log", title="Cost")
    ax_out.legend()
    _common.save(fig, path)


def main(argv=None):
    p = _common.parser(__doc__)
    p.add_argument("--epochs", type=int, default=300, help="default %(default)s")
    p.add_argument("--eta", type=float, default=0.15, help="default %(default)s")
    p.add_argument("--plot", default=None, metavar="PATH", help="save a PNG figure to PATH")
    args = p.parse_args(argv)

    runs, result = {}, {"epochs": args.epochs, "eta": args.eta}
    half = args.epochs // 2
    print(f"{'cost':<14} {'start (w, b)':<13} {'output: start':>14} {f'after {half}':>10} "
          f"{f'after {args.epochs}':>10}")
    for cost in COSTS:
        for w, b in STARTS:
            outputs, costs = train_neuron(cost, w, b, args.epochs, args.eta)
            runs[(cost, (w, b))] = {"outputs": outputs, "costs": costs}
            key = f"{cost}_{w:g}_{b:g}"
            result[key] = {"initial_output": float(outputs[0]),
                           "half_output": float(outputs[half]),
                           "final_output": float(outputs[-1]),
                           "final_cost": float(costs[-1]),
                           "outputs": outputs.tolist(), "costs": costs.tolist()}
            print(f"{cost:<14} {f'({w:.1f}, {b:.1f})':<13} {outputs[0]:>14.4f} "
                  f"{outputs[half]:>10.4f} {outputs[-1]:>10.4f}")
    if args.plot:
        plot(runs, args.plot)
    return result


if __name__ == "__main__":
    main()
