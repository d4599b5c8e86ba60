"""Softmax facts, checked numerically on fastnn's own kernels.

The claims (chapter 3): a softmax layer a_j = exp(z_j) / Σ_k exp(z_k) outputs a
probability distribution (every a_j > 0, Σ_j a_j = 1); it is monotone (raising z_j
raises a_j and lowers every other a_k, as ∂a_j/∂z_k = a_j(δ_jk − a_k)); and with the
log-likelihood cost C = −ln a_y its output error is simply δ = ∂C/∂z = a − y, as for
sigmoid outputs with cross-entropy, so it has no learning slowdown.

What this script checks, on ``fastnn.kernels.activations.softmax_rows`` (the kernel
the engine runs) and on a ``fastnn.Network`` with a softmax output:

* 1,000 random rows of 10 inputs, N(0, 5²): every output > 0, sums within 1e-15 of 1.
* extreme rows (entries ±1e4, and all equal to ±1e4): the naive formula overflows to
  NaN, the kernel (which subtracts the row maximum) stays finite, every output lies in
  [0, 1] and the sums are 1 to 1e-15. Honest caveat: outputs more than ~745 below the
  row maximum underflow to exactly 0.0 in float64, so "positive" holds in exact
  arithmetic but not in floating point for such rows; the log-softmax kernel gives
  their finite logarithms (about −2e4).
* monotonicity: sweeping z_j from −10 to 10 with the others fixed, a_j strictly rises
  and every other a_k strictly falls; the finite-difference Jacobian has a positive
  diagonal and negative off-diagonal entries and matches a_j(δ_jk − a_k).
* δ = a − y: central differences of C = −ln softmax(z)_y with respect to z, and the
  output-bias gradient of a one-layer softmax + log-likelihood ``fastnn.Network``
  (which is δ for a single sample), both agree with a − y.

Measured (deterministic, seed 0)::

    python examples/softmax_facts.py

    random rows: min output 6.5e-14, max |sum - 1| 6.7e-16
    extreme rows: naive formula NaN in 8 of 8 rows; kernel finite: True, max |sum - 1| 0
    extreme rows: min output 0 (45 of 80 underflow to 0.0); log-softmax finite: True, min -2e+04
    monotonicity: a_j rises and all others fall over the sweep: True; Jacobian signs right: True
    max |Jacobian (finite differences) - a_j(delta_jk - a_k)| = 7e-11
    max |dC/dz (finite differences) - (a - y)| = 3.7e-10
    max |network output-bias gradient - (a - y)| = 0

The finite-difference errors are those of central differences with h = 1e-6; the
network's backprop gives a − y to the last bit.

``--plot softmax.png`` draws every a_k as z_j sweeps with the other inputs fixed.
"""
import _common
import numpy as np

import fastnn
from fastnn.kernels.activations import log_softmax_rows, softmax_rows


def softmax(Z):
    """Rows of softmax(Z) from fastnn's kernel (float64)."""
    Z = np.atleast_2d(np.asarray(Z, dtype=np.float64))
    A = np.empty_like(Z)
    softmax_rows(np.ascontiguousarray(Z), A)
    return A


def naive_softmax(Z):
    """exp(z) / Σ exp(z) straight from the formula (overflows for large z)."""
    with np.errstate(over="ignore", invalid="ignore"):
        E = np.exp(Z)
        return E / E.sum(axis=1, keepdims=True)


def extreme_rows(n=10):
    """Rows built from ±1e4 entries (and zeros): the cases that break the naive formula."""
    rows = [np.full(n, 1e4), np.full(n, -1e4), np.zeros(n)]
    rows[2][[0, 3]] = 1e4, -1e4
    alt = np.where(np.arange(n) % 2 == 0, 1e4, -1e4)
    rows += [alt, -alt, np.linspace(-1e4, 1e4, n)]
    one_high = np.full(n, -1e4)
    one_high[7] = 1e4
    rows += [one_high, np.r_[1e4, 1e4 - 1.0, np.full(n - 2, -1e4)]]
    return np.array(rows)


def sweep(z, j, values):
    """Softmax outputs (len(values), n) as z_j takes each of ``values``, the rest fixed."""
    Z = np.repeat(np.asarray(z, dtype=np.float64)[None, :], len(values), axis=0)
    Z[:, j] = values
    return softmax(Z)


