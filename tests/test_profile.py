"""``fastnn profile`` (fastnn/perf/profile.py): the cost model against counts made by hand, the
profile's structure and JSON schema, the phase sum against the measured epoch, the
sweeps in their reduced form, the figures and the command line."""
import json
import subprocess
import sys

import numpy as np
import pytest

from fastnn._engine import blas as _blas
from fastnn._engine import gemm as _gemm
from fastnn.cli import main
from fastnn.perf import profile as prof

# -- the cost model, counted by hand ----------------------------------------------------
# Network [3, 2, 1], mini-batch 2, 5 samples: mini-batches of 2, 2 and 1 rows (k), float64
# (8 bytes). Layer 1: 3 inputs, 2 neurons, 6 weights; layer 2: 2 inputs, 1 neuron.
#
# layer 1, per mini-batch of k rows:
#   forward product   2·k·6 multiply-adds + 2k bias adds = 14k   -> 14·5 = 70 FLOPs
#                     bytes 8·(W 6 + inputs 3k + b 2 + Z 2k)    -> 8·(18 + 18 + 13) = 392
#   activation        2k                                         -> 10; bytes 8·4k -> 160
#   hidden δ product  δ² (k×1) times W² (1×2): 2·k·2 = 4k        -> 20
#                     bytes 8·(W² 2 + δ² k + δ¹ 2k)              -> 8·(8 + 8 + 5) = 168
#   derivative        2 per element, 2k elements: 4k             -> 20; bytes 8·3·2k -> 240
#   weight product    2·k·6 = 12k                                -> 60
#                     bytes 8·(W read and written 12 + 3k + 2k)  -> 8·(22 + 22 + 17) = 488
#   bias gradient     2k adds -> 10; bytes 8·(δ 2k + b read and written 4) -> 8·22 = 176
# layer 2:
#   forward product   2·k·2 + k = 5k -> 25; bytes 8·(2 + 2k + 1 + k) -> 8·(9 + 9 + 6) = 192
#   activation        k -> 5; bytes 8·2k -> 80
#   output δ          a − y: k -> 5; bytes 8·(A, Y, D) 3k -> 120
#   weight product    4k -> 20; bytes 8·(4 + 2k + k) -> 8·(10 + 10 + 7) = 216
#   bias gradient     k -> 5; bytes 8·(k + 2) -> 8·(4 + 4 + 3) = 88
HAND_LOOPS = [
    {"forward_product": (70, 392), "activation": (10, 160), "delta_product": (20, 168),
     "derivative": (20, 240), "weight_product": (60, 488), "bias_gradient": (10, 176)},
    {"forward_product": (25, 192), "activation": (5, 80), "output_delta": (5, 120),
     "weight_product": (20, 216), "bias_gradient": (5, 88)},
]


def _flops_bytes(model):
    return [{k: (v["flops"], v["bytes"]) for k, v in layer.items()} for layer in model]


def test_cost_model_matches_hand_count_loops():
    model = prof.cost_model([3, 2, 1], 2, 5, itemsize=8, path="loops")
    assert _flops_bytes(model) == HAND_LOOPS
    assert [v["calls"] for v in model[0].values()] == [3] * 6
    # footprints, the distinct bytes of one call of 2 rows: the forward product touches
    # W 6, inputs 6, b 2, Z 4 -> 8·18 = 144; the weight product W once, inputs 6, δ 4 ->
    # 8·16 = 128 (its traffic counts W twice: read and written)
    assert model[0]["forward_product"]["footprint"] == 144
    assert model[0]["weight_product"]["footprint"] == 128


