"""Hostile files (issue 14): each is refused with one DatasetError before anything big is
allocated, and no pickle opcode builds an object the reader did not ask for."""

from __future__ import annotations

import gzip
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from cnnzoo.data import load_dataset
from cnnzoo.data.cifar import parse_batch, read_bounded
from cnnzoo.data.idx import read_idx
from cnnzoo.data.safepickle import loads
from cnnzoo.errors import DatasetError
from tests.data_fakes import cifar_batch_bytes, write_cifar10, write_idx_dataset

RECON = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
HOSTILE = {
    # _reconstruct without its state: a 500000 x 3072 array from nothing
    "uninitialised array": (b"\x80\x02}(U\x04data" + RECON + b"J\x20\xa1\x07\x00M\x00\x0c\x86"
                            b"U\x01B\x87RU\x06labels]u.", "'data' is ArrayWithoutData"),
    "4 GB BINBYTES": (b"\x80\x03B" + struct.pack("<I", 0xFFFFFFF0), "runs past the end"),
    "7 GB BINBYTES8": (b"\x80\x04\x8e" + struct.pack("<Q", 7 << 30), "runs past the end"),
    "dtype with fields": (b"\x80\x02cnumpy\ndtype\nU\x02V8K\x00K\x01\x87R.", "dtype 'V8'"),
    "object dtype": (b"\x80\x02cnumpy\ndtype\nU\x02O8K\x00K\x01\x87R.", "dtype 'O8'"),
    "dtype state with names": (b"\x80\x02cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|N"
                               b"U\x01a\x85NJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb.",
                               "fields or sub-arrays"),
    "os.system": (b"\x80\x02cos\nsystem\nU\x04true\x85R.", "refused to unpickle os.system"),
    "data shorter than its shape": (
        b"\x80\x02}(U\x04data" + RECON + b"K\x00\x85U\x01b\x87R(K\x01K\x02M\x00\x0c\x86"
        b"cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff"
        b"\xffK\x00tb\x89U\x03abctbu.", "needs 6144 bytes, the file gives 3"),
    "memo repeated": (b"\x80\x02](K\x00q\x00" + b"h\x00" * 4000 + b"e.", "more container"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_pickles_are_refused(name: str) -> None:
    data, message = HOSTILE[name]
    with pytest.raises(DatasetError, match=message) as e:
        parse_batch(data, "f", "labels", 10, max_images=100)
    assert str(e.value).startswith("f: ") and "\n" not in str(e.value)


def test_safe_pickle_reads_what_pickle_writes() -> None:
    value = {"a": [1, -2, 3.5, None, True, b"x" * 300, "é"], b"k": (1, 2, 3, 4),
             "big": 2**70, "arr": np.arange(12, dtype=np.int64).reshape(3, 4)}
    for protocol in (2, 3, 4):
        out = loads(pickle.dumps(value, protocol=protocol))
        assert {k: v for k, v in out.items() if k != "arr"} == {
            k: v for k, v in value.items() if k != "arr"}
        assert np.array_equal(out["arr"], value["arr"])


def test_cifar_batch_with_more_images_than_the_split(tmp_path: Path) -> None:
    write_cifar10(tmp_path)
    x = np.zeros((10001, 3072), np.uint8)
    (tmp_path / "test_batch").write_bytes(cifar_batch_bytes(x, [0] * 10001))
    with pytest.raises(DatasetError, match="10,001 images, more than the 10,000"):
        load_dataset("cifar10", root=tmp_path)


def test_file_larger_than_the_spec_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big"
    with open(path, "wb") as f:
        f.truncate(1 << 30)  # sparse: no disk used
    with pytest.raises(DatasetError, match="more than a file of its kind can hold"):
        read_bounded(path, 1 << 20, "fix it")


def _bomb(path: Path, header: bytes, megabytes: int) -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    path.write_bytes(c.compress(header) + b"".join(c.compress(block) for _ in range(megabytes))
                     + c.flush())


def test_idx_gzip_bomb_is_refused_on_its_header(tmp_path: Path) -> None:
    path = tmp_path / "bomb.gz"
    _bomb(path, b"\x08\x08\x08\x03", 64)  # bad magic: nothing past 4 bytes is inflated
    with pytest.raises(DatasetError, match="not an IDX file"):
        read_idx(path, 3)
    _bomb(path, b"\x00\x00\x08\x03" + struct.pack(">3I", 2**31, 28, 28), 64)
    with pytest.raises(DatasetError, match="declares 2,147,483,648 items, more than the 60,000"):
        read_idx(path, 3, max_items=60000, item_shape=(28, 28))
    _bomb(path, b"\x00\x00\x08\x03" + struct.pack(">3I", 10, 280, 28), 1)
    with pytest.raises(DatasetError, match="holds 280x28 images where the dataset has 28x28"):
        read_idx(path, 3, max_items=60000, item_shape=(28, 28))


def test_idx_with_more_images_than_mnist(tmp_path: Path) -> None:
    write_idx_dataset(tmp_path)
    header = b"\x00\x00\x08\x03" + struct.pack(">3I", 60001, 28, 28)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(header))
    with pytest.raises(DatasetError, match="60,001 items, more than the 60,000"):
        load_dataset("mnist", root=tmp_path)


def test_image_bombs_are_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    from cnnzoo.data.folder import decode
    from cnnzoo.errors import UsageError
    from cnnzoo.train.images import Expected, read_for_training_data

    path = tmp_path / "bomb.png"
    Image.new("L", (100, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 10,000 pixels: over twice the limit
    with pytest.raises(DatasetError, match="bomb.png: refused, too many pixels .*decompression"):
        decode(path, 32)
    with pytest.raises(UsageError, match="bomb.png: refused, too many pixels"):
        read_for_training_data(path, Expected(1, (28, 28), "mnist"))


def _png_declaring(path: Path, width: int, height: int) -> Path:
    """A 4x4 PNG whose IHDR (CRC fixed) declares width x height pixels."""
    from PIL import Image

    Image.new("RGB", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def test_image_headers_are_checked_before_decoding(tmp_path: Path) -> None:
    from PIL import Image

    from cnnzoo.data.folder import decode
    from cnnzoo.data.pipeline import MAX_IMAGE_PIXELS
    from cnnzoo.errors import UsageError
    from cnnzoo.train.images import Expected, read_for_training_data

    # Over cnnzoo's cap, under Pillow's bomb error: refused from the header alone.
    big = _png_declaring(tmp_path / "big.png", 8193, 8192)
    assert MAX_IMAGE_PIXELS < 8193 * 8192
    with pytest.raises(DatasetError, match="big.png: refused, its header declares 8193x8192"):
        decode(big, 32)
    with pytest.raises(UsageError, match="big.png: refused, its header declares"):
        read_for_training_data(big, Expected(3, (32, 32), "fuzz"))
    # An uncompressed BMP declaring more rows than its bytes hold (the fuzz benchmark's
    # 1.5 KB file that declared 24x5,636,116 pixels and grew memory by 108 MiB).
    bmp = tmp_path / "tall.bmp"
    Image.new("RGB", (24, 20)).save(bmp)
    data = bytearray(bmp.read_bytes())
    data[22:26] = struct.pack("<i", 27412)
    bmp.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match="tall.bmp: truncated, its header declares 24x27412 "
                                           "pixels of uncompressed data"):
        decode(bmp, 32)
    Image.new("RGB", (24, 20)).save(bmp)  # the honest file still reads
    assert decode(bmp, 16).shape == (3, 16, 16)


def test_input_side_is_bounded_before_allocation() -> None:
    from cnnzoo.errors import UsageError
    from cnnzoo.factory import create_model
    from cnnzoo.registry import default_input_size
    from cnnzoo.sizes import MAX_INPUT_SIDE, check_input_size

    assert check_input_size(MAX_INPUT_SIDE, 3) == (3, MAX_INPUT_SIDE, MAX_INPUT_SIDE)
    assert check_input_size((28, 32), 1) == (1, 28, 32)
    with pytest.raises(UsageError, match="3x30000x30000 is too large.*up to 4096"):
        check_input_size((30000, 30000), 3)
    with pytest.raises(UsageError, match=r"\(2.5, 3\) is not a size"):
        check_input_size((2.5, 3), 3)
    # The same check wherever a size comes in: a model's, the data pipeline's, a folder's.
    with pytest.raises(UsageError, match="input_size 1x30000x30000 is too large"):
        default_input_size(create_model("lenet5"), 30000)
    assert default_input_size(create_model("lenet5"), 40) == (1, 40, 40)
    with pytest.raises(DatasetError, match="image size 3x30000x30000 is too large"):
        load_dataset("folder:/nonexistent", image_size=30000)
