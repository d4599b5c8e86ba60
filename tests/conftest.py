"""Settings shared by the whole test session."""
import os
import tempfile

# The matrix path measures its GEMM and thread choices once per machine and keeps them in
# the user's cache folder (fastnn/_engine/calibrate.py). The tests must neither read a user's
# file nor write into it: they get a folder of their own, empty at the start (child
# processes inherit it).
if not os.environ.get("FASTNN_CACHE_DIR"):
    os.environ["FASTNN_CACHE_DIR"] = tempfile.mkdtemp(prefix="fastnn-test-cache-")

# On a CPU with AVX-512 the first loop-path training would measure the loops' vector width
# and later processes would compile for the winner (fastnn/_engine/width.py): the suite's
# processes would then run different machine code, one width or the other, depending on
# a timing. The tests run LLVM's own choice; tests/test_width.py tests the mechanism.
os.environ.setdefault("FASTNN_LOOP_WIDTH", "llvm")
