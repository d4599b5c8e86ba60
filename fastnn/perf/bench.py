"""``fastnn bench``: a quick speed table, and a regression gate for noisy CI machines.

Absolute seconds on a shared CI machine move by 10-30% from run to run; the ratio of two
implementations timed in the same run, interleaved, moves far less. So the gate times one
epoch of the engine and of the NumPy matrix version (``fastnn.perf.baselines``) on the same
data, alternating them, and compares the ratio NumPy/engine with the one recorded in a
baseline file: a drop of more than the tolerance (default 25%) fails.

It also times NumPy's GEMM (1024³) and the core's multiply-add peak (chains of FMAs,
fastnn/_engine/peak.py) in the same run, interleaved, and reports each implementation's GFLOP/s
as a fraction of both, the threads in effect (Numba's threading layer, BLAS library and
kernel through threadpoolctl) and the engine's path. The GEMM is the yardstick the
targets are set against; the FMA probe is the machine's limit, which the GEMM is not
where the BLAS runs narrower vectors than the core has (OpenBLAS's Haswell kernel on an
AVX-512 core: there the engine's own loops can pass the GEMM "peak").

Configurations (the design's anchors), float32 by default, one thread by default:

* A: [784, 30, 10] sigmoid, cross-entropy, mini-batch 10
* B: [784, 100, 10] sigmoid, cross-entropy, mini-batch 10
* C: [784, 1024, 1024, 10] ReLU, softmax + log-likelihood, mini-batch 128

Data are uniform random pixels (the timing does not depend on their values), so the gate
runs anywhere, with or without a dataset installed.
"""
import json
import os
import platform
import time

import numpy as np

from .. import _checks, _io
from .._engine import gemm as _gemm
from .._engine import peak as _peak
from .._engine import threads as _threads
from .._engine import width as _width
from ..network import Network
from .baselines import NumpyMatrixNetwork

CONFIGS = {
    "A": dict(sizes=[784, 30, 10], hidden="sigmoid", output="sigmoid", cost="cross_entropy",
              mini_batch_size=10),
    "B": dict(sizes=[784, 100, 10], hidden="sigmoid", output="sigmoid", cost="cross_entropy",
              mini_batch_size=10),
    "C": dict(sizes=[784, 1024, 1024, 10], hidden="relu", output="softmax",
              cost="log_likelihood", mini_batch_size=128),
}

def gemm_seconds(A, B, C):
    """Seconds for one C = A @ B (NumPy's BLAS): the yardstick of the peak."""
    start = time.perf_counter()
    np.matmul(A, B, out=C)
    return time.perf_counter() - start


