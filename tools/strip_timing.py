"""Remove per-cell execution timing metadata from notebooks, so that re-executing a notebook
changes only what it computes (nbconvert is also told not to record it: see `make execute`)."""
import json
import pathlib
import sys

for path in map(pathlib.Path, sys.argv[1:]):
    nb = json.loads(path.read_text())
    changed = False
    for cell in nb["cells"]:
        if cell.get("metadata", {}).pop("execution", None) is not None:
            changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"stripped timing metadata from {path}")
