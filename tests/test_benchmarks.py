"""The benchmarks run and print their tables (at toy sizes: they measure, tests never time)."""
import pathlib
import re
import subprocess
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent


def run(*args):
    proc = subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_velocity_benchmark_prints_its_rates_and_memory():
    out = run("benchmarks/velocity.py", "--sizes", "256", "--memory", "512", "--dims", "5",
              "--repeat", "1", "--seeds", "16x4")
    assert re.search(r"sgemm [\d.]+ GFLOP/s; arcsine [\d.]+ G/s", out)
    step = [line.split() for line in out.splitlines() if re.match(r"\s*5\s+256\s", line)]
    memory = [line.split() for line in out.splitlines() if re.match(r"\s*5\s+512\s", line)]
    assert len(step) == 1 and all(float(x) > 0 for x in step[0][3:6]), out
    assert len(memory) == 1 and float(memory[0][-1]) > 100, out
    seeds = [line.split() for line in out.splitlines() if re.match(r"\s*5\s+16\s+4\s", line)]
    assert len(seeds) == 1 and all(float(x) > 0 for x in seeds[0][4:6]), out
    assert seeds[0][-1] == "batched", out   # 16^2 5 < 2^15


def test_sgd_benchmark_compares_with_its_peer():
    out = run("benchmarks/sgd.py", "--n", "32", "--d", "5", "--seeds", "2", "--t-end", "1",
              "--repeat", "1")
    assert re.search(r"speed-up: [\d.]+x", out), out
    assert re.search(r"default risk records .*: \d+ us/step, -?\d+ ms per record", out), out


def test_notebook_benchmark_runs_cold_then_warm(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import jax\nprint(jax.jit(lambda x: x + 1)(1))")])
    nbformat.write(nb, tmp_path / "probe.ipynb")
    out = run("benchmarks/notebooks.py", tmp_path / "probe.ipynb")
    row = next(line.split() for line in out.splitlines() if line.startswith("probe.ipynb"))
    assert len(row) == 4 and all(float(x) > 0 for x in row[1:]), out