def test_cost_model_decay_pass_and_quadratic_output():
    # the decay pass W *= β: one multiply per weight per mini-batch, W read and written:
    # layer 1: 6·3 = 18 FLOPs, 8·2·6·3 = 288 bytes; layer 2: 2·3 = 6, 8·2·2·3 = 96
    model = prof.cost_model([3, 2, 1], 2, 5, itemsize=8, path="loops", decay=True,
                            quadratic=True)
    assert (model[0]["update"]["flops"], model[0]["update"]["bytes"]) == (18, 288)
    assert (model[1]["update"]["flops"], model[1]["update"]["bytes"]) == (6, 96)
    # quadratic cost, sigmoid output: (a − y) ⊙ σ'(z) is 3 per element, and Z is read too:
    # 3·5 = 15 FLOPs, 8·4·5 = 160 bytes
    assert (model[1]["output_delta"]["flops"], model[1]["output_delta"]["bytes"]) == (15, 160)


def test_cost_model_matrix_path_hand_count():
    # the same network on the matrix path. Layer 1 gathers its inputs (8·2·3k bytes ->
    # 8·6·5 = 240); its products carry no bias add (2·k·6 -> 60 FLOPs, bytes 8·(6 + 3k + 2k)
    # -> 8·(18 + 25) = 344); bias and activation are one pass (2 per element: 4k -> 20,
    # bytes 8·(4k + 2) -> 8·(20 + 6) = 208); the weight product writes G once (8·(6 + 5k)
    # -> 344) and the update W ← βW + G is 2 per weight, three arrays (2·6·3 = 36 FLOPs,
    # 8·3·6·3 = 432 bytes). The output δ adds the scale by −η/m: 2k -> 10 FLOPs,
    # bytes 8·(3k + 2k) -> 200.
    model = prof.cost_model([3, 2, 1], 2, 5, itemsize=8, path="matrix")
    got = _flops_bytes(model)
    assert got[0]["gather"] == (0, 240)
    assert got[0]["forward_product"] == (60, 344)
    assert got[0]["activation"] == (20, 208)
    assert got[0]["weight_product"] == (60, 344)
    assert got[0]["update"] == (36, 432)
    assert got[1]["output_delta"] == (10, 200)
    # the update inside BLAS's GEMM (W ← δᵀA + βW): 2 more FLOPs per weight per
    # mini-batch in the product (2·6·3 = 36 -> 96), and W read as well as written
    # (8·6·3 = 144 more bytes -> 488); no update pass
    fused = _flops_bytes(prof.cost_model([3, 2, 1], 2, 5, itemsize=8, path="matrix",
                                         fused_update=True))
    assert fused[0]["weight_product"] == (96, 488)
    assert "update" not in fused[0] and "update" not in fused[1]
    assert {k: v for k, v in fused[0].items() if k != "weight_product"} == \
        {k: v for k, v in got[0].items() if k not in ("weight_product", "update")}


@pytest.mark.parametrize("sizes,m,n", [([784, 30, 10], 10, 1000), ([50, 40, 30, 20], 7, 100),
                                       ([10, 1], 3, 10)])
def test_cost_model_products_are_six_times_weights_less_the_first_delta(sizes, m, n):
    model = prof.cost_model(sizes, m, n)
    products = sum(layer[p]["flops"] for layer in model for p in
                   ("forward_product", "delta_product", "weight_product") if p in layer)
    biases = sum(sizes[1:]) * n  # the loop path's forward product adds the bias
    weights = [a * b for a, b in zip(sizes[:-1], sizes[1:])]
    assert products - biases == 6 * sum(weights) * n - 2 * weights[0] * n


def test_cost_model_rejects_unknown_path():
    with pytest.raises(ValueError, match="path='gpu' is invalid"):
        prof.cost_model([3, 2], 1, 1, path="gpu")


# -- one profile ---------------------------------------------------------------------
PROFILE_KEYS = {"schema", "network", "mini_batch_size", "samples", "dtype", "threads", "path",
                "eta", "lmbda", "repeats", "data", "machine", "phases", "epoch_seconds",
                "phase_sum_seconds", "difference", "per_sample_us", "warmup_seconds", "model",
                "regime", "bound_shares"}
PHASE_KEYS = {"layer", "phase", "seconds", "flops", "bytes", "gflops", "gbs", "intensity",
              "footprint", "roof", "peak_fraction", "fma_fraction", "bandwidth_fraction",
              "roofline_seconds", "roofline_efficiency", "bound", "share"}
