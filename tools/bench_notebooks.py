"""Benchmark: execute each chapter notebook from a clean kernel and print its wall time.

Usage: python tools/bench_notebooks.py [notebook ...]   (default: every chapters/*.ipynb)
The book's target is under 60 s per notebook on 2 CPU cores. Nothing is written back.
"""
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main(paths):
    paths = [pathlib.Path(p) for p in paths] or sorted((ROOT / "chapters").glob("*.ipynb"))
    print(f"{'notebook':<40} {'wall time (s)':>14}")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        print(f"{path.name:<40} {time.perf_counter() - start:>14.1f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
