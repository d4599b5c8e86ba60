"""Gradient clipping by norm: the kernel, the epoch on both paths against the reference,
the arguments, and what it is for (an exploding step kept finite)."""
import numpy as np
import pytest
from _oracle import reference_of, rel_err, targets

import fastnn
from fastnn.kernels import optim as koptim
from fastnn.reference import ReferenceOptimizer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_by_norm_scales_only_what_is_above_the_bound(dtype):
    rng = np.random.default_rng(0)
    g = (rng.standard_normal(1001) * 3).astype(dtype)
    norm = float(np.linalg.norm(g.astype(np.float64)))
    within = g.copy()
    assert koptim.clip_by_norm(within, norm * 1.01) == pytest.approx(norm, rel=1e-12)
    np.testing.assert_array_equal(within, g)  # untouched, bit for bit
    above = g.copy()
    got = koptim.clip_by_norm(above, norm / 10)
    assert got == pytest.approx(norm, rel=1e-12)
    tol = 1e-6 if dtype == np.float32 else 1e-14
    assert np.linalg.norm(above.astype(np.float64)) == pytest.approx(norm / 10, rel=tol)
    np.testing.assert_allclose(above, g / 10, rtol=tol)  # same direction
    zero = np.zeros(5, dtype)
    assert koptim.clip_by_norm(zero, 1.0) == 0.0 and not zero.any()


@pytest.mark.parametrize("matrix", [False, True], ids=["loop", "matrix"])
@pytest.mark.parametrize("name, ours", [("sgd", None), ("momentum", fastnn.optim.Momentum()),
                                        ("adam", fastnn.optim.Adam())])
def test_clipped_epochs_match_the_reference(matrix, name, ours):
    """Three float64 epochs with clipping active (the starting gradient is over 3× the
    bound) equal the reference's (which clips in NumPy with math.fsum) to 1e-9, and differ
    from unclipped training."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((64, 9)) * 2
    Y = targets(rng, 64, 4, "log_likelihood")
    clip = 0.05
    eta = 0.01 if name == "adam" else 0.5

    def run(clip_norm):
        net = fastnn.Network([9, 8, 4], "tanh", "softmax", "log_likelihood", dtype="float64",
                             seed=5)
        net._engine.matrix = matrix  # force the path under test
        ref = reference_of(net)
        ref_opt = None if ours is None else ReferenceOptimizer(name)
        state = None
        for epoch in range(3):
            order = np.random.default_rng(epoch).permutation(64)
            state = net.train_epoch(X, Y, order, 16, eta, lmbda=0.3, optimizer=ours,
                                    state=state, clip_norm=clip_norm)
            ref.train_epoch(X, Y, order, 16, eta, lmbda=0.3,
                            optimizer=ref_opt if ours is not None else None,
                            clip_norm=clip_norm)
        return net, ref

    net, ref = run(clip)
    for a, b in zip(net.weights + net.biases, ref.weights + [b.ravel() for b in ref.biases]):
        assert rel_err(a, b) < 1e-9, rel_err(a, b)
    unclipped, _ = run(None)
    assert rel_err(net.params, unclipped.params) > 1e-3  # the bound was active
    # ...and the mini-batch gradients at the start are well above it
    start = fastnn.Network([9, 8, 4], "tanh", "softmax", "log_likelihood", dtype="float64",
                           seed=5)
    grad = start._engine.mean_gradient(start.params, X, Y.astype(np.float64))
    assert np.linalg.norm(grad) > 3 * clip


def test_float32_clipped_epoch_tracks_reference():
    rng = np.random.default_rng(4)
    net = fastnn.Network([9, 8, 4], "relu", "sigmoid", "cross_entropy", seed=2)
    ref = reference_of(net)
    X = rng.standard_normal((40, 9))
    Y = targets(rng, 40, 4, "cross_entropy")
    order = rng.permutation(40)
    net.train_epoch(X, Y, order, 8, 0.5, lmbda=0.5, clip_norm=0.1)
    ref.train_epoch(X, Y, order, 8, 0.5, lmbda=0.5, clip_norm=0.1)
    for a, b in zip(net.weights + net.biases, ref.weights + [b.ravel() for b in ref.biases]):
        np.testing.assert_allclose(a, b, atol=2e-5 * np.abs(b).max(), rtol=0)


def test_clipping_keeps_an_exploding_run_finite():
    """Quadratic cost with targets far outside the outputs' range and a large η: plain SGD
    blows up (TrainingDiverged); with clip_norm every step is at most η · clip long."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((200, 5))
    Y = rng.standard_normal((200, 2)) * 1e3
    kwargs = dict(epochs=5, mini_batch_size=10, eta=0.5)
    plain = fastnn.Network([5, 16, 2], "relu", "identity", "quadratic", dtype="float64", seed=0)
    with pytest.raises(fastnn.TrainingDiverged):
        plain.fit(X, Y, **kwargs)
    clipped = fastnn.Network([5, 16, 2], "relu", "identity", "quadratic", dtype="float64",
                             seed=0)
    before = clipped.params.copy()
    clipped.fit(X, Y, clip_norm=1.0, **kwargs)
    assert np.isfinite(clipped.params).all()
    steps = 5 * 20
    assert np.linalg.norm(clipped.params - before) <= 0.5 * 1.0 * steps * (1 + 1e-9)


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_bad_clip_norm_is_named(value):
    net = fastnn.Network([4, 3, 2])
    X, y = np.zeros((6, 4)), [0, 1, 0, 1, 0, 1]
    with pytest.raises(ValueError, match=r"clip_norm=.* is invalid; expected a positive"):
        net.fit(X, y, clip_norm=value)
    with pytest.raises(ValueError, match="clip_norm="):
        net.train_epoch(X, y, np.arange(6), 2, 0.1, clip_norm=value)
    ref = reference_of(net)
    with pytest.raises(ValueError, match="clip_norm="):
        ref.train_epoch(X, np.eye(2)[y], np.arange(6), 2, 0.1, clip_norm=value)


def test_hogwild_refuses_clipping():
    net = fastnn.Network([4, 3, 2])
    with pytest.raises(ValueError, match=r"cannot be combined with clip_norm=1\.0"):
        net.fit(np.zeros((6, 4)), [0, 1, 0, 1, 0, 1], hogwild=True, clip_norm=1.0)