MACHINE_KEYS = {"gemm_peak_gflops", "fma_peak_gflops", "compute_peak_gflops", "stream_gbs",
                "cache_gbs", "ridge_flops_per_byte",
                "cache_ridge_flops_per_byte", "blas", "numba_threads", "numba_threading_layer",
                "processor", "matrix_gemm", "loop_width"}


@pytest.fixture(scope="module")
def small_profile():
    return prof.profile([784, 30, 10], mini_batch_size=10, samples=2000, repeats=2, lmbda=1.0)


def test_profile_schema_is_stable(small_profile):
    r = small_profile
    assert set(r) == PROFILE_KEYS
    assert r["schema"] == "fastnn.profile/2"
    assert set(r["machine"]) == MACHINE_KEYS
    for p in r["phases"]:
        assert set(p) == PHASE_KEYS
    json.loads(json.dumps(r))  # plain JSON types only


def test_profile_has_every_phase_of_every_layer(small_profile):
    got = {(p["layer"], p["phase"]) for p in small_profile["phases"]}
    expected = {(1, "forward_product"), (1, "activation"), (1, "delta_product"),
                (1, "derivative"), (1, "weight_product"), (1, "bias_gradient"), (1, "update"),
                (2, "forward_product"), (2, "activation"), (2, "output_delta"),
                (2, "weight_product"), (2, "bias_gradient"), (2, "update"), (None, "overhead")}
    assert got == expected
    assert small_profile["path"] == "loops"


def test_profile_counts_come_from_the_cost_model(small_profile):
    model = prof.cost_model([784, 30, 10], 10, 2000, itemsize=4, decay=True)
    for p in small_profile["phases"]:
        if p["layer"] is not None:
            assert (p["flops"], p["bytes"]) == (model[p["layer"] - 1][p["phase"]]["flops"],
                                                model[p["layer"] - 1][p["phase"]]["bytes"])
    r = small_profile
    assert r["model"]["six_weights_flops"] == 6 * (784 * 30 + 300) * 2000
    assert r["phase_sum_seconds"] == pytest.approx(sum(p["seconds"] for p in r["phases"]))
    assert sum(p["share"] for p in r["phases"]) == pytest.approx(1.0)
    assert all(p["seconds"] >= 0 for p in r["phases"])
    mach = r["machine"]
    assert mach["gemm_peak_gflops"] > 0 and mach["stream_gbs"] > 0 and mach["fma_peak_gflops"] > 0
    assert mach["compute_peak_gflops"] == max(mach["gemm_peak_gflops"], mach["fma_peak_gflops"])
    assert mach["ridge_flops_per_byte"] == pytest.approx(mach["compute_peak_gflops"]
                                                         / mach["stream_gbs"])
    for p in r["phases"]:
        assert p["peak_fraction"] == pytest.approx(p["gflops"] / mach["gemm_peak_gflops"])
        assert p["fma_fraction"] == pytest.approx(p["gflops"] / mach["fma_peak_gflops"])


#: one profile in a fresh process, printed as JSON
PROFILE = "import json, sys; from fastnn.perf import profile; " \
          "print(json.dumps(profile.profile(**json.loads(sys.argv[1]))))"