def measure(configs=("A", "B"), dtype="float32", repeats=5, n_samples=10000, threads=1,
            seed=0):
    """Seconds per 50,000-sample epoch of the engine and the NumPy matrix version, and
    the machine's GEMM and FMA peaks under the same thread limit, all measured in one run.

    Each repeat times one epoch of every implementation of every config, a burst of
    1024³ GEMMs and a burst of FMA chains, in an order rotated from repeat to repeat; the
    medians are reported, with GFLOP/s (6 × weights × samples / s, the design's count) and
    their fraction of each peak. ``threads`` is a count or "all" (every core), for the
    engine and BLAS alike.
    """
    repeats = _checks.check_positive("repeats", repeats, integer=True)
    n_samples = _checks.check_positive("n_samples", n_samples, integer=True)
    every_core = threads == "all"
    threads = _threads.available() if every_core else _threads.resolve(threads)
    dtype = _checks.check_dtype(dtype)
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown or not configs:
        raise ValueError(f"configs={list(configs)!r} is invalid; expected names from "
                         f"{', '.join(CONFIGS)}")
    rng = np.random.default_rng(seed)
    X = rng.random((n_samples, 784)).astype(dtype)
    labels = rng.integers(0, 10, n_samples)
    Y = np.eye(10, dtype=dtype)[labels]
    order = rng.permutation(n_samples).astype(np.int64)
    G = [rng.random((1024, 1024)).astype(dtype) for _ in range(3)]
    with _threads.limit(threads):
        runners, paths = {}, {}
        for name in configs:
            c = CONFIGS[name]
            # "all" is the default (every core at most: the matrix path may measure fewer
            # to be faster); a count is fixed
            net = Network(c["sizes"], c["hidden"], c["output"], c["cost"], dtype=dtype, seed=seed,
                          threads=None if every_core else threads)
            numpy_net = NumpyMatrixNetwork([w.copy() for w in net.weights],
                                           [b.copy() for b in net.biases], c["hidden"],
                                           c["output"], c["cost"], dtype=dtype)
            m = c["mini_batch_size"]
            paths[name] = net.engine.path_name(m, plan=True)
            runners[(name, "engine")] = lambda net=net, m=m: net.engine.train_epoch(
                net.params, X, Y, order, m, 0.01, 0.0)
            runners[(name, "numpy")] = lambda numpy_net=numpy_net, m=m: numpy_net.train_epoch(
                X, Y, order, m, 0.01, 0.0)
        runners[("gemm", "peak")] = lambda: [gemm_seconds(*G) for _ in range(5)]
        fma, fma_flops = _peak.fma_runner(dtype, threads)
        runners[("fma", "peak")] = lambda: sum(fma() for _ in range(5))  # its own seconds
        for run in runners.values():  # compile and warm up
            run()
        _threads.refresh()  # compiling loaded SciPy's own OpenBLAS: limit it too
        times = {key: [] for key in runners}
        keys = list(runners)
        for r in range(repeats):
            for key in keys[r % len(keys):] + keys[:r % len(keys)]:
                start = time.perf_counter()
                took = runners[key]()
                times[key].append(took if key == ("fma", "peak")
                                  else time.perf_counter() - start)
        info = _threads.info()
    # a peak is the best the machine did (as fastnn profile has it): interference only
    # lowers one, and on two threads OpenBLAS's workers, spinning after the epochs'
    # products, took a core from the FMA probe in some repeats (a median of 111 GFLOP/s
    # against 155-158 alone, below the GEMM's 141 in the same run)
    peak = 5 * 2 * 1024 ** 3 / float(np.min(times[("gemm", "peak")])) / 1e9
    fma_peak = 5 * fma_flops / float(np.min(times[("fma", "peak")])) / 1e9
    scale = 50000 / n_samples
    results = {}
    for name in configs:
        sizes = CONFIGS[name]["sizes"]
        weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
        flop = 6 * weights * 50000
        engine = float(np.median(times[(name, "engine")])) * scale
        numpy_s = float(np.median(times[(name, "numpy")])) * scale
        results[name] = {"engine_s_per_epoch": engine, "numpy_s_per_epoch": numpy_s,
                         "ratio": numpy_s / engine, "engine_gflops": flop / engine / 1e9,
                         "numpy_gflops": flop / numpy_s / 1e9,
                         "engine_peak_fraction": flop / engine / 1e9 / peak,
                         "numpy_peak_fraction": flop / numpy_s / 1e9 / peak,
                         "engine_fma_fraction": flop / engine / 1e9 / fma_peak,
                         "numpy_fma_fraction": flop / numpy_s / 1e9 / fma_peak,
                         "engine_samples_per_s": 50000 / engine, "engine_path": paths[name]}
    blas = ", ".join(f"{b['internal_api']} {b['version']} {b['num_threads']} thread(s) "
                     f"({b['architecture']})" for b in info["blas"]) or "no BLAS found"
    return {"configs": results, "dtype": np.dtype(dtype).name, "threads": threads,
            "machine_key": machine_key(info["blas"], dtype, threads),
            "gemm_peak_gflops": peak, "fma_peak_gflops": fma_peak, "blas": blas,
            "numba_threads": info["numba_threads"],
            "numba_threading_layer": info["numba_threading_layer"], "repeats": repeats,
            "matrix_gemm": _gemm.describe(), "loop_width": _width.describe(),
            "fma_below_gemm": fma_peak < peak,
            "n_samples": n_samples, "machine": platform.processor() or platform.machine()}


def machine_key(blas, dtype, threads):
    """What a ratio depends on besides fastnn's code, as one line: the core Numba compiles
    for (LLVM's name), the kernel each BLAS runs (threadpoolctl), the dtype and the
    threads. E.g. ``"znver5, openblas Haswell, float32, 1 thread(s)"``."""
    kernels = sorted({f"{b.get('internal_api')} {b.get('architecture')}" for b in blas})
    return ", ".join([_gemm.cpu_name()] + (kernels or ["no BLAS"])
                     + [np.dtype(dtype).name, f"{threads} thread(s)"])


def floors(result, baseline):
    """The baseline's ratios that apply to ``result`` and where they come from: the entry
    of ``baseline["machines"]`` recorded on the same kind of machine (``machine_key``)
    when there is one, else the general ``baseline["configs"]`` (the lowest ratios seen
    on the machines the project has run on: lenient on a faster kind of machine)."""
    key = result.get("machine_key")
    entry = baseline.get("machines", {}).get(key)
    if entry is not None:
        return entry["configs"], f"this machine's entry ({key})"
    return baseline["configs"], "the general entry (no entry for this machine's kind)"


