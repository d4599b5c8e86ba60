import os  # noqa: E401
import sys

# bench/ is not a package: make its modules (benchlib, ...) importable by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

# Timings collected by the tests of this session, for the tables printed at the end:
#   "epoch": {(config, impl, dtype): median seconds per 50,000-sample epoch}
#   "extra": {(config, impl, dtype): {"cpu_per_wall", "compile_s", "samples_per_s"}}
#   "kernels": {(kernel, layer, dtype, runner): kernellib.KernelCase.metrics()}
#   "compile": measure_compile()'s dict;  "gemm": measure_gemm()'s;  "fma": measure_fma()'s;
#   "threads": thread_info()
RESULTS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("fastnn bench")
    group.addoption("--bench-threads", default="1", metavar="1|all|N",
                    help="threads for BLAS (NumPy version, reference), Numba, PyTorch and "
                         "XLA: '1' (default; one thread against one thread), 'all' (no "
                         "limit) or N")
    group.addoption("--bench-pin", default="auto", metavar="auto|none|CPU",
                    help="pin the process (every thread, also those started later) to one "
                         "CPU, so one thread is one core for every implementation, XLA's "
                         "worker threads included: auto (default: with --bench-threads=1, "
                         "the highest-numbered CPU), none, or a CPU number")
    group.addoption("--bench-json", default=None, metavar="PATH",
                    help="where to write the ratio tables as JSON "
                         "(default: .benchmarks/ratios.json under the rootdir)")
    group.addoption("--bench-rounds", type=int, default=None, metavar="N",
                    help="timed epochs per case (default 5 for configs A and B, 3 for C; "
                         "the reference gets min(N, 3))")
    group.addoption("--bench-configs", default="A,B,C", metavar="A,B,C",
                    help="configs to run, comma-separated (default A,B,C; C's epochs take "
                         "seconds each, so A,B is the quick choice); applies to the kernel "
                         "benchmarks' layer shapes too")
    group.addoption("--bench-impls", default="engine,api,numpy,jax,torch,reference",
                    metavar="LIST",
                    help="epoch implementations to run, comma-separated, from engine, "
                         "api (Network.train_epoch), numpy, jax, torch, reference "
                         "(default: all; JAX and PyTorch are "
                         "skipped with a reason when not installed)")


def pytest_configure(config):
    config.stash[RESULTS] = {"epoch": {}, "extra": {}, "kernels": {}}
    import benchlib
    try:  # check the options now, for a usage error instead of failing fixtures
        benchlib.ThreadLimit(config.getoption("--bench-threads"),
                             pin=config.getoption("--bench-pin"))
    except ValueError as exc:
        raise pytest.UsageError(f"--bench-threads/--bench-pin: {exc}") from None


def pytest_collection_modifyitems(config, items):
    """Deselect the bench/ cases of configs and implementations not asked for."""
    import benchlib
    try:
        configs = benchlib.parse_selection(config.getoption("--bench-configs"),
                                           benchlib.CONFIGS, "--bench-configs")
        impls = benchlib.parse_selection(config.getoption("--bench-impls"), benchlib.IMPLS,
                                         "--bench-impls")
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    here = os.path.dirname(os.path.abspath(__file__))
    keep, drop = [], []
    for item in items:
        if os.path.dirname(str(item.path)) != here:
            keep.append(item)
            continue
        params = getattr(item, "callspec", None)
        params = params.params if params else {}
        case_config = params.get("config") or getattr(params.get("kcase"), "config", None)
        if (case_config is not None and case_config not in configs) or (
                params.get("impl") in benchlib.IMPLS and params["impl"] not in impls):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def bench_results(request):
    return request.config.stash[RESULTS]


@pytest.fixture(scope="session")
def bench_threads(request, bench_results):
    """Applies the thread limit (--bench-threads) for the whole session; yields the
    benchlib.ThreadLimit (``.mode``; ``.refresh()`` before timing), and keeps the threads
    in effect (Numba's, BLAS as threadpoolctl reports it, PyTorch's, XLA's) in
    bench_results["threads"]."""
    import benchlib
    mode = request.config.getoption("--bench-threads")
    with benchlib.ThreadLimit(mode, pin=request.config.getoption("--bench-pin")) as limit:
        bench_results["threads"] = benchlib.thread_info(mode)
        yield limit


@pytest.fixture(scope="session")
def bench_data(bench_results):
    """The 50,000 training rows (full Fashion-MNIST, or the shipped sample tiled up)."""
    import benchlib
    data = benchlib.BenchData()
    bench_results["data_description"] = data.description
    return data


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(RESULTS, None)
    if not results or "threads" not in results:  # no benchmark of bench/ ran
        return
    import benchlib
    import kernellib
    tr = terminalreporter
    tr.section("fastnn ratios (medians of pytest-benchmark rounds)")
    if not results["epoch"] and not results["kernels"]:
        tr.write_line("no timings: benchmarks are disabled (setup.cfg's addopts has "
                      "--benchmark-disable); run with --benchmark-enable")
        if not results.get("compile"):
            return
    command = ("python -m pytest bench -p no:cacheprovider --benchmark-enable -q "
               f"--bench-threads={config.getoption('--bench-threads')} "
               f"--bench-configs={config.getoption('--bench-configs')} "
               f"--bench-impls={config.getoption('--bench-impls')}"
               f" --bench-pin={config.getoption('--bench-pin')}")
    rounds = config.getoption("--bench-rounds")
    report = benchlib.build_report(
        results["epoch"], threads=results.get("threads", {}),
        data_description=results.get("data_description", ""),
        compile_times=results.get("compile"), gemm=results.get("gemm"),
        fma=results.get("fma"),
        extra=results.get("extra"), command=command,
        method=(f"pytest-benchmark pedantic, median of "
                f"{rounds or '5 (A, B) / 3 (C)'} rounds (reference: at most 3), "
                f"one untimed full epoch first (not for C and the reference), fresh "
                f"initial parameters every round"))
    if results["epoch"] or results.get("compile"):
        for line in benchlib.format_report(report).splitlines():
            tr.write_line(line)
    if results["kernels"]:
        report["kernels"] = kernellib.build_report(results["kernels"], results.get("gemm"))
        for line in kernellib.format_report(report["kernels"]).splitlines():
            tr.write_line(line)
    if results["epoch"] or results["kernels"]:
        path = config.getoption("--bench-json") or os.path.join(
            str(config.rootpath), ".benchmarks", "ratios.json")
        benchlib.write_json(report, path)
        tr.write_line(f"tables written to {path}")