def _agreement(attempts, **kwargs):
    """The smallest |phase sum / epoch − 1| over up to ``attempts`` profiles, each in a
    fresh process: a real disagreement shows in every attempt, a noisy machine's slow
    spell or an unlucky process in one.

    An unlucky process: alone, on a two-core AMD EPYC guest, about one process in
    fourteen runs one compiled loop at another speed for its whole life, the layer-1
    forward-product phase at 48-54 ms instead of 18-24 or the epoch at 65-75 ms instead
    of 33-47. New copies of the parameters, the data or the workspaces, or a new engine,
    do not change it in that process; the same function compiled anew there runs at the
    usual speed. The phases and the epoch are separately compiled loops, so in such a
    process every profile disagrees (67.5% in all three attempts once, in the full suite,
    where the attempts ran in the suite's own process); in a fresh process each attempt
    draws again. Sixteen fresh processes here: one at 0.88, the others within ±0.1."""
    diffs = []
    for _ in range(attempts):
        run = subprocess.run([sys.executable, "-c", PROFILE, json.dumps(kwargs)],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr
        r = json.loads(run.stdout.splitlines()[-1])
        diffs.append(abs(r["difference"]))
        if diffs[-1] <= 0.15:
            break
    return min(diffs), r


def test_phase_sum_agrees_with_epoch_loop_path():
    diff, r = _agreement(5, sizes=[784, 100, 10], mini_batch_size=10, samples=5000, repeats=5)
    assert r["path"] == "loops"
    assert diff <= 0.15, f"phases differ from the epoch by {diff:.1%}"


def test_phase_sum_agrees_with_epoch_matrix_path():
    diff, r = _agreement(5, sizes=[784, 256, 256, 10], hidden_activation="relu",
                         cost="log_likelihood", mini_batch_size=64, samples=2048 + 13,
                         repeats=5, path="matrix")
    assert r["path"] == "matrix"
    phases = {p["phase"] for p in r["phases"]}
    assert "gather" in phases
    # the update is its own pass only where neither a BLAS GEMM with β is bound
    # (fastnn/_engine/blas.py) nor the engine's GEMM runs (fastnn/_engine/gemm.py: AVX-512
    # cores whose OpenBLAS runs a narrower kernel); with the engine's GEMM and no bound BLAS GEMM it
    # depends on which layers the engine's GEMM fits, so that case is not asserted
    if _blas.binding() is not None:
        assert "update" not in phases
    elif not _gemm.use_engine()[0]:
        assert "update" in phases
    assert diff <= 0.15, f"phases differ from the epoch by {diff:.1%}"


def test_profile_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mini_batch_size=50 is invalid"):
        prof.profile([784, 30, 10], mini_batch_size=50, samples=20)
    with pytest.raises(ValueError, match="path='fast' is invalid"):
        prof.profile([784, 30, 10], path="fast", samples=20)
    with pytest.raises(ValueError, match="repeats"):
        prof.profile([784, 30, 10], repeats=0, samples=20)


def test_profile_of_a_network_that_does_not_fit_the_images_uses_random_inputs():
    r = prof.profile([20, 8, 3], mini_batch_size=4, samples=64, repeats=1, dtype="float64")
    assert "random" in r["data"]
    assert r["dtype"] == "float64"
    text = prof.format_report(r)
    assert "hidden delta product" in text and "sum of phases" in text


# -- sweeps --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", list(prof.SWEEPS))
def test_sweeps_run_in_reduced_form(kind):
    r = prof.sweep(kind, sizes=[784, 30, 10], quick=True, samples=512)
    assert r["sweep"] == kind
    assert len(r["points"]) == len(r["values"]) >= 1
    for p in r["points"]:
        assert p["per_sample_us"] > 0
        assert p["regime"] in ("compute", "memory", "overhead")
        assert sum(p["phase_us_per_sample"].values()) > 0
    if kind == "width":
        assert [p["sizes"] for p in r["points"]] == [[784, 16, 10], [784, 128, 10]]
    if kind == "depth":
        assert [p["sizes"] for p in r["points"]] == [[784, 30, 10], [784, 30, 30, 10]]
    if kind == "threads":
        assert r["points"][0]["threads"] == 1
        assert r["points"][0]["speedup"] == 1.0
        # a phase timed at 0 (the loop skeleton can round to it on 512 samples) has no
        # efficiency (None); every other phase's is 1 at one thread
        defined = [v for v in r["points"][0]["efficiency"].values() if v is not None]
        assert len(defined) >= len(r["points"][0]["efficiency"]) - 1
        assert all(v == pytest.approx(1.0) for v in defined)
    assert kind in prof.format_sweep(r)
    json.loads(json.dumps(r))


def test_sweep_rejects_unknown_kind():
    with pytest.raises(ValueError, match="kind='size' is invalid"):
        prof.sweep("size")


# -- figures and command line ----------------------------------------------------------
def test_figures_are_written(small_profile, tmp_path):
    pytest.importorskip("matplotlib")
    paths = prof.plot_profile(small_profile, tmp_path)
    r = prof.sweep("batch", sizes=[784, 30, 10], quick=True, samples=256, values=[1, 10])
    paths += prof.plot_sweep(r, tmp_path)
    for path in paths:
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_cli_profile_json(tmp_path, capsys):
    out = tmp_path / "p.json"
    rc = main(["profile", "--sizes", "784,30,10", "--samples", "500", "--repeats", "1",
               "--json", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "weight-gradient product" in text and "whole epoch measured" in text
    r = json.loads(out.read_text())
    assert set(r) == PROFILE_KEYS and r["samples"] == 500


def test_cli_profile_sweep(tmp_path, capsys):
    out = tmp_path / "s.json"
    rc = main(["profile", "--sweep", "batch", "--quick", "--sizes", "784,30,10", "--samples",
               "300", "--json", str(out)])
    assert rc == 0
    assert "--sweep batch" in capsys.readouterr().out
    assert json.loads(out.read_text())["sweep"] == "batch"


@pytest.mark.parametrize("args,message", [
    (["--sweep", "size"], "--sweep='size' is invalid"),
    (["--threads", "0"], "--threads=0 is invalid"),
    (["--samples", "0"], "--samples=0 is invalid"),
    (["--mini-batch-size", "-1"], "--mini-batch-size=-1 is invalid"),
])
def test_cli_profile_bad_arguments(args, message, capsys):
    assert main(["profile"] + args) == 2
    assert message in capsys.readouterr().err


# -- the phase loops do the epoch's work -------------------------------------------------
def test_phase_loops_run_every_mini_batch_with_the_right_rows():
    from fastnn.kernels import profile as kp

    rng = np.random.default_rng(1)
    n, m, n_in, n_out = 23, 5, 7, 4  # mini-batches of 5, 5, 5, 5 and 3 rows
    X = rng.standard_normal((n, n_in))
    W = rng.standard_normal((n_out, n_in))
    b = rng.standard_normal(n_out)
    order = rng.permutation(n).astype(np.int64)
    ident = np.arange(m, dtype=np.int64)
    batches = [order[s:s + m] for s in range(0, n, m)]
    # forward product through the order: Z holds the last mini-batch's rows
    Z = np.zeros((m, n_out))
    kp.loop_forward_product(W, b, X, order, ident, True, m, Z)
    np.testing.assert_allclose(Z[:3], X[batches[-1]] @ W.T + b, rtol=1e-12)
    # later layers read rows 0..k-1 of their input block
    A_in = rng.standard_normal((m, n_in))
    kp.loop_forward_product(W, b, A_in, order, ident, False, m, Z)
    np.testing.assert_allclose(Z[:3], A_in[:3] @ W.T + b, rtol=1e-12)
    # the weight product accumulates every mini-batch, each with its own rows
    D = rng.standard_normal((m, n_out))
    Wo = W.copy()
    kp.loop_weight_product(D, X, order, ident, True, -0.1, m, Wo)
    expected = W + sum(-0.1 * D[:len(r)].T @ X[r] for r in batches)
    np.testing.assert_allclose(Wo, expected, rtol=1e-12)
    bo = b.copy()
    kp.loop_bias_gradient(D, -0.1, n, m, bo)
    np.testing.assert_allclose(bo, b + sum(-0.1 * D[:len(r)].sum(axis=0) for r in batches),
                               rtol=1e-12)
    Wd = W.copy()
    kp.loop_decay(Wd, 0.5, n, m)
    np.testing.assert_allclose(Wd, W * 0.5 ** len(batches), rtol=1e-12)
    # the δ product: the last mini-batch's D_next W_next
    Dd = np.zeros((m, n_in))
    kp.loop_delta_product(W, D, n, m, Dd)
    np.testing.assert_allclose(Dd, D @ W, rtol=1e-12)
