"""The embedded MNIST sample, batch transforms and the batch loader."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnzoo.data import BatchLoader, ImageDataset, Split, build_transform, load_dataset
from cnnzoo.data.embedded import EMBEDDED_MNIST, load_embedded_mnist
from cnnzoo.data.transforms import CenterPad, RandomCrop, RandomHorizontalFlip
from cnnzoo.errors import CnnzooError, DatasetError


@pytest.fixture(scope="module")
def mnist() -> ImageDataset:
    return load_dataset("mnist")


def _row_hashes(images: torch.Tensor) -> set[str]:
    return {hashlib.sha1(r.numpy().tobytes()).hexdigest() for r in images}


def test_embedded_mnist_is_a_stratified_split_of_real_digits(mnist: ImageDataset) -> None:
    assert (len(mnist.train), len(mnist.test)) == (8000, 2000)
    assert mnist.num_classes == 10 and mnist.channels == 1 and mnist.image_size == (28, 28)
    train_counts = mnist.train.class_counts(10)
    test_counts = mnist.test.class_counts(10)
    for tr, te in zip(train_counts, test_counts, strict=True):
        assert te == round(0.2 * (tr + te))  # 20% of every class is held out
    # No image appears in both splits (nor twice in one).
    train, test = _row_hashes(mnist.train.images), _row_hashes(mnist.test.images)
    assert len(train) == 8000 and len(test) == 2000 and not train & test
    # Real MNIST statistics: mostly black background, mean ink near 0.13 (published 0.1307).
    mean = mnist.train.images.float().mean().item() / 255
    assert 0.12 < mean < 0.14
    assert mnist.train.images.dtype == torch.uint8 and mnist.train.labels.dtype == torch.int64


def test_damaged_embedded_sample_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "mnist_sample.npz"
    shutil.copyfile(EMBEDDED_MNIST, bad)
    with np.load(bad) as npz:
        arrays = {k: npz[k].copy() for k in npz.files}
    arrays["x_test"][0, 0, 14, 14] ^= 0xFF
    np.savez_compressed(bad, **arrays)
    with pytest.raises(DatasetError, match="damaged"):
        load_embedded_mnist(bad)
    bad.write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match="cannot be read"):
        load_embedded_mnist(bad)


def test_unknown_dataset_names_the_choices() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'mnits'.*fashion-mnist"):
        load_dataset("mnits")


def test_lenet_transform_pads_digits_into_32x32(mnist: ImageDataset) -> None:
    tf = build_transform(mnist, (1, 32, 32), train=False)
    x = mnist.test.images[:8]
    out = tf(x)
    assert out.shape == (8, 1, 32, 32) and out.dtype == torch.float32
    expected = (x.float() / 255 - 0.1307) / 0.3081
    torch.testing.assert_close(out[:, :, 2:30, 2:30], expected)
    torch.testing.assert_close(out[:, :, :2], torch.full_like(out[:, :, :2], -0.1307 / 0.3081))
    assert not tf.random and torch.equal(tf(x), out)


def test_random_crop_takes_a_window_of_the_padded_image() -> None:
    x = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    out = RandomCrop((8, 8), padding=2)(x, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(16):
        hits = [(t, l) for t in range(5) for l in range(5)
                if torch.equal(padded[i, :, t:t + 8, l:l + 8], out[i])]
        assert hits, f"image {i} is not a crop of its padded input"
        offsets.add(hits[0])
    assert len(offsets) > 1  # offsets differ per image, not one per batch
    again = RandomCrop((8, 8), padding=2)(x, torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    mirrored = RandomCrop((8, 8), padding=2, flip=1.0)(x, torch.Generator().manual_seed(1))
    for i in range(16):  # flip folded into the gather: a mirrored window of the padded image
        assert any(torch.equal(padded[i, :, t:t + 8, l:l + 8].flip(-1), mirrored[i])
                   for t in range(5) for l in range(5))


def test_flip_and_center_pad() -> None:
    x = torch.arange(2 * 1 * 2 * 3, dtype=torch.uint8).view(2, 1, 2, 3)
    assert torch.equal(RandomHorizontalFlip(p=1.0)(x), x.flip(-1))
    assert torch.equal(RandomHorizontalFlip(p=0.0)(x), x)
    padded = CenterPad((4, 5))(x)
    assert padded.shape == (2, 1, 4, 5) and torch.equal(padded[:, :, 1:3, 1:4], x)
    assert padded.sum() == x.sum()


def test_channels_convert_only_when_asked(mnist: ImageDataset) -> None:
    with pytest.raises(DatasetError, match="1 channel.*takes 3.*--in-chans 1"):
        build_transform(mnist, (3, 32, 32))
    tf = build_transform(mnist, (3, 64, 64), convert_channels=True)
    out = tf(mnist.test.images[:4])
    assert out.shape == (4, 3, 64, 64)
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_train_transform_augments_and_eval_does_not(mnist: ImageDataset) -> None:
    x = mnist.train.images[:64]
    train = build_transform(mnist, (1, 28, 28), train=True)
    assert train.random
    a = train(x, torch.Generator().manual_seed(0))
    b = train(x, torch.Generator().manual_seed(1))
    assert not torch.equal(a, b)
    assert torch.equal(a, train(x, torch.Generator().manual_seed(0)))
    before = x.clone()
    build_transform(mnist, (3, 32, 32), train=True, convert_channels=True)(x, None)
    assert torch.equal(x, before)  # transforms never write to their input
    plain = build_transform(mnist, (1, 28, 28), train=True, augment=False)
    assert not plain.random
    with pytest.raises(DatasetError, match="unknown augmentation"):
        build_transform(mnist, train=True, augment=["rotate"])


def _small_split(n: int = 50) -> Split:
    # Image i is filled with the value i, so a batch shows which examples it holds.
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    return Split(images, torch.arange(n) % 10, "synthetic")


def _ids(batch: torch.Tensor) -> list[int]:
    return batch[:, 0, 0, 0].long().tolist()


def test_loader_covers_each_example_once_and_reshuffles_per_epoch() -> None:
    split = _small_split()
    loader = BatchLoader(split, 8, shuffle=True, seed=3)
    assert len(loader) == 7
    epochs = []
    for epoch in range(2):
        loader.set_epoch(epoch)
        batches = list(loader)
        ids = [i for x, _ in batches for i in _ids(x)]
        assert sorted(ids) == list(range(50))
        for x, y in batches:  # labels travel with their images
            assert torch.equal(y, torch.tensor(_ids(x)) % 10)
        epochs.append(ids)
    assert epochs[0] != epochs[1]
    loader.set_epoch(0)
    assert [i for x, _ in loader for i in _ids(x)] == epochs[0]


def test_loader_resumes_inside_an_epoch_with_identical_augmentation(mnist: ImageDataset) -> None:
    tf = build_transform(mnist, (1, 32, 32), train=True)
    loader = BatchLoader(mnist.train.take(640), 64, transform=tf, shuffle=True, seed=7)
    loader.set_epoch(4)
    full = list(loader)
    fresh = BatchLoader(mnist.train.take(640), 64, transform=tf, shuffle=True, seed=7)
    fresh.set_epoch(4)  # as a resumed run would, from its checkpoint
    resumed = list(fresh.iter_from(6))
    assert len(resumed) == 4
    for (xa, ya), (xb, yb) in zip(full[6:], resumed, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_loader_shards_for_distributed_ranks() -> None:
    split = _small_split(51)
    shards = [list(BatchLoader(split, 4, shuffle=True, seed=1, rank=r, world_size=2))
              for r in range(2)]
    ids = [[i for x, _ in s for i in _ids(x)] for s in shards]
    assert len(ids[0]) == len(ids[1]) == 26  # padded to equal length for training
    assert set(ids[0]) | set(ids[1]) == set(range(51))
    uneven = [[i for x, _ in BatchLoader(split, 4, rank=r, world_size=2, even=False)
               for i in _ids(x)] for r in range(2)]
    assert sorted(uneven[0] + uneven[1]) == list(range(51))  # evaluation counts each once
    assert len(BatchLoader(split, 4, drop_last=True)) == 12


def test_loader_prefetch_gives_the_same_batches(mnist: ImageDataset) -> None:
    tf = build_transform(mnist, (1, 32, 32), train=True)
    split = mnist.train.take(512)
    plain = list(BatchLoader(split, 64, transform=tf, shuffle=True, seed=2))
    ahead = list(BatchLoader(split, 64, transform=tf, shuffle=True, seed=2, prefetch=2))
    assert len(plain) == len(ahead) == 8
    for (xa, ya), (xb, yb) in zip(plain, ahead, strict=True):  # bit-identical, in order
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_loader_rejects_bad_arguments() -> None:
    with pytest.raises(CnnzooError, match="batch size"):
        BatchLoader(_small_split(), 0)
    with pytest.raises(CnnzooError, match="rank 2"):
        BatchLoader(_small_split(), 4, rank=2, world_size=2)


def test_channels_last_output(mnist: ImageDataset) -> None:
    tf = build_transform(mnist, (3, 32, 32), convert_channels=True)
    x, _ = next(iter(BatchLoader(mnist.test, 16, transform=tf, channels_last=True)))
    assert x.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loader_on_cuda_matches_cpu(mnist: ImageDataset) -> None:
    tf = build_transform(mnist, (3, 32, 32), train=True, convert_channels=True)
    cpu = BatchLoader(mnist.train.take(256), 64, transform=tf, shuffle=True, seed=5)
    gpu = BatchLoader(mnist.train.take(256), 64, transform=tf, shuffle=True, seed=5,
                      device="cuda")
    for (xc, yc), (xg, yg) in zip(cpu, gpu, strict=True):
        assert xg.is_cuda and yg.is_cuda
        torch.testing.assert_close(xg.cpu(), xc)
        assert torch.equal(yg.cpu(), yc)


def test_limit_train_is_a_random_subset_drawn_with_the_seed() -> None:
    """--limit-train N: the same N images for every run of one seed (every arm of a study),
    others for another seed, in stored order; --limit-test keeps the first N."""
    from cnnzoo.train import TrainConfig
    from cnnzoo.train.run import load_data

    full = load_dataset("mnist")
    a = full.subset(train=500, test=100, seed=3)
    again = load_data(TrainConfig(model="lenet5", data="mnist", limit_train=500,
                                  limit_test=100, seed=3))
    other = full.subset(train=500, seed=4)
    assert torch.equal(a.train.images, again.train.images)
    assert torch.equal(a.train.labels, again.train.labels)
    assert not torch.equal(a.train.images, other.train.images)
    assert not torch.equal(a.train.images, full.train.images[:500])  # not the first 500
    assert torch.equal(a.test.images, full.test.images[:100])
    # every picked image is a training image, each once
    picked = {hashlib.sha256(x.numpy().tobytes()).hexdigest() for x in a.train.images}
    pool = {hashlib.sha256(x.numpy().tobytes()).hexdigest() for x in full.train.images}
    assert len(picked) == 500 and picked <= pool


@pytest.mark.data
def test_download_uses_the_installed_copy(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """Debian's dataset-fashion-mnist present: nothing is fetched (issue 23: it tried the
    network, failed, and left an empty folder in the cache)."""
    from cnnzoo.data import load as fetch  # where download_files finds download_dataset
    from cnnzoo.data.load import download_files

    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Debian dataset-fashion-mnist is not installed")
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path / "home"))
    monkeypatch.setattr(fetch, "download_dataset", lambda *a, **k: pytest.fail("fetched"))
    assert download_files("fashion-mnist") == Path("/usr/share/datasets/fashion-mnist")
    assert not (tmp_path / "home").exists()


def test_a_failed_download_leaves_no_empty_folder(monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path) -> None:
    from cnnzoo.data import load as fetch  # where download_files finds download_dataset
    from cnnzoo.data.load import download_files

    def offline(spec, target, progress=True):
        Path(target).mkdir(parents=True, exist_ok=True)
        raise DatasetError("no network")

    monkeypatch.setattr(fetch, "download_dataset", offline)
    with pytest.raises(DatasetError, match="no network"):
        download_files("cifar10", tmp_path / "cifar")
    assert not (tmp_path / "cifar").exists()


def test_dataset_facts_come_from_the_specs() -> None:
    from cnnzoo.data.load import dataset_key, learned_floor, nearest_datasets
    from cnnzoo.data.specs import SPECS

    assert dataset_key("Fashion_MNIST") == "fashion-mnist"
    assert dataset_key("mnist_full") == "mnist-full" and dataset_key("folder:/x") == "folder"
    assert nearest_datasets("mnist") == SPECS["mnist"].nearest == ("mnist-full", "fashion-mnist")
    assert nearest_datasets("mnist-full") == ("fashion-mnist", "mnist")  # MNIST's, then the sample
    assert nearest_datasets("folder:/x") == ()
    assert learned_floor("fashion_mnist") == SPECS["fashion-mnist"].learned == 0.80
    assert learned_floor("mnist-full") == learned_floor("mnist") and learned_floor("x") == 0.5
