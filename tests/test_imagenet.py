"""ImageNet: class names, the evaluation preset, the validation reader, and `eval` / `predict`
with pretrained weights taken from the cache (a local file; no network)."""

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo import ModelOptionError, create_model
from cnnzoo.cli import main
from cnnzoo.data import build_transform, load_dataset
from cnnzoo.data.imagenet import imagenet_classes, load_imagenet_val, preset_decode
from cnnzoo.errors import DatasetError
from cnnzoo.pretrained import IMAGENET_224, PRETRAINED, Preset


def _pil_bilinear_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's antialiased bilinear filter as a matrix: a triangle of half-width
    max(1, n_in / n_out) input pixels centred on each output pixel, normalised."""
    scale = n_in / n_out
    width = max(scale, 1.0)
    out = np.zeros((n_out, n_in))
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo, hi = max(int(centre - width + 0.5), 0), min(int(centre + width + 0.5), n_in)
        taps = np.array([max(0.0, 1 - abs((x + 0.5 - centre) / width)) for x in range(lo, hi)])
        out[i, lo:hi] = taps / taps.sum()
    return out


def test_preset_matches_a_hand_computed_resize_and_crop(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (23, 37, 3), dtype=np.uint8)  # H 23, W 37
    Image.fromarray(pixels).save(tmp_path / "x.png")
    preset = Preset(resize=16, crop=12)
    # Shorter side (23) -> 16, longer 37 -> int(16 * 37 / 23) = 25; crop offsets rounded.
    rows, cols = _pil_bilinear_matrix(23, 16), _pil_bilinear_matrix(37, 25)
    resized = np.einsum("hy,yxc,wx->hwc", rows, pixels.astype(float), cols)
    left, top = round((25 - 12) / 2), round((16 - 12) / 2)
    expected = resized[top:top + 12, left:left + 12].transpose(2, 0, 1)
    got = preset_decode(tmp_path / "x.png", preset)
    assert got.shape == (3, 12, 12) and got.dtype == np.uint8
    assert np.abs(got.astype(float) - expected).max() <= 1.0  # Pillow rounds twice, in 8 bits
    # Through the dataset and its transform: exactly (x / 255 - mean) / std.
    (tmp_path / "val" / "0").mkdir(parents=True)
    (tmp_path / "x.png").rename(tmp_path / "val" / "0" / "x.png")
    ds = load_imagenet_val(tmp_path, preset)
    x = build_transform(ds, (3, 12, 12))(ds.test.batch(torch.tensor([0])))
    mean, std = torch.tensor(preset.mean)[:, None, None], torch.tensor(preset.std)[:, None, None]
    assert torch.allclose(x[0], (torch.from_numpy(got).float() / 255 - mean) / std, atol=1e-6)


def test_class_names_are_torchvisions_thousand() -> None:
    names = imagenet_classes()
    assert len(names) == len(set(names)) == 1000
    assert (names[0], names[207], names[281], names[999]) == (
        "tench", "golden retriever", "tabby", "toilet tissue")


def _photo(path: Path, seed: int, size: tuple[int, int] = (40, 30)) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)


WNIDS = ["n01440764", "n01443537", "n01484850"]


def _named_labels(ds) -> dict[str, int]:  # noqa: ANN001
    return dict(zip([p.name for p in ds.test.paths], ds.test.labels.tolist(), strict=True))


def test_reader_layouts(tmp_path: Path) -> None:
    by_index = tmp_path / "index"
    for label in (3, 999):
        _photo(by_index / "val" / str(label) / "a.png", label)
    ds = load_imagenet_val(by_index, IMAGENET_224)
    assert sorted(ds.test.labels.tolist()) == [3, 999] and ds.num_classes == 1000

    by_wnid = tmp_path / "wnid"
    for i, wnid in enumerate(WNIDS[:2]):
        _photo(by_wnid / wnid / "a.JPEG", i)
    with pytest.raises(DatasetError, match="LOC_synset_mapping.txt"):
        load_imagenet_val(by_wnid)
    # The synset file fixes the order; here it is reversed, so the labels are too.
    synsets = [f"n{99999999 - i:08d} x" for i in range(997)] + [f"{w} name" for w in WNIDS]
    (by_wnid / "LOC_synset_mapping.txt").write_text("\n".join(reversed(synsets)))
    assert sorted(load_imagenet_val(by_wnid).test.labels.tolist()) == [1, 2]

    flat = tmp_path / "flat"
    for i in range(3):
        _photo(flat / f"ILSVRC2012_val_{i + 1:08d}.JPEG", i)
    (flat / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n" + "".join(
            f"ILSVRC2012_val_{i + 1:08d},{w} 1 2 3 4 {w} 5 6 7 8\n" for i, w in enumerate(WNIDS)))
    (flat / "LOC_synset_mapping.txt").write_text(
        "\n".join(f"{w} x" for w in [*WNIDS, *(f"n0999{i:04d}" for i in range(997))]))
    ds = load_imagenet_val(flat)
    assert sorted(_named_labels(ds).items()) == [
        ("ILSVRC2012_val_00000001.JPEG", 0), ("ILSVRC2012_val_00000002.JPEG", 1),
        ("ILSVRC2012_val_00000003.JPEG", 2)]

    caffe = tmp_path / "caffe"
    for i in range(2):
        _photo(caffe / f"img{i}.png", i)
    (caffe / "val.txt").write_text("img0.png 65\nimg1.png 970\n")
    assert sorted(load_imagenet_val(caffe).test.labels.tolist()) == [65, 970]


def test_devkit_ground_truth_needs_its_id_table(tmp_path: Path) -> None:
    for i in range(2):
        _photo(tmp_path / f"ILSVRC2012_val_{i + 1:08d}.JPEG", i)
    (tmp_path / "ILSVRC2012_validation_ground_truth.txt").write_text("490\n361\n")
    with pytest.raises(DatasetError, match="devkit ids.*ILSVRC2012_mapping.txt"):
        load_imagenet_val(tmp_path)
    (tmp_path / "ILSVRC2012_mapping.txt").write_text(f"490 {WNIDS[2]}\n361 {WNIDS[0]}\n")
    (tmp_path / "synset_words.txt").write_text(
        "\n".join(f"{w} x" for w in [*WNIDS, *(f"n0999{i:04d}" for i in range(997))]))
    ds = load_imagenet_val(tmp_path)
    assert _named_labels(ds) == {"ILSVRC2012_val_00000001.JPEG": 2,
                                 "ILSVRC2012_val_00000002.JPEG": 0}


def test_load_dataset_knows_imagenet(tmp_path: Path) -> None:
    _photo(tmp_path / "7" / "a.png", 0)
    ds = load_dataset("imagenet", root=tmp_path, image_size=299)
    assert ds.test.image_shape == (3, 299, 299) and ds.test.preset.resize == 342
    with pytest.raises(DatasetError, match="imagenet: files not found"):
        load_dataset("imagenet", root=tmp_path / "nothing")


@pytest.fixture
def cached_mobilenet(tmp_path: Path, monkeypatch) -> torch.nn.Module:
    """mobilenet_v2 with random weights, placed in the cache as its ImageNet file, and a
    network that refuses every connection: only the cache can serve it."""
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", "http://127.0.0.1:9")  # discard port: refused
    torch.manual_seed(0)
    model = create_model("mobilenet_v2").eval()
    entry = PRETRAINED["mobilenet_v2.imagenet"]
    path = tmp_path / "home" / "weights" / entry.filename
    path.parent.mkdir(parents=True)
    torch.save(model.state_dict(), path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setitem(PRETRAINED, entry.key, replace(entry, sha256=digest))
    return model


def test_eval_with_pretrained_weights_reports_beside_published(
        cached_mobilenet: torch.nn.Module, tmp_path: Path, capsys) -> None:
    root = tmp_path / "imagenet"
    images = []
    for i in range(6):
        _photo(root / "tmp" / f"{i}.png", i, (64 + 16 * i, 48))
        images.append(root / "tmp" / f"{i}.png")
    # Labels from the hand-made pipeline: right for the first four images, wrong for two.
    x = torch.stack([torch.from_numpy(preset_decode(p, IMAGENET_224)) for p in images]).float()
    mean = torch.tensor(IMAGENET_224.mean)[:, None, None]
    std = torch.tensor(IMAGENET_224.std)[:, None, None]
    with torch.no_grad():
        predicted = cached_mobilenet((x / 255 - mean) / std).argmax(1).tolist()
    for i, p in enumerate(images):
        label = predicted[i] if i < 4 else (predicted[i] + 1) % 1000
        target = root / "val" / str(label) / p.name
        target.parent.mkdir(parents=True, exist_ok=True)
        p.rename(target)
    capsys.readouterr()
    assert main(["eval", "mobilenet_v2", "--weights", "imagenet", "--data", "imagenet",
                 "--data-root", str(root), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["count"] == 6 and report["top1"] == pytest.approx(4 / 6)
    from cnnzoo.inference import evaluate_pretrained  # what the top5-table study calls

    result, entry = evaluate_pretrained("mobilenet_v2", root, limit_test=3)
    assert result.count == 3 and entry.acc5 == pytest.approx(90.286)
    assert report["published"]["top1"] == pytest.approx(0.71878)
    assert main(["eval", "mobilenet_v2", "--weights", "imagenet", "--data", "imagenet",
                 "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "top-1 66.67%" in out and "published (torchvision" in out and "71.88%" in out


def test_predict_prints_class_names_without_a_network(
        cached_mobilenet: torch.nn.Module, tmp_path: Path, capsys) -> None:
    _photo(tmp_path / "cat.jpg", 3, (300, 200))
    capsys.readouterr()
    assert main(["predict", "mobilenet_v2", "--weights", "imagenet", "--top-k", "3",
                 str(tmp_path / "cat.jpg")]) == 0
    captured = capsys.readouterr()
    names = [part.rsplit(" ", 1)[0] for part in captured.out.split(": ", 1)[1].split(", ")]
    assert len(names) == 3 and all(n in imagenet_classes() for n in names)
    assert "resized 300x200 (shorter side to 256) and centre-cropped to 224x224" in captured.err


def test_inception_weights_are_built_as_torchvision_builds_them(tmp_path: Path,
                                                                monkeypatch) -> None:
    """googlenet's file holds the aux heads and expects transform_input=True: both from the
    table, as torchvision does, with pretrained=True as the alias."""
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path))
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", "http://127.0.0.1:9")
    entry = PRETRAINED["googlenet.imagenet"]
    path = tmp_path / "weights" / entry.filename
    path.parent.mkdir()
    state = create_model("googlenet", aux_logits=True).state_dict()
    torch.save(state, path)
    monkeypatch.setitem(PRETRAINED, entry.key, replace(
        entry, sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    model = create_model("googlenet", pretrained=True)
    assert model.transform_input and model.aux1 is None
    assert torch.equal(model.state_dict()["fc.weight"], state["fc.weight"])
    with pytest.raises(ModelOptionError, match="pretrained=True and weights="):
        create_model("googlenet", pretrained=True, weights=path)


def test_missing_inputs_are_found_before_any_weights_are_fetched(tmp_path: Path, monkeypatch,
                                                                  capsys) -> None:
    monkeypatch.setenv("CNNZOO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CNNZOO_WEIGHTS_URL", "http://127.0.0.1:9")  # any fetch would say so
    assert main(["eval", "resnet50", "--weights", "imagenet", "--data", "imagenet",
                 "--data-root", str(tmp_path / "none")]) == 2
    assert "imagenet: no validation images found in" in capsys.readouterr().err
    assert main(["predict", "resnet50", "--weights", "imagenet", str(tmp_path / "x.jpg")]) == 2
    assert "image not found" in capsys.readouterr().err
    _photo(tmp_path / "a.png", 0)
    assert main(["predict", "resnet50", "--weights", "imagenett", str(tmp_path / "a.png")]) == 2
    assert "did you mean the pretrained weights 'imagenet'?" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()
