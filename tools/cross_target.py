"""Run the kernel tests with Numba compiling for other x86-64 CPUs than this one.

LLVM vectorizes, unrolls and interleaves loops differently for each CPU it tunes for, so
code whose result depends on how a loop's elements fall between its vector body and its
remainder, or on the order of a reduction, rounds differently on another machine. A
suite that passes on the machine it was written on can fail on the next (a bias step
one float64 ulp off under LLVM's ``sapphirerapids`` and ``znver4`` tuning was found that
way). This runs the kernel tests again under ``NUMBA_CPU_NAME`` for the cores users have.

What can run here: Numba passes the host's own feature list (``+avx2,-avx512f,...``)
with whatever CPU name it is given, so a name changes LLVM's *tuning* (preferred vector
width, unroll and interleave counts, instruction choice, scheduling), never the
instruction set: every name runs on any x86-64 host. ``generic`` is the exception Numba
makes: its features are empty, the baseline x86-64 (SSE2), which runs everywhere too. On
an AVX-512 host the same names also bring AVX-512 code with each target's tuning (e.g.
the 256-bit preference of Intel's AVX-512 cores, which Zen 4 and 5 do not have).

Which targets: only those whose code differs. A probe compiles a set of kernels (the
optimizer steps, the dense forward and δ products, the weight gradient, activations,
the output δ) for every candidate in a fresh process and hashes their machine code;
a candidate whose code is the host's, or another candidate's already chosen, is not run
again. The machine code of the probe was measured to split the candidates into nine
groups on an AVX2 Zen 4 guest.

Usage::

    python tools/cross_target.py                  # probe, then the kernel tests per target
    python tools/cross_target.py --list           # the probe's groups only
    python tools/cross_target.py --targets haswell,generic -- -x   # chosen targets; pytest args

Exit status: 0 when every target passed, 1 otherwise (2 for bad arguments).
"""
import argparse
import concurrent.futures
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: LLVM names of the x86-64 cores whose tuning the tests should see: Intel's AVX2 and
#: AVX-512 server cores of the last decade, AMD's Zen 2 to 5, and the baseline.
CANDIDATES = ("haswell", "skylake-avx512", "icelake-server", "sapphirerapids",
              "emeraldrapids", "znver2", "znver3", "znver4", "znver5", "generic")

#: The kernel tests: parity with the reference and NumPy, the dense, optimizer, GEMM and
#: exp kernels, the matrix path, inference's row invariance, the subnormal mode, the
#: peak probe, and that a non-finite input still reaches the parameters on every path
#: (what Network.train_epoch's deferred input check rests on).
TESTS = ("tests/test_parity.py", "tests/test_dense_kernels.py", "tests/test_optim_kernels.py",
         "tests/test_gemm.py", "tests/test_activations_exp.py", "tests/test_matrix_path.py",
         "tests/test_invariance.py", "tests/test_subnormals.py", "tests/test_peak.py",
         "tests/test_deferred_input_check.py")

_PROBE = r"""
import hashlib, json, re, sys
import numba, numpy as np
from fastnn._engine import gemm as _gemm
from fastnn.kernels import activations, costs, dense, optim
from fastnn.kernels._jit import FASTMATH

def machine_code(kernel, *args):
    f = numba.njit(nogil=True, fastmath=set(FASTMATH))(kernel.py_func)
    f(*args)
    return f.inspect_asm(f.signatures[0])

parts = []
for dt in (np.float32, np.float64):
    v = np.ones(67, dt)
    for reg in ((dt(0.5), dt(0.5)), None):
        parts.append(machine_code(optim._step, v, v.copy(), reg, optim.ADAM,
                                  optim.Hyper(*[dt(0.5)] * 6, dt(0)),
                                  optim.StepCoefficients(*[dt(0.5)] * 5), v.copy(), v.copy(),
                                  v.copy()))
    W, b = np.ones((7, 33), dt), np.ones(7, dt)
    X, rows, Z = np.ones((9, 33), dt), np.arange(9, dtype=np.int64), np.empty((9, 7), dt)
    parts.append(machine_code(dense.forward_product, W, b, X, rows, Z))
    parts.append(machine_code(dense.delta_product, W, np.ones((9, 7), dt), np.empty((9, 33), dt)))
text = "\n".join(parts)
lines = []
for line in text.splitlines():
    line = line.split("#")[0].strip()
    if not line or line.startswith(".") or line.endswith(":"):
        continue  # directives, labels, comments: names, not code
    lines.append(re.sub(r"\.L\w+|_Z\w+", "L", line))
print(json.dumps({"cpu": _gemm.cpu_name(), "instructions": len(lines),
                  "avx512": "+avx512f" in _gemm.cpu_features().split(","),
                  "digest": hashlib.sha256("\n".join(lines).encode()).hexdigest()}))
"""


