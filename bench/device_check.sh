#!/usr/bin/env bash
# The sixteen-core targets of issue 18 (item 7), measured in one short run (under five
# minutes on a 16-core machine) where one is lent: the `device` tool's machine has 16 CPU
# cores, a python3 with numba, torch, jax and pytest-benchmark, and no network (so fastnn
# is put on the path from this tree, not installed, and the data is the Fashion-MNIST of
# /usr/share/datasets when present, else the shipped sample, tiled: the tables say which).
#
#     bash bench/device_check.sh            # writes its logs into $OUT (or ./device-check)
#
# What it measures, each step printing its own table:
#   1. the machine: CPU, cores, Numba's CPU name, the BLAS and its kernel;
#   2. config C on every core: engine (and its public API), NumPy matrix, JAX, PyTorch,
#      seconds per epoch and the fraction of the GEMM and FMA peaks of the same run
#      (targets: C at >= 70% of the GEMM peak and ahead of JAX and PyTorch);
#   3. Hogwild on config A: 1 and 16 threads, speed and test accuracy over 2 seeds
#      (target: >= 6x on 16 threads within 0.5 points of the sequential accuracy);
#   4. the default thread count against one thread, idle and with a competitor spinning
#      on CPU 0 (issue 18, item 3), config C.
set -u
HERE="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${OUT:-$HERE/device-check}"
mkdir -p "$OUT"
PY="${PYTHON:-python3}"

# fastnn from this tree without installing it: kernels/ is the package fastnn.kernels
SHADOW="$(mktemp -d)"
mkdir "$SHADOW/fastnn"
for f in "$HERE"/fastnn/*; do ln -s "$f" "$SHADOW/fastnn/$(basename "$f")"; done
ln -s "$HERE/kernels" "$SHADOW/fastnn/kernels"
export PYTHONPATH="$SHADOW${PYTHONPATH:+:$PYTHONPATH}"
export NUMBA_CACHE_DIR="$SHADOW/numba-cache" FASTNN_CACHE_DIR="$SHADOW/fastnn-cache"

step() {  # step NAME TIMEOUT COMMAND...: run it, log it, go on whatever it returns
    local name="$1" limit="$2"
    shift 2
    echo "=== $name: $*" | tee -a "$OUT/summary.txt"
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    tail -n 40 "$OUT/$name.log" | tee -a "$OUT/summary.txt"
    echo "=== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$OUT/summary.txt"
}

step machine 120 "$PY" -c '
import os, platform, numba, numpy, llvmlite.binding as llvm
from threadpoolctl import threadpool_info
import fastnn
from fastnn._engine import threads as _threads
print("cpu:", [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0])
print("cores (Numba):", _threads.available(), "affinity:", len(os.sched_getaffinity(0)))
print("numba", numba.__version__, "numpy", numpy.__version__, "LLVM CPU", llvm.get_host_cpu_name())
print("avx512f:", "+avx512f" in llvm.get_host_cpu_features().flatten())
for i in threadpool_info():
    print("pool:", i.get("internal_api"), i.get("version"), i.get("architecture"), i.get("num_threads"))
'
step ratios_C 150 "$PY" "$HERE/bench/run_ratios.py" --configs C \
    --impls engine,api,numpy,jax,torch --threads all --pin none --repeats 3 --no-compile \
    --json "$OUT/ratios_C.json"
step hogwild_A 90 "$PY" "$HERE/bench/hogwild.py" --configs A --threads 1,16 --seeds 2 \
    --repeats 3
step contention_C 90 "$PY" "$HERE/bench/contention.py" --configs C --samples 10000 \
    --repeats 2
rm -rf "$SHADOW"
echo "logs in $OUT"
