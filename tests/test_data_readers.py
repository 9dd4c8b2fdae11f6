"""Readers: IDX, CIFAR pickles, folder trees, downloads, and `cnnzoo data list`."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import pickle
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnzoo.cli import main
from cnnzoo.data import SPECS, BatchLoader, build_transform, load_dataset
from cnnzoo.data.download import fetch, safe_extract
from cnnzoo.data.folder import load_folder
from cnnzoo.data.specs import Download
from cnnzoo.errors import DatasetError
from tests.data_fakes import (
    IDX_NAMES,
    cifar_batch_bytes,
    idx_bytes,
    write_cifar10,
    write_idx_dataset,
)

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("gz", [True, False])
def test_full_mnist_from_idx_files(tmp_path: Path, gz: bool) -> None:
    written = write_idx_dataset(tmp_path, gz=gz)
    ds = load_dataset("mnist", root=tmp_path)
    assert (len(ds.train), len(ds.test)) == (30, 10) and ds.source == str(tmp_path)
    assert len(load_dataset("mnist-full", root=tmp_path).train) == 30
    assert torch.equal(ds.train.images[:, 0], torch.from_numpy(written["train"][0]))
    assert torch.equal(ds.test.labels, torch.from_numpy(written["test"][1]).long())


def test_idx_found_under_root_subfolders(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path / "FashionMNIST" / "raw")
    assert len(load_dataset("fashion-mnist", root=tmp_path).train) == 30


def _break(folder: Path, name: str, data: bytes) -> None:
    (folder / (name + ".gz")).write_bytes(gzip.compress(data))


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-5], "truncated: dimensions"),
    (lambda b: b + b"\0", "trailing bytes"),
    (lambda b: b"\x08\x03" + b[2:], "not an IDX file"),
    (lambda b: b[:2] + b"\x0d" + b[3:], "holds float values"),
    (lambda b: b[:2], "shorter than an IDX header"),
])
def test_damaged_idx_images_name_the_file(tmp_path: Path, damage, message: str) -> None:
    written = write_idx_dataset(tmp_path)
    _break(tmp_path, IDX_NAMES["train"][0], damage(idx_bytes(written["train"][0])))
    with pytest.raises(DatasetError, match=message) as e:
        load_dataset("mnist", root=tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(e.value)


def test_idx_files_that_do_not_match(tmp_path: Path) -> None:
    written = write_idx_dataset(tmp_path)
    x, y = written["train"]
    _break(tmp_path, IDX_NAMES["train"][1], idx_bytes(y[:-1]))
    with pytest.raises(DatasetError, match="30 images but .* 29 labels"):
        load_dataset("mnist", root=tmp_path)
    _break(tmp_path, IDX_NAMES["train"][1], idx_bytes(np.full_like(y, 10)))
    with pytest.raises(DatasetError, match="label 10 is out of range"):
        load_dataset("mnist", root=tmp_path)
    _break(tmp_path, IDX_NAMES["train"][0], idx_bytes(np.zeros((30, 0, 28), np.uint8)))
    with pytest.raises(DatasetError, match="holds 0x28 images where the dataset has 28x28"):
        load_dataset("mnist", root=tmp_path)
    _break(tmp_path, IDX_NAMES["train"][0], idx_bytes(np.zeros((0, 28, 28), np.uint8)))
    _break(tmp_path, IDX_NAMES["train"][1], idx_bytes(np.zeros(0, np.uint8)))
    with pytest.raises(DatasetError, match=r"holds no images \(dimensions \(0, 28, 28\)\)"):
        load_dataset("mnist", root=tmp_path)
    _break(tmp_path, IDX_NAMES["train"][0], idx_bytes(x))
    _break(tmp_path, IDX_NAMES["train"][1], idx_bytes(x))  # images where labels belong
    with pytest.raises(DatasetError, match="3 dimensions .* swapped"):
        load_dataset("mnist", root=tmp_path)


def test_corrupted_gzip_is_a_clear_error(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path)
    path = tmp_path / (IDX_NAMES["test"][0] + ".gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data[: len(data) - 3]))
    with pytest.raises(DatasetError, match=f"{path.name}: corrupted or truncated gzip"):
        load_dataset("mnist", root=tmp_path)


def test_mnist_full_never_falls_back_to_the_sample(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match=f"mnist: files not found in {tmp_path}/mnist"):
        load_dataset("mnist-full")
    write_idx_dataset(tmp_path / "mnist")
    assert len(load_dataset("mnist-full").train) == 30
    assert len(load_dataset("mnist").train) == 8000  # plain "mnist" stays the sample


def test_one_cache_root_for_data_and_weights(tmp_path: Path, monkeypatch) -> None:
    from cnnzoo.data import data_home
    from cnnzoo.hub import weights_dir

    monkeypatch.delenv("CNNZOO_DATA", raising=False)
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path))
    assert data_home() == tmp_path / "data" and weights_dir() == tmp_path / "weights"
    write_idx_dataset(tmp_path / "data" / "mnist")
    assert len(load_dataset("mnist-full").train) == 30
    # A dataset fetched before HOME/data existed (straight under the root) is still found.
    (tmp_path / "data" / "mnist").rename(tmp_path / "mnist")
    assert len(load_dataset("mnist-full").train) == 30
    # $CNNZOO_DATA still overrides the data folder alone.
    monkeypatch.setenv("CNNZOO_DATA", str(tmp_path / "elsewhere"))
    assert data_home() == tmp_path / "elsewhere" and weights_dir() == tmp_path / "weights"
    with pytest.raises(DatasetError, match="files not found"):
        load_dataset("mnist-full")


def test_missing_files_say_where_to_put_them(tmp_path: Path) -> None:
    expected = f"files not found in {tmp_path}.*cnnzoo data download cifar10"
    with pytest.raises(DatasetError, match=expected):
        load_dataset("cifar10", root=tmp_path)


@pytest.mark.data
@pytest.mark.skipif(not FASHION.is_dir(), reason="apt package dataset-fashion-mnist absent")
def test_real_fashion_mnist_from_the_debian_package() -> None:
    ds = load_dataset("fashion-mnist")
    assert (len(ds.train), len(ds.test)) == (60000, 10000)
    assert ds.train.class_counts(10) == [6000] * 10 and ds.test.class_counts(10) == [1000] * 10
    assert ds.classes[0] == "T-shirt/top"
    mean = ds.train.images[:5000].float().mean().item() / 255
    assert abs(mean - 0.2860) < 0.01  # the published training mean


def test_cifar10_batches(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    train = write_cifar10(folder)
    ds = load_dataset("cifar10", root=tmp_path)
    assert (len(ds.train), len(ds.test)) == (40, 8)
    assert ds.classes[:2] == ("airplane", "automobile")
    assert torch.equal(ds.train.images, torch.from_numpy(train))
    tf = build_transform(ds, (3, 32, 32), train=True)
    x, _ = next(iter(BatchLoader(ds.train, 16, transform=tf, shuffle=True)))
    assert x.shape == (16, 3, 32, 32)
    grey = build_transform(ds, (1, 32, 32), convert_channels=True)(ds.test.images[:2])
    luma = (ds.test.images[:2].float() / 255 * torch.tensor([0.299, 0.587, 0.114])[:, None, None]
            ).sum(1, keepdim=True)
    mean = sum(w * m for w, m in zip((0.299, 0.587, 0.114), ds.mean, strict=True))
    std = sum(w * s for w, s in zip((0.299, 0.587, 0.114), ds.std, strict=True))
    torch.testing.assert_close(grey, (luma - mean) / std)


def test_cifar100_uses_fine_labels_and_meta_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("train", "test"):
        x = rng.integers(0, 256, (6, 3072), dtype=np.uint8)
        (tmp_path / name).write_bytes(cifar_batch_bytes(x, [99, 0, 1, 2, 3, 4], b"fine_labels",
                                                        legacy=False))
    names = [f"class{i}".encode() for i in range(100)]
    (tmp_path / "meta").write_bytes(pickle.dumps({b"fine_label_names": names}, protocol=2))
    ds = load_dataset("cifar100", root=tmp_path)
    assert ds.num_classes == 100 and ds.classes[99] == "class99"
    assert ds.train.labels.tolist() == [99, 0, 1, 2, 3, 4]


class _Exploit:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_cifar_reader_refuses_code_in_pickles(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar10(folder)
    pwned = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(
        pickle.dumps({b"data": _Exploit(pwned), b"labels": []}, protocol=2))
    with pytest.raises(DatasetError, match="data_batch_3: refused to unpickle .*mkdir"):
        load_dataset("cifar10", root=tmp_path)
    assert not pwned.exists()


@pytest.mark.parametrize("batch, message", [
    ([1, 2, 3], "holds a list, not a CIFAR batch"),
    ({b"labels": [0]}, "has no 'data' entry"),
    ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "'data' is float32"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 'labels'"),
    ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "label 10 is out of range"),
])
def test_cifar_batches_with_the_wrong_structure(tmp_path: Path, batch, message: str) -> None:
    write_cifar10(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DatasetError, match=f"test_batch: {message}"):
        load_dataset("cifar10", root=tmp_path)


def _write_tree(root: Path, counts: dict[str, dict[str, int]]) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, classes in counts.items():
        for cls, n in classes.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                pixels = rng.integers(0, 256, (30 + 5 * i, 40, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(root / split / cls / f"{i}.png")


def test_folder_tree_in_memory_and_lazy_agree(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"train": {"cat": 3, "dog": 2}, "val": {"cat": 1, "dog": 1}})
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image, ignored")
    eager = load_folder(tmp_path, image_size=28)
    lazy = load_folder(tmp_path, image_size=28, in_memory=False)
    assert eager.classes == ("cat", "dog") and len(eager.train) == 5 and len(eager.test) == 2
    assert eager.train.image_shape == (3, 32, 32)  # decoded at 28 / 0.875
    idx = torch.arange(5)
    assert torch.equal(eager.train.batch(idx), lazy.train.batch(idx))
    tf = build_transform(eager, (3, 28, 28), train=False)
    assert tf(eager.test.batch(torch.arange(2))).shape == (2, 3, 28, 28)
    # A model input far from the decode size: resized to input / 0.875 first, then cropped.
    small = build_transform(eager, (3, 8, 8), train=True)
    assert "Resize(size=(9, 9))" in repr(small)
    assert small(eager.train.batch(idx), torch.Generator()).shape == (5, 3, 8, 8)


def test_folder_tree_errors_name_the_place(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"train": {"cat": 2, "dog": 1}, "val": {"cat": 1}})
    (tmp_path / "train" / "empty").mkdir()
    with pytest.raises(DatasetError, match="train/empty: empty class folder"):
        load_folder(tmp_path, 32)
    (tmp_path / "train" / "empty").rmdir()
    bad = tmp_path / "train" / "dog" / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(DatasetError, match="broken.jpg: cannot decode"):
        load_folder(tmp_path, 32)
    bad.unlink()
    _write_tree(tmp_path, {"val": {"bird": 1}})
    with pytest.raises(DatasetError, match="bird are not in the train folder"):
        load_folder(tmp_path, 32)
    with pytest.raises(DatasetError, match="ImageNet layout"):
        load_dataset(f"folder:{tmp_path / 'nowhere'}")


def test_lazy_folder_error_reaches_the_training_loop(tmp_path: Path) -> None:
    _write_tree(tmp_path, {"train": {"cat": 3, "dog": 3}, "val": {"cat": 1, "dog": 1}})
    lazy = load_folder(tmp_path, 32, in_memory=False)
    (tmp_path / "train" / "dog" / "1.png").write_bytes(b"damaged after loading")
    loader = BatchLoader(lazy.train, 2, prefetch=2)  # decoded in the background thread
    with pytest.raises(DatasetError, match="dog/1.png: cannot decode"):
        list(loader)


def test_truncated_jpeg_is_a_clear_error(tmp_path: Path) -> None:
    from PIL import Image

    _write_tree(tmp_path, {"train": {"a": 1}, "val": {"a": 1}})
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(buf, "JPEG")
    (tmp_path / "val" / "a" / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DatasetError, match="cut.jpg: cannot decode"):
        load_folder(tmp_path, 32)


def _served(tmp_path: Path, name: str, data: bytes) -> Download:
    source = tmp_path / "server" / name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    return Download(source.as_uri(), name, hashlib.md5(data).hexdigest())


def test_fetch_checks_md5_and_leaves_nothing_behind(tmp_path: Path) -> None:
    item = _served(tmp_path, "f.gz", b"payload" * 1000)
    out = tmp_path / "out"
    assert fetch(item, out, progress=False).read_bytes() == b"payload" * 1000
    wrong = replace(item, filename="g.gz", md5="0" * 32)
    with pytest.raises(DatasetError, match="is not the published 0000"):
        fetch(wrong, out, progress=False)
    assert sorted(p.name for p in out.iterdir()) == ["f.gz"]
    gone = replace(item, url=(tmp_path / "missing.gz").as_uri(), filename="m.gz")
    with pytest.raises(DatasetError, match="could not download .*missing.gz"):
        fetch(gone, out, progress=False)


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_download_unpacks_cifar_safely(tmp_path: Path, monkeypatch, capsys) -> None:
    write_cifar10(tmp_path / "src")
    archive = _tar({f"cifar-10-batches-py/{p.name}": p.read_bytes()
                    for p in (tmp_path / "src").iterdir()})
    item = _served(tmp_path, "cifar-10-python.tar.gz", archive)
    monkeypatch.setitem(SPECS, "cifar10", replace(SPECS["cifar10"], downloads=(item,)))
    ds = load_dataset("cifar10", root=tmp_path / "data", download=True, progress=False)
    assert len(ds.train) == 40 and ds.source.endswith("cifar-10-batches-py")
    assert main(["data", "download", "cifar10", "--root", str(tmp_path / "cli")]) == 0
    assert "cifar10: 40 train and 8 test images (3x32x32)" in capsys.readouterr().out
    offline = replace(item, url=(tmp_path / "no-network").as_uri())
    monkeypatch.setitem(SPECS, "cifar10", replace(SPECS["cifar10"], downloads=(offline,)))
    assert main(["data", "download", "cifar10", "--root", str(tmp_path / "off")]) == 2
    err = capsys.readouterr().err
    assert "cnnzoo: error: could not download" in err
    assert f"put cifar-10-python.tar.gz in {tmp_path / 'off'}" in err
    evil = tmp_path / "evil.tar.gz"
    evil.write_bytes(_tar({"../escaped": b"x"}))
    with pytest.raises(DatasetError, match="refused to unpack '../escaped'"):
        safe_extract(evil, tmp_path / "data")
    assert not (tmp_path / "escaped").exists()


def test_cli_data_list(tmp_path: Path, capsys) -> None:
    write_cifar10(tmp_path / "cifar10")
    assert main(["data", "list", "--root", str(tmp_path), "--format", "json"]) == 0
    records = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["mnist"]["train"] == 8000 and records["mnist"]["test"] == 2000
    assert records["cifar10"]["status"] == "ok" and records["cifar10"]["train"] == 40
    assert records["cifar100"]["status"] == "missing"
    assert records["mnist-full"]["status"] == "missing"
    (tmp_path / "cifar10" / "test_batch").write_bytes(b"garbage")
    assert main(["data", "list", "--root", str(tmp_path)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith("cifar10 "))
    assert "error" in row and "test_batch: not a readable CIFAR batch" in row