def _env(target, cache_dir):
    env = dict(os.environ)
    env.pop("NUMBA_CPU_FEATURES", None)
    if target is None:
        env.pop("NUMBA_CPU_NAME", None)
    else:
        env["NUMBA_CPU_NAME"] = target
    env["NUMBA_CACHE_DIR"] = cache_dir  # a cold cache of its own: nothing shared or left
    return env


def probe(target):
    """(target, record) of the probe's machine code compiled for ``target`` (None: host)."""
    with tempfile.TemporaryDirectory(prefix="fastnn-probe-") as cache:
        done = subprocess.run([sys.executable, "-c", _PROBE], cwd=REPO, env=_env(target, cache),
                              capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the probe for NUMBA_CPU_NAME={target} failed "
                           f"(exit {done.returncode}):\n{done.stderr[-2000:]}")
    return target, json.loads(done.stdout.strip().splitlines()[-1])


def groups(candidates, jobs):
    """The host's record and ``[(representative, [targets with its code], record)]`` for
    the candidates whose code differs from the host's, in the candidates' order."""
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        records = dict(pool.map(probe, (None, *candidates)))
    host = records.pop(None)
    seen = {host["digest"]: None}
    found = {}
    for target in candidates:
        digest = records[target]["digest"]
        if digest in seen:
            if seen[digest] is not None:
                found[seen[digest]][0].append(target)
            continue
        seen[digest] = target
        found[target] = ([target], records[target])
    same_as_host = [t for t in candidates if records[t]["digest"] == host["digest"]]
    return host, same_as_host, [(t, members, rec) for t, (members, rec) in found.items()]


def run_tests(target, pytest_args):
    """(target, exit status, seconds, output tail) of the kernel tests under ``target``."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fastnn-target-") as cache:
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               *TESTS, *pytest_args], cwd=REPO, env=_env(target, cache),
                              capture_output=True, text=True)
    tail = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
    return target, done.returncode, time.perf_counter() - start, tail


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="print the probe's groups only")
    parser.add_argument("--targets", help="comma-separated CPU names to run, without probing")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="targets compiled and tested at once (default: the cores)")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs} is invalid; expected a positive number")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        print(f"cross_target: the candidates are x86-64 CPUs; this machine is "
              f"{platform.machine()}: nothing to do")
        return 0
    if args.targets:
        targets = [t.strip() for t in args.targets.split(",") if t.strip()]
        unknown = sorted(set(targets) - set(CANDIDATES))
        if unknown:
            parser.error(f"--targets {args.targets!r}: {', '.join(unknown)} not among "
                         f"{', '.join(CANDIDATES)}")
    else:
        start = time.perf_counter()
        host, same, found = groups(CANDIDATES, args.jobs)
        print(f"host: {host['cpu']} (AVX-512: {'yes' if host['avx512'] else 'no'}); "
              f"probe of {len(CANDIDATES)} targets in {time.perf_counter() - start:.0f} s")
        print(f"  same code as the host: {', '.join(same) or 'none'}")
        for target, members, record in found:
            print(f"  {target}: {record['instructions']} instructions, "
                  f"also {', '.join(members[1:]) or '-'}")
        targets = [t for t, _, _ in found]
        if args.list:
            return 0
    print(f"kernel tests under NUMBA_CPU_NAME = {', '.join(targets)} ({args.jobs} at a time)",
          flush=True)
    failed = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        for target, status, seconds, tail in pool.map(
                lambda t: run_tests(t, args.pytest_args), targets):
            summary = tail.splitlines()[-1] if tail else ""
            print(f"  {target}: {'passed' if status == 0 else 'FAILED'} in {seconds:.0f} s: "
                  f"{summary}", flush=True)
            if status != 0:
                failed.append(target)
                print(re.sub(r"^", "    | ", tail, flags=re.M))
    if failed:
        print(f"cross_target: failures under {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
