import os, sys  # noqa: E401
# bench/ is not a package: make its modules (numpy_matrix, ...) importable by name.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