def gate(result, baseline, tolerance=0.25):
    """The failures (a list of lines, empty when all pass) of ``result`` against
    ``baseline``: a config fails when its ratio is below (1 − tolerance) × the baseline's
    (the ratios ``floors`` picks)."""
    failures = []
    configs, _ = floors(result, baseline)
    for name, measured in result["configs"].items():
        recorded = configs.get(name)
        if recorded is None:
            continue
        floor = (1 - tolerance) * recorded["ratio"]
        if measured["ratio"] < floor:
            failures.append(f"config {name}: NumPy/engine ratio {measured['ratio']:.2f} is below "
                            f"{floor:.2f} (baseline {recorded['ratio']:.2f} minus "
                            f"{tolerance:.0%}): the engine got slower")
    return failures


def format_table(result):
    """The result as a small text table."""
    lines = [f"fastnn bench: {result['dtype']}, {result['threads']} thread(s); BLAS: "
             f"{result['blas']}; Numba threading layer: {result['numba_threading_layer']}",
             f"median of {result['repeats']} interleaved epochs of {result['n_samples']} "
             f"samples, scaled to 50,000; same run, best of the repeats: GEMM peak (1024^3) "
             f"{result['gemm_peak_gflops']:.1f} GFLOP/s, FMA peak (multiply-add chains) "
             f"{result['fma_peak_gflops']:.1f} GFLOP/s",
             f"{'config':7s} {'engine s':>9s} {'numpy s':>9s} {'numpy/engine':>13s} "
             f"{'engine GFLOP/s':>15s} {'of peak':>8s} {'of FMA':>7s} {'numpy of peak':>14s}"
             f"  engine path"]
    for name, r in result["configs"].items():
        lines.append(f"{name:7s} {r['engine_s_per_epoch']:9.3f} {r['numpy_s_per_epoch']:9.3f} "
                     f"{r['ratio']:12.2f}x {r['engine_gflops']:15.1f} "
                     f"{r['engine_peak_fraction']:8.0%} {r['engine_fma_fraction']:7.0%} "
                     f"{r['numpy_peak_fraction']:14.0%}  "
                     f"{r['engine_path']}")
    if result.get("fma_below_gemm"):
        lines.append(f"note: the FMA probe read below the GEMM in this run "
                     f"({result['fma_peak_gflops']:.1f} < {result['gemm_peak_gflops']:.1f} "
                     f"GFLOP/s): something took a core from it; its figure is not the "
                     f"core's limit here")
    if any(r["engine_path"] == "loops" for r in result["configs"].values()):
        lines.append(f"loop path vector width: {result.get('loop_width', 'not recorded')}")
    if any(r["engine_path"].startswith("matrix") for r in result["configs"].values()):
        lines.append(f"matrix path when evaluating: {result.get('matrix_gemm', 'not recorded')}"
                     f" (training: as each config says; `fastnn calibrate` shows the records)")
    return "\n".join(lines)


def load_baseline(path):
    """A baseline file written by ``fastnn bench --write-baseline``."""
    try:
        with open(path) as f:
            baseline = json.load(f)
    except FileNotFoundError:
        raise ValueError(f"baseline file {path!r} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"baseline file {path!r} is not valid JSON: {exc}") from None
    if not isinstance(baseline, dict) or not _ratios_ok(baseline.get("configs")):
        raise ValueError(f"baseline file {path!r} lacks a 'configs' mapping of config name to "
                         f"{{'ratio': number}}")
    machines = baseline.get("machines", {})
    if not isinstance(machines, dict):
        raise ValueError(f"baseline file {path!r}: 'machines' must map a machine key to an "
                         f"entry with 'configs', not {type(machines).__name__}")
    for key, entry in machines.items():
        if not isinstance(entry, dict) or not _ratios_ok(entry.get("configs")):
            raise ValueError(f"baseline file {path!r}: machine {key!r} lacks a 'configs' "
                             f"mapping of config name to {{'ratio': number}}")
    return baseline


def _ratios_ok(configs):
    return isinstance(configs, dict) and all(
        isinstance(v, dict) and isinstance(v.get("ratio"), (int, float)) and v["ratio"] > 0
        for v in configs.values())


def baseline_record(result):
    """A baseline entry (``{"configs": ..., "measured": ...}``) from a ``measure`` result."""
    return {"configs": {k: {"ratio": round(v["ratio"], 3)} for k, v in result["configs"].items()},
            "measured": {k: v for k, v in result.items() if k != "configs"}}


def record_machine(path, result):
    """Set this machine's entry (``result["machine_key"]``) of the baseline file at
    ``path`` to ``result``'s ratios, keeping everything else in the file; the file is
    replaced atomically (a crash leaves the old one). A missing file is created with the
    same ratios as its general entry."""
    if os.path.exists(path):
        baseline = load_baseline(path)
    else:
        baseline = {"configs": baseline_record(result)["configs"]}
    baseline.setdefault("machines", {})[result["machine_key"]] = baseline_record(result)
    text = json.dumps(baseline, indent=1) + "\n"
    _io.atomic_write(path, lambda f: f.write(text.encode()))
    return result["machine_key"]
