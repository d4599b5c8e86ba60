import os, sys  # noqa: E401
# bench/ is not a package: make its modules (benchlib, ...) importable by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

# Timings collected by the tests of this session, for the ratio table printed at the end:
#   "epoch": {(config, impl, dtype): median seconds per 50,000-sample epoch}
#   "compile": measure_compile()'s dict;  "gemm": {dtype: GFLOP/s};  "threads": thread_info()
RESULTS = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("fastnn bench")
    group.addoption("--bench-threads", default="1", metavar="1|all|N",
                    help="threads for BLAS (NumPy version, reference) and Numba: '1' "
                         "(default; one thread against one thread), 'all' (no limit) or N")
    group.addoption("--bench-json", default=None, metavar="PATH",
                    help="where to write the ratio table as JSON "
                         "(default: .benchmarks/ratios.json under the rootdir)")
    group.addoption("--bench-rounds", type=int, default=5, metavar="N",
                    help="timed epochs per engine / NumPy case (default 5; the reference "
                         "gets min(N, 3))")


def pytest_configure(config):
    config.stash[RESULTS] = {"epoch": {}}


@pytest.fixture(scope="session")
def bench_results(request):
    return request.config.stash[RESULTS]


@pytest.fixture(scope="session")
def bench_threads(request, bench_results):
    """Applies the thread limit (--bench-threads) for the whole session; yields the
    threads in effect (Numba's, and BLAS as threadpoolctl reports it)."""
    import benchlib
    mode = request.config.getoption("--bench-threads")
    with benchlib.ThreadLimit(mode):
        info = benchlib.thread_info(mode)
        bench_results["threads"] = info
        yield info


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
    tr = terminalreporter
    tr.section("fastnn ratios (medians of pytest-benchmark rounds)")
    if not results["epoch"]:
        tr.write_line("no epoch timings: benchmarks are disabled (setup.cfg's addopts has "
                      "--benchmark-disable); run with --benchmark-enable")
        if not results.get("compile"):
            return
    data = results.get("data_description", "")
    report = benchlib.build_report(
        results["epoch"], threads=results.get("threads", {}), data_description=data,
        compile_times=results.get("compile"), gemm=results.get("gemm"),
        method=(f"pytest-benchmark pedantic, median of {config.getoption('--bench-rounds')} "
                f"rounds (reference: {min(config.getoption('--bench-rounds'), 3)}), "
                f"one warm-up epoch, fresh initial parameters every round"),
        command="python -m pytest bench -p no:cacheprovider --benchmark-enable -q "
                f"--bench-threads={config.getoption('--bench-threads')}")
    for line in benchlib.format_report(report).splitlines():
        tr.write_line(line)
    if results["epoch"]:
        path = config.getoption("--bench-json") or os.path.join(
            str(config.rootpath), ".benchmarks", "ratios.json")
        benchlib.write_json(report, path)
        tr.write_line(f"ratio table written to {path}")
