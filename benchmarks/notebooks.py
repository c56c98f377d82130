"""Benchmark: execute each chapter notebook from a clean kernel and print its wall time and the
kernel's peak memory (resident set, Linux VmHWM).

Usage: python tools/bench_notebooks.py [notebook ...]   (default: every chapters/*.ipynb)
The book's targets: under 60 s per notebook on 2 CPU cores, under 1 GB of memory (mybinder.org
gives 1-2 GB). Nothing is written back.
"""
import re
import pathlib
import sys
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent


def main(paths):
    paths = [pathlib.Path(p) for p in paths] or sorted((ROOT / "chapters").glob("*.ipynb"))
    print(f"{'notebook':<40} {'wall time (s)':>14} {'peak memory (MB)':>17}")
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("print(open('/proc/self/status').read())"))
        start = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        wall = time.perf_counter() - start
        peak = int(re.search(r"VmHWM:\s+(\d+) kB", nb.cells[-1].outputs[0]["text"])[1]) / 1024
        print(f"{path.name:<40} {wall:>14.1f} {peak:>17.0f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
