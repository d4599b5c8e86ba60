"""Parity of the Numba engine with the naive reference (fastnn.reference).

DESIGN.md, "Parity contract": float64 gradients equal the reference's to 1e-9 relative
for every cost / output / hidden activation combination and agree with central finite
differences; one epoch from the same parameters and shuffle order gives the same
parameters (1e-9 in float64, float32 within its precision).

Every comparison prints "engine (ACTUAL) vs reference (DESIRED)" with the combination
that failed. Batch sizes are chosen to hit every path of the register-blocked kernels (the forward
product's blocks of 5 samples, a last block of 3 or 4 with a repeated row, and single
samples; the gradient's blocks of 5, 2 and 1; neuron groups with a clamped last index).
"""

import numpy as np
import pytest

import fastnn
from fastnn.kernels import activations as kact
from fastnn.kernels import costs as kcost
from fastnn.reference import ReferenceNetwork

HIDDEN = ["sigmoid", "tanh", "relu", "identity"]
OUTPUT_COST = [("sigmoid", "cross_entropy"), ("softmax", "log_likelihood"), ("exp", "poisson")]
OUTPUT_COST += [(out, "quadratic") for out in ["sigmoid", "tanh", "relu", "identity", "softmax"]]
SIZES = [[5, 3], [7, 6, 4], [9, 8, 7, 5], [20, 33, 17, 10]]
# forward: 1 single; 3 a padded 5-block; 7: 5 + 1 + 1; 13: 5 + 5 + padded 3.
# gradient (weight_product): 1 single; 3: 2-block + 1; 7: 5 + 2; 13: 5 + 5 + 2 + 1.
BATCHES = [1, 3, 7, 13]

GRAD_RTOL = 1e-9


# ---------------------------------------------------------------- helpers

def _ids(value):
    return "-".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def make_pair(sizes, hidden, output, cost, dtype="float64", seed=0):
    """A fastnn.Network and a ReferenceNetwork holding the same parameters.

    The reference gets *copies*: ReferenceNetwork keeps float64 biases it is given
    without copying them (see test_reference_copies_its_parameters), and the engine
    updates its parameters in place.
    """
    net = fastnn.Network(sizes, hidden, output, cost, dtype=dtype, seed=seed)
    ref = ReferenceNetwork([w.copy() for w in net.weights], [b.copy() for b in net.biases],
                           hidden, output, cost)
    return net, ref


def make_targets(n, n_out, output, cost, rng):
    """Targets valid for the cost: one-hot for log-likelihood and softmax outputs,
    0/1 for cross-entropy, counts for the Poisson deviance, uniform in [0, 1] otherwise."""
    if cost == "log_likelihood" or output == "softmax":
        return np.eye(n_out)[rng.integers(0, n_out, size=n)]
    if cost == "cross_entropy":
        return rng.integers(0, 2, size=(n, n_out)).astype(np.float64)
    if cost == "poisson":
        return rng.poisson(1.5, size=(n, n_out)).astype(np.float64)
    return rng.uniform(0.0, 1.0, size=(n, n_out))


def flat(weights, biases):
    """The engine's flat layout (all weights, then all biases) in float64."""
    return np.concatenate([np.ravel(w) for w in weights] + [np.ravel(b) for b in biases]
                          ).astype(np.float64)


