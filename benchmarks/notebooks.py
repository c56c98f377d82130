"""Benchmark: execute each chapter notebook from a clean kernel, twice, and print the wall times and
the kernel's peak memory (resident set, Linux VmHWM).

The first run ("cold") starts from an empty JAX persistent compilation cache in a temporary
folder, the second ("warm") from the cache the first one filled, which is what a reader's second
run, and ``make execute`` or ``make test`` after the first, see. ``--cache none`` runs once with
no persistent cache at all. Nothing is written back to the notebooks.

Usage: python benchmarks/notebooks.py [--cache twice|none] [notebook ...]   (default: chapters/*)
The book's targets: each notebook under 60 s on 2 CPU cores and under 700 MB of memory
(mybinder.org gives 1-2 GB); the six chapters together under 4 minutes cold, 2.5 minutes warm.
"""
import argparse
import os
import pathlib
import re
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from jax_cache import environment  # noqa: E402


def execute(path: pathlib.Path) -> tuple[float, float]:
    """Wall time (s) and peak kernel memory (MB) of one clean execution."""
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("print(open('/proc/self/status').read())"))
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    wall = time.perf_counter() - start
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", nb.cells[-1].outputs[0]["text"])[1]) / 1024
    return wall, peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", choices=("twice", "none"), default="twice")
    parser.add_argument("notebooks", nargs="*")
    args = parser.parse_args()
    paths = [pathlib.Path(p) for p in args.notebooks] or sorted((ROOT / "chapters").glob("*.ipynb"))
    with tempfile.TemporaryDirectory() as cache:
        if args.cache == "twice":
            env = environment()
            env["JAX_COMPILATION_CACHE_DIR"] = cache      # empty: the first run is cold
            os.environ.update(env)                        # kernels inherit the environment
        else:
            for name in environment():
                os.environ.pop(name, None)
        runs = ("cold", "warm") if args.cache == "twice" else ("no cache",)
        print(f"{'notebook':<28} " + " ".join(f"{r + ' (s)':>11}" for r in runs)
              + f" {'peak memory (MB)':>17}")
        totals = [0.0] * len(runs)
        for path in paths:
            results = [execute(path) for _ in runs]
            totals = [t + wall for t, (wall, _) in zip(totals, results)]
            print(f"{path.name:<28} " + " ".join(f"{wall:>11.1f}" for wall, _ in results)
                  + f" {max(peak for _, peak in results):>17.0f}", flush=True)
        print(f"{'all':<28} " + " ".join(f"{t:>11.1f}" for t in totals))


if __name__ == "__main__":
    main()
