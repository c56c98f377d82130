"""Remove what a re-execution records but the book must not store: per-cell timing metadata
(nbconvert is also told not to record it: see `make execute`) and the ipywidgets state.

The chapters' explorers are live widgets for Jupyter, Binder and Colab only; the HTML page
hides them (tag `remove-cell`), and without stored widget state no page loads widget code."""
import json
import pathlib
import sys

for path in map(pathlib.Path, sys.argv[1:]):
    nb = json.loads(path.read_text())
    changed = nb.get("metadata", {}).pop("widgets", None) is not None
    for cell in nb["cells"]:
        if cell.get("metadata", {}).pop("execution", None) is not None:
            changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
        print(f"stripped timing metadata and widget state from {path}")