def assert_close(got, want, rtol, what, atol_frac=1e-3):
    """Elementwise |got - want| <= rtol |want| + rtol * atol_frac * max|want|."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: engine shape {got.shape} vs reference {want.shape}"
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    np.testing.assert_allclose(
        got, want, rtol=rtol, atol=rtol * atol_frac * scale,
        err_msg=(f"{what}: engine (ACTUAL) vs reference (DESIRED); max |engine - reference| "
                 f"= {diff:.3e}, max |reference| = {scale:.3e}, rtol = {rtol:g}"))


def assert_grads_close(got, want, rtol, what):
    (gw, gb), (rw, rb) = got, want
    assert len(gw) == len(rw) and len(gb) == len(rb)
    for l, (g, r) in enumerate(zip(gw, rw)):
        assert_close(g, r, rtol, f"{what}: dC/dW of layer {l}")
    for l, (g, r) in enumerate(zip(gb, rb)):
        assert_close(g, r, rtol, f"{what}: dC/db of layer {l}")


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("sizes", SIZES, ids=_ids)
@pytest.mark.parametrize("output,cost", OUTPUT_COST, ids=_ids)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradients_match_reference(sizes, hidden, output, cost):
    seed = SIZES.index(sizes) * 100 + HIDDEN.index(hidden) * 10 + OUTPUT_COST.index((output, cost))
    net, ref = make_pair(sizes, hidden, output, cost, seed=seed)
    rng = np.random.default_rng(seed)
    largest = 0.0
    for n in BATCHES:
        X = rng.normal(size=(n, sizes[0]))
        Y = make_targets(n, sizes[-1], output, cost, rng)
        got = net.gradients(X, Y)
        want = ref.gradients(X, Y)
        assert [g.shape for g in got[0]] == [w.shape for w in net.weights]
        assert [g.shape for g in got[1]] == [b.shape for b in net.biases]
        assert_grads_close(got, want, GRAD_RTOL,
                           f"sizes={sizes} hidden={hidden} output={output} cost={cost} batch={n}")
        largest = max(largest, max(float(np.abs(g).max()) for g in want[0] + want[1]))
    # The comparison must be able to fail: the gradients are not all zero.
    assert largest > 1e-3


@pytest.mark.parametrize("output,cost", OUTPUT_COST, ids=_ids)
@pytest.mark.parametrize("hidden", [["relu", "tanh", "identity"], ["sigmoid", "relu", "tanh"],
                                    ["identity", "sigmoid", "relu"]], ids=_ids)
def test_gradients_match_reference_per_layer_activations(hidden, output, cost):
    sizes = [6, 9, 5, 4, 3]
    net, ref = make_pair(sizes, hidden, output, cost, seed=11)
    assert net.activations == tuple(hidden) + (output,)
    rng = np.random.default_rng(12)
    for n in (1, 7, 13):
        X = rng.normal(size=(n, sizes[0]))
        Y = make_targets(n, sizes[-1], output, cost, rng)
        assert_grads_close(net.gradients(X, Y), ref.gradients(X, Y), GRAD_RTOL,
                           f"hidden={hidden} output={output} cost={cost} batch={n}")


def test_gradients_accept_labels_like_one_hot_targets():
    net, ref = make_pair([6, 5, 3], "tanh", "softmax", "log_likelihood", seed=3)
    rng = np.random.default_rng(4)
    X = rng.normal(size=(7, 6))
    labels = rng.integers(0, 3, size=7)
    assert_grads_close(net.gradients(X, labels), ref.gradients(X, np.eye(3)[labels]),
                       GRAD_RTOL, "labels vs one-hot")


def test_gradients_do_not_depend_on_row_position():
    """The blocked kernels give every row the same treatment: the mean gradient of a
    batch is the mean of the single-sample gradients (up to rounding)."""
    net, _ = make_pair([9, 7, 5], "sigmoid", "sigmoid", "cross_entropy", seed=5)
    rng = np.random.default_rng(6)
    X = rng.normal(size=(13, 9))
    Y = make_targets(13, 5, "sigmoid", "cross_entropy", rng)
    gw, gb = net.gradients(X, Y)
    singles = [net.gradients(X[i:i + 1], Y[i:i + 1]) for i in range(13)]
    for l in range(2):
        assert_close(gw[l], sum(s[0][l] for s in singles) / 13, 1e-12, f"dC/dW[{l}]")
        assert_close(gb[l], sum(s[1][l] for s in singles) / 13, 1e-12, f"dC/db[{l}]")


# ---------------------------------------------------------------- finite differences

FD_CASES = [
    ([4, 5, 3], "tanh", "sigmoid", "cross_entropy"),
    ([5, 4, 3, 4], "sigmoid", "softmax", "log_likelihood"),
    ([4, 6, 3], "tanh", "softmax", "quadratic"),
    ([3, 5, 2], "sigmoid", "tanh", "quadratic"),
    ([4, 5, 3], "relu", "identity", "quadratic"),
]


@pytest.mark.parametrize("sizes,hidden,output,cost", FD_CASES, ids=_ids)
def test_gradients_match_central_differences_of_engine_cost(sizes, hidden, output, cost):
    net = fastnn.Network(sizes, hidden, output, cost, dtype="float64", seed=21)
    rng = np.random.default_rng(22)
    X = rng.normal(size=(5, sizes[0]))
    Y = make_targets(5, sizes[-1], output, cost, rng)
    if hidden == "relu":
        # A central difference straddling a kink would be meaningless: check none is near.
        pre = X @ net.weights[0].T + net.biases[0]
        assert np.abs(pre).min() > 1e-3, "draw landed on a relu kink; change the seed"
    gw, gb = net.gradients(X, Y)
    analytic = flat(gw, gb)

    h = 1e-6
    numeric = np.empty(net.params.size)
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + h
        plus = net.evaluate(X, Y)["cost"]
        net.params[i] = saved - h
        minus = net.evaluate(X, Y)["cost"]
        net.params[i] = saved
        numeric[i] = (plus - minus) / (2 * h)
    np.testing.assert_allclose(
        analytic, numeric, rtol=1e-6, atol=1e-8,
        err_msg=f"{sizes} {hidden}/{output}/{cost}: engine backprop (ACTUAL) vs central "
                f"differences of engine evaluate()['cost'] (DESIRED)")
    assert np.abs(analytic).max() > 1e-2


# ---------------------------------------------------------------- one epoch

EPOCH_CASES = [
    # sizes, hidden, output, cost, n, mini_batch_size, eta, lmbda
    ([7, 6, 5], "sigmoid", "sigmoid", "cross_entropy", 23, 5, 0.5, 2.0),
    ([9, 8, 7, 5], "relu", "softmax", "log_likelihood", 23, 4, 0.3, 0.0),
    ([5, 4, 3], "tanh", "identity", "quadratic", 17, 6, 0.2, 5.0),
    ([6, 5, 4, 3], ["relu", "tanh"], "softmax", "quadratic", 19, 7, 1.0, 1.0),
    ([20, 33, 17, 10], "tanh", "softmax", "log_likelihood", 30, 8, 0.1, 3.0),
    ([8, 9, 3], "sigmoid", "relu", "quadratic", 11, 1, 0.05, 0.5),
]


def _epoch_case(case, dtype, seed):
    sizes, hidden, output, cost, n, m, eta, lmbda = case
    net, ref = make_pair(sizes, hidden, output, cost, dtype=dtype, seed=seed)
    if output == "relu":
        net.biases[-1][...] += 1.0     # keep the relu outputs alive
        ref.biases[-1] += 1.0
    rng = np.random.default_rng(seed + 1)
    # Inputs and targets representable in the engine's dtype, so that both sides see
    # exactly the same numbers and only the arithmetic differs.
    X = rng.normal(size=(n, sizes[0])).astype(dtype)
    Y = make_targets(n, sizes[-1], output, cost, rng).astype(dtype)
    order = rng.permutation(n)
    return net, ref, X, Y, order, m, eta, lmbda


@pytest.mark.parametrize("case", EPOCH_CASES, ids=lambda c: f"{_ids(c[0])}-{_ids(c[1])}-{c[3]}")
def test_one_epoch_matches_reference_float64(case):
    net, ref, X, Y, order, m, eta, lmbda = _epoch_case(case, "float64", seed=31)
    before = net.params.copy()
    assert_close(before, flat(ref.weights, ref.biases), 0, "initial parameters")
    net.train_epoch(X, Y, order, m, eta, lmbda)
    ref.train_epoch(X, Y, order, m, eta, lmbda)
    want = flat(ref.weights, ref.biases)
    assert_close(net.params, want, 1e-9, f"{case}: parameters after one epoch")
    # The update itself (not just the parameters) agrees to 1e-9 of its size.
    assert_close(net.params - before, want - before, 1e-9, f"{case}: change over one epoch")
    assert np.abs(want - before).max() > 1e-2


def test_one_epoch_order_with_repeats_and_subset():
    """order may repeat and skip rows; n for the decay is len(order)."""
    case = ([6, 5, 4], "tanh", "sigmoid", "cross_entropy", 9, 4, 0.4, 3.0)
    net, ref, X, Y, _, m, eta, lmbda = _epoch_case(case, "float64", seed=41)
    order = np.array([3, 3, 0, 8, 1, 3, 5], dtype=np.int64)
    net.train_epoch(X, Y, order, m, eta, lmbda)
    ref.train_epoch(X, Y, order, m, eta, lmbda)
    assert_close(net.params, flat(ref.weights, ref.biases), 1e-9, "order with repeats")


def test_one_epoch_mini_batch_larger_than_data():
    case = ([5, 4, 3], "sigmoid", "softmax", "log_likelihood", 6, 50, 0.5, 1.0)
    net, ref, X, Y, order, m, eta, lmbda = _epoch_case(case, "float64", seed=43)
    net.train_epoch(X, Y, order, m, eta, lmbda)
    ref.train_epoch(X, Y, order, m, eta, lmbda)
    assert_close(net.params, flat(ref.weights, ref.biases), 1e-9, "one mini-batch of all rows")


# float32 engine against the float64 reference, both started from the same (float32)
# parameters on the same (float32) data. The float32 unit roundoff is 6e-8; over one
# epoch of a few mini-batches of these small networks the measured error is below 1e-6
# of the parameters' scale (about 20 roundings deep). 2e-5 leaves a margin of more
# than 10x and is still 100x smaller than a 1% mistake in a single mini-batch's update
# (updates are 0.1-1 here), so a wrong decay, step, δ or skipped batch is caught.
F32_TOL = 2e-5


@pytest.mark.parametrize("case", EPOCH_CASES, ids=lambda c: f"{_ids(c[0])}-{_ids(c[1])}-{c[3]}")
def test_one_epoch_float32_within_float32_precision(case):
    net, ref, X, Y, order, m, eta, lmbda = _epoch_case(case, "float32", seed=51)
    assert net.params.dtype == np.float32
    before = net.params.astype(np.float64)
    net.train_epoch(X, Y, order, m, eta, lmbda)
    ref.train_epoch(X, Y, order, m, eta, lmbda)
    want = flat(ref.weights, ref.biases)
    got = net.params.astype(np.float64)
    scale = float(np.abs(want).max())
    np.testing.assert_allclose(
        got, want, rtol=F32_TOL, atol=F32_TOL * scale,
        err_msg=f"{case}: float32 engine (ACTUAL) vs float64 reference (DESIRED) after one "
                f"epoch; max |diff| = {np.abs(got - want).max():.3e}, scale {scale:.3e}")
    change = np.abs(want - before).max()
    np.testing.assert_allclose(
        got - before, want - before, rtol=0, atol=1e-4 * change,
        err_msg=f"{case}: float32 engine (ACTUAL) vs float64 reference (DESIRED): change of "
                f"the parameters over one epoch (max {change:.3e})")
    assert change > 1e-2


# ---------------------------------------------------------------- fused vs unfused update

@pytest.mark.parametrize("dtype,rtol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("lmbda", [0.0, 4.0])
def test_fused_update_equals_mean_gradient_then_the_update(dtype, rtol, lmbda):
    sizes = [9, 7, 5, 3]
    net = fastnn.Network(sizes, ["tanh", "relu"], "softmax", "log_likelihood", dtype=dtype,
                         seed=61)
    eng = net._engine
    rng = np.random.default_rng(62)
    n = 11
    X = np.ascontiguousarray(rng.normal(size=(n, sizes[0])), dtype=dtype)
    Y = np.ascontiguousarray(np.eye(3)[rng.integers(0, 3, size=n)], dtype=dtype)
    eta = 0.7
    params = net.params.copy()

    grad = eng.mean_gradient(params.copy(), X, Y)
    # the book's update written out, in the parameters' dtype: w ← (1 − ηλ/n) w − η ∇w,
    # b ← b − η ∇b
    unfused = params.copy()
    nw = eng.n_weights
    dt = unfused.dtype.type
    unfused[:nw] = dt(1.0 - eta * lmbda / n) * unfused[:nw] - dt(eta) * grad[:nw]
    unfused[nw:] -= dt(eta) * grad[nw:]

    fused = params.copy()
    eng.train_epoch(fused, X, Y, np.arange(n, dtype=np.int64), n, eta, lmbda)

    scale = float(np.abs(params).max())
    np.testing.assert_allclose(
        fused, unfused, rtol=rtol, atol=rtol * scale,
        err_msg=f"{dtype} λ={lmbda}: fused train_epoch (ACTUAL) vs mean_gradient + the update "
                f"(DESIRED)")

    # Both follow the book's formula: weights decay, biases do not.
    nw = eng.n_weights
    p64, g64 = params.astype(np.float64), grad.astype(np.float64)
    decay = 1.0 - eta * lmbda / n
    expected = np.concatenate([decay * p64[:nw] - eta * g64[:nw], p64[nw:] - eta * g64[nw:]])
    for name, got in (("fused", fused), ("unfused", unfused)):
        np.testing.assert_allclose(
            got.astype(np.float64), expected, rtol=rtol, atol=rtol * scale,
            err_msg=f"{dtype} λ={lmbda}: {name} update (ACTUAL) vs w <- (1-ηλ/n)w - η∇w, "
                    f"b <- b - η∇b (DESIRED)")
    if lmbda:
        decayed_biases = decay * p64[nw:] - eta * g64[nw:]
        assert np.abs(fused[nw:] - decayed_biases).max() > 1e3 * rtol * scale, \
            "biases look decayed (or the decay is too small for this test to tell)"


def test_mean_gradient_of_a_row_subset():
    net, ref = make_pair([6, 5, 4], "sigmoid", "sigmoid", "quadratic", seed=71)
    rng = np.random.default_rng(72)
    X = rng.normal(size=(10, 6))
    Y = rng.uniform(size=(10, 4))
    rows = np.array([7, 2, 2, 9, 0], dtype=np.int64)
    grad = net._engine.mean_gradient(net.params, X, Y, rows)
    gw, gb = ref.gradients(X[rows], Y[rows])
    assert_close(grad, flat(gw, gb), GRAD_RTOL, "mean_gradient over rows [7, 2, 2, 9, 0]")


# ---------------------------------------------------------------- kernels: softmax

def _np_log_softmax(Z):
    Z = np.asarray(Z, dtype=np.float64)
    shifted = Z - Z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _softmax_inputs(dtype):
    rng = np.random.default_rng(81)
    Z = rng.normal(scale=3.0, size=(6, 7))
    extreme = np.array([
        [1e4, -1e4, 0.0, 1.0, -1.0, 2.0, 1e4],
        [-1e4] * 7,
        [1e4] * 7,
        [-1e4, -1e4 + 1, -1e4 + 2, -1e4 + 3, -1e4 + 4, -1e4 + 5, -1e4 + 6],
        [1e4, 1e4 - 1, 1e4 - 3, 1e4 - 10, 1e4 - 30, 1e4 - 100, -1e4],
    ])
    return np.ascontiguousarray(np.vstack([Z, extreme]), dtype=dtype)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-13), (np.float32, 2e-6)])
def test_softmax_rows_kernel(dtype, rtol):
    Z = _softmax_inputs(dtype)
    A = np.empty_like(Z)
    kact.softmax_rows(Z, A)
    want = np.exp(_np_log_softmax(Z))
    assert np.isfinite(A).all(), f"softmax_rows gave non-finite values for inputs up to ±1e4:\n{A}"
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=0, atol=10 * np.finfo(dtype).eps,
                               err_msg="softmax_rows: row sums (ACTUAL) vs 1")
    np.testing.assert_allclose(A, want, rtol=rtol, atol=np.finfo(dtype).tiny * 4,
                               err_msg=f"softmax_rows {np.dtype(dtype).name} (ACTUAL) vs NumPy "
                                       f"float64 softmax (DESIRED)")
    # the uniform rows of equal ±1e4 inputs
    np.testing.assert_allclose(A[7], 1 / 7, rtol=rtol)
    np.testing.assert_allclose(A[8], 1 / 7, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_softmax_rows_kernel(dtype):
    Z = _softmax_inputs(dtype)
    out = np.empty_like(Z)
    kact.log_softmax_rows(Z, out)
    assert np.isfinite(out).all(), f"log_softmax_rows is not finite for inputs up to ±1e4:\n{out}"
    want = _np_log_softmax(Z)
    # z_j - shift loses |z| * eps in the subtraction: allow a few ulps of the row's size.
    eps = np.finfo(dtype).eps
    row_scale = np.abs(Z.astype(np.float64)).max(axis=1, keepdims=True) + 1.0
    tol = 8 * eps * row_scale
    err = np.abs(out - want)
    assert (err <= tol).all(), (
        f"log_softmax_rows {np.dtype(dtype).name} (ACTUAL) vs NumPy float64 (DESIRED): "
        f"worst error {err.max():.3e} at {np.unravel_index(np.argmax(err / tol), err.shape)}"
        f"\nACTUAL\n{out}\nDESIRED\n{want}")
    # Where the softmax itself is representable, log_softmax is its logarithm.
    A = np.exp(want)
    ok = A > np.finfo(dtype).tiny
    assert ok.sum() > 20 and (~ok).sum() > 5
    np.testing.assert_allclose(out[ok], np.log(A[ok]), rtol=0, atol=tol.max(),
                               err_msg="log_softmax_rows (ACTUAL) vs np.log(softmax) (DESIRED)")
    # where it underflows, log_softmax still holds the large negative value
    assert (out[~ok] < np.log(np.finfo(dtype).tiny)).all()


# ---------------------------------------------------------------- kernels: cost

@pytest.mark.parametrize("output,cost", OUTPUT_COST, ids=_ids)
def test_cost_sum_kernel_matches_reference_total_cost(output, cost):
    sizes = [6, 7, 5]
    net, ref = make_pair(sizes, "tanh", output, cost, seed=91)
    rng = np.random.default_rng(92)
    n = 13
    X = rng.normal(size=(n, 6))
    Y = make_targets(n, 5, output, cost, rng)
    Z, A = net._engine.forward(net.params, X)
    total = kcost.COST_SUMS[net._engine.cost](Z, A, Y, np.arange(n, dtype=np.int64))
    want = ref.total_cost(X, Y, 0.0)
    np.testing.assert_allclose(total / n, want, rtol=1e-12,
                               err_msg=f"{output}/{cost}: cost_sum/n (ACTUAL) vs reference "
                                       f"total_cost (DESIRED)")
    # a row subset, with repeats
    rows = np.array([4, 4, 0, 12], dtype=np.int64)
    Zr, Ar = net._engine.forward(net.params, X[rows])
    sub = kcost.COST_SUMS[net._engine.cost](Zr, Ar, Y, rows)
    np.testing.assert_allclose(sub / 4, ref.total_cost(X[rows], Y[rows], 0.0), rtol=1e-12,
                               err_msg=f"{output}/{cost}: cost_sum over rows {rows.tolist()}")


@pytest.mark.parametrize("output,cost", OUTPUT_COST, ids=_ids)
@pytest.mark.parametrize("lmbda", [0.0, 3.5])
def test_evaluate_cost_matches_reference_total_cost(output, cost, lmbda):
    sizes = [5, 6, 4, 3]
    net, ref = make_pair(sizes, "sigmoid", output, cost, seed=93)
    rng = np.random.default_rng(94)
    X = rng.normal(size=(9, 5))
    Y = make_targets(9, 3, output, cost, rng)
    got = net.evaluate(X, Y, lmbda=lmbda)["cost"]
    want = ref.total_cost(X, Y, lmbda)
    np.testing.assert_allclose(got, want, rtol=1e-9,
                               err_msg=f"{output}/{cost} λ={lmbda}: evaluate()['cost'] (ACTUAL) "
                                       f"vs reference total_cost (DESIRED)")
    if lmbda:
        penalty = 0.5 * lmbda / 9 * sum(float((w ** 2).sum()) for w in ref.weights)
        np.testing.assert_allclose(got - net.evaluate(X, Y)["cost"], penalty, rtol=1e-9,
                                   err_msg="L2 term of evaluate (ACTUAL) vs ½(λ/n)Σ‖W‖²")


def test_cost_sum_saturated_outputs_stay_finite():
    """Cross-entropy and log-likelihood are computed from z: finite when σ(z) rounds to 0 or 1."""
    Z = np.array([[60.0, -60.0, 0.5], [-800.0, 800.0, 3.0]])
    Y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    rows = np.arange(2, dtype=np.int64)
    A = 1.0 / (1.0 + np.exp(-np.clip(Z, -700, 700)))
    want_ce = float(np.sum(Y * np.logaddexp(0.0, -Z) + (1 - Y) * np.logaddexp(0.0, Z)))
    got_ce = kcost.COST_SUMS[kcost.CROSS_ENTROPY](Z, A, Y, rows)
    np.testing.assert_allclose(got_ce, want_ce, rtol=1e-13,
                               err_msg="cross-entropy cost_sum (ACTUAL) vs logaddexp (DESIRED)")
    Z2 = np.array([[1e4, -1e4, 0.0], [3.0, 2.0, -1e4]])
    Y2 = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    want_ll = -float(np.sum(Y2 * _np_log_softmax(Z2)))
    got_ll = kcost.COST_SUMS[kcost.LOG_LIKELIHOOD](Z2, np.exp(_np_log_softmax(Z2)), Y2, rows)
    np.testing.assert_allclose(got_ll, want_ll, rtol=1e-13,
                               err_msg="log-likelihood cost_sum (ACTUAL) vs -Σ y log_softmax(z)")
    assert np.isfinite(got_ce) and np.isfinite(got_ll) and got_ll > 1e4


# ---------------------------------------------------------------- determinism

def test_same_seed_gives_bit_identical_parameters_after_fit():
    rng = np.random.default_rng(101)
    X = rng.normal(size=(57, 8)).astype(np.float32)
    y = rng.integers(0, 4, size=57)
    params = []
    for seed in (5, 5, 6):
        net = fastnn.Network([8, 7, 4], "relu", "softmax", "log_likelihood", seed=seed)
        net.fit(X, y, epochs=3, mini_batch_size=5, eta=0.1, lmbda=0.5)
        params.append(net.params.copy())
    np.testing.assert_array_equal(params[0], params[1],
                                  err_msg="two fresh networks with seed=5 differ after fit")
    assert not np.array_equal(params[0], params[2]), "seed 6 gave the same parameters as seed 5"


# ---------------------------------------------------------------- the oracle's inputs

def test_reference_copies_its_parameters():
    weights = [np.ones((2, 3))]
    biases = [np.zeros(2)]
    ref = ReferenceNetwork(weights, biases)
    weights[0][...] = 7.0
    biases[0][...] = 5.0
    np.testing.assert_array_equal(ref.weights[0], 1.0, err_msg="reference weights aliased")
    np.testing.assert_array_equal(ref.biases[0], 0.0, err_msg="reference biases aliased")


def test_cost_sum_quadratic_float32_accumulates_in_float64():
    A = np.array([[2e19, 0.0], [1.0, 3.0]], dtype=np.float32)
    Y = np.zeros((2, 2), dtype=np.float32)
    got = kcost.COST_SUMS[kcost.QUADRATIC](A, A, Y, np.arange(2, dtype=np.int64))
    want = 0.5 * (float(np.float32(2e19)) ** 2 + 1.0 + 9.0)
    np.testing.assert_allclose(got, want, rtol=1e-6,
                               err_msg="float32 quadratic cost_sum (ACTUAL) vs float64 (DESIRED)")
