"""Fetch the pinned npm assets of tools/web-assets.lock into _assets/assets/ (html_extra_path).

Each tarball comes from the npm registry through `npm pack`, is checked against its pinned
sha512 integrity, and only the listed paths are extracted (no dependency tree, no .map files).
A destination under `test/` goes to .cache/test-assets/ instead, never served with the book (the
page tests' axe-core). The tarballs and the stamp live in .cache/ too: Sphinx copies everything
under _assets/, dot files included, into the site. Idempotent: the stamp records the lock it was
built from.
"""
import base64
import hashlib
import pathlib
import shutil
import subprocess
import sys
import tarfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
LOCK = ROOT / "tools" / "web-assets.lock"
OUT = ROOT / "_assets" / "assets"
TEST_OUT = ROOT / ".cache" / "test-assets"
CACHE = ROOT / ".cache" / "npm-packs"
STAMP = ROOT / ".cache" / "web-assets.stamp"


def entries():
    for line in LOCK.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            spec, integrity, *maps = line.split()
            yield spec, integrity, [m.split("=") for m in maps]


def fetch(spec: str, integrity: str) -> pathlib.Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    name = subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(CACHE), spec],
                          check=True, capture_output=True, text=True).stdout.split()[-1]
    tgz = CACHE / name
    algo, expected = integrity.split("-", 1)
    got = base64.b64encode(hashlib.new(algo, tgz.read_bytes()).digest()).decode()
    if got != expected:
        sys.exit(f"{spec}: integrity mismatch (expected {expected}, got {got})")
    return tgz


def extract(tgz: pathlib.Path, src: str, dst: str):
    prefix = f"package/{src}"
    with tarfile.open(tgz) as tar:
        for m in tar.getmembers():
            if not m.isfile() or not (m.name == prefix or m.name.startswith(prefix + "/")):
                continue
            if m.name.endswith(".map"):
                continue
            base = TEST_OUT / dst[len("test/"):] if dst.startswith("test/") else OUT / dst
            target = base / m.name[len(prefix):].lstrip("/") if m.name != prefix else base
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as f, open(target, "wb") as g:
                shutil.copyfileobj(f, g)


def main():
    lock = LOCK.read_text()
    if STAMP.exists() and STAMP.read_text() == lock and OUT.exists():
        return
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.rmtree(TEST_OUT, ignore_errors=True)
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    for spec, integrity, maps in entries():
        tgz = fetch(spec, integrity)
        for src, dst in maps:
            extract(tgz, src, dst)
        print(f"web assets: {spec} verified and extracted")
    STAMP.write_text(lock)


if __name__ == "__main__":
    main()