def jacobian_fd(z, h=1e-6):
    """J[j, k] = ∂a_j/∂z_k by central differences."""
    n = len(z)
    J = np.empty((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = h
        J[:, k] = (softmax(z + e)[0] - softmax(z - e)[0]) / (2 * h)
    return J


def log_likelihood(z, label):
    """C = −ln softmax(z)_label, from the stable log-softmax kernel."""
    Z = np.atleast_2d(np.asarray(z, dtype=np.float64))
    out = np.empty_like(Z)
    log_softmax_rows(Z, out)
    return -out[0, label]


def delta_fd(z, label, h=1e-6):
    """∂C/∂z_k by central differences."""
    grad = np.empty(len(z))
    for k in range(len(z)):
        e = np.zeros(len(z))
        e[k] = h
        grad[k] = (log_likelihood(z + e, label) - log_likelihood(z - e, label)) / (2 * h)
    return grad


def network_delta(z, label, seed=0):
    """δ from backprop in a one-layer softmax + log-likelihood Network.

    With input x and output bias b, z = Wx + b, so for one sample ∂C/∂b = δ. The
    weights are drawn, then the bias is set so that the network's z equals ``z``.
    """
    n = len(z)
    rng = np.random.default_rng(seed)
    net = fastnn.Network([4, n], output_activation="softmax", cost="log_likelihood",
                         dtype="float64", seed=seed)
    x = rng.standard_normal((1, 4))
    W = net.weights[0].copy()
    net.set_parameters([W], [np.asarray(z) - W @ x[0]])
    _, grad_b = net.gradients(x, np.array([label]))
    return grad_b[0], net.feedforward(x)[0]


def plot(z, j, values, A, path):
    fig, (ax,) = _common.figure(1, 1, size=(7, 4.5))
    for k in range(A.shape[1]):
        ax.plot(values, A[:, k], lw=2.5 if k == j else 1.2,
                label=f"a_{k}" + (" (z swept)" if k == j else ""))
    ax.set(xlabel=f"z_{j} (other z_k fixed)", ylabel="softmax output a_k",
           title=f"Softmax is monotone: raising z_{j} raises a_{j}, lowers every other a_k")
    ax.legend(fontsize=8, ncol=2)
    _common.save(fig, path)


def main(argv=None):
    p = _common.parser(__doc__)
    p.add_argument("--n", type=int, default=10, help="softmax size (default %(default)s)")
    p.add_argument("--rows", type=int, default=1000, help="random rows (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="default %(default)s")
    p.add_argument("--plot", default=None, metavar="PATH", help="save a PNG figure to PATH")
    args = p.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    n = args.n

    # 1. A distribution, for random and for extreme inputs.
    A = softmax(rng.normal(0.0, 5.0, size=(args.rows, n)))
    random_min, random_err = float(A.min()), float(np.abs(A.sum(axis=1) - 1).max())
    print(f"random rows: min output {random_min:.2g}, max |sum - 1| {random_err:.2g}")
    Z_ext = extreme_rows(n)
    naive_nan = int(np.isnan(naive_softmax(Z_ext)).any(axis=1).sum())
    A_ext = softmax(Z_ext)
    log_ext = np.empty_like(Z_ext)
    log_softmax_rows(Z_ext, log_ext)
    extreme = {"finite": bool(np.isfinite(A_ext).all()),
               "in_unit_interval": bool(((A_ext >= 0) & (A_ext <= 1)).all()),
               "max_sum_error": float(np.abs(A_ext.sum(axis=1) - 1).max()),
               "underflowed_to_zero": int((A_ext == 0).sum()),
               "log_softmax_finite": bool(np.isfinite(log_ext).all()),
               "naive_nan_rows": naive_nan, "rows": len(Z_ext)}
    print(f"extreme rows: naive formula NaN in {naive_nan} of {len(Z_ext)} rows; kernel "
          f"finite: {extreme['finite']}, max |sum - 1| {extreme['max_sum_error']:.2g}")
    print(f"extreme rows: min output {A_ext.min():.2g} ({extreme['underflowed_to_zero']} of "
          f"{A_ext.size} underflow to 0.0); log-softmax finite: "
          f"{extreme['log_softmax_finite']}, min {log_ext.min():.3g}")

    # 2. Monotonicity.
    z = rng.normal(0.0, 1.0, size=n)
    j = 2 % n
    values = np.linspace(-10.0, 10.0, 401)
    S = sweep(z, j, values)
    others = np.delete(S, j, axis=1)
    rises = bool(np.all(np.diff(S[:, j]) > 0))
    others_fall = bool(np.all(np.diff(others, axis=0) < 0))
    J = jacobian_fd(z)
    a = softmax(z)[0]
    J_exact = np.diag(a) - np.outer(a, a)
    off = ~np.eye(n, dtype=bool)
    signs = bool(np.all(np.diag(J) > 0) and np.all(J[off] < 0))
    jac_err = float(np.abs(J - J_exact).max())
    print(f"monotonicity: a_j rises and all others fall over the sweep: "
          f"{rises and others_fall}; Jacobian signs right: {signs}")
    print(f"max |Jacobian (finite differences) - a_j(delta_jk - a_k)| = {jac_err:.2g}")

    # 3. δ = a − y for softmax with the log-likelihood cost.
    label = 1 % n
    y = np.eye(n)[label]
    fd_err = float(np.abs(delta_fd(z, label) - (a - y)).max())
    grad_b, a_net = network_delta(z, label, args.seed)
    net_err = float(np.abs(grad_b - (a_net - y)).max())
    net_z_err = float(np.abs(a_net - a).max())
    print(f"max |dC/dz (finite differences) - (a - y)| = {fd_err:.2g}")
    print(f"max |network output-bias gradient - (a - y)| = {net_err:.2g}")

    if args.plot:
        plot(z, j, values, S, args.plot)
    return {"random_min_output": random_min, "random_max_sum_error": random_err,
            "extreme": extreme, "sweep_a_j_rises": rises, "sweep_others_fall": others_fall,
            "jacobian_signs": signs, "jacobian_error": jac_err, "delta_fd_error": fd_err,
            "delta_network_error": net_err, "network_output_error": net_z_err}


if __name__ == "__main__":
    main()
