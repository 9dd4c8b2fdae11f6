"""cnnzoo.draw: diagrams from the traced forward pass, for the zoo and for users' modules."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnzoo
from cnnzoo.cli import main
from cnnzoo.draw import output
from cnnzoo.draw.svg import Text, text_width
from cnnzoo.errors import MissingDependencyError, UsageError
from tests.zoo import every_model

SVG = "{http://www.w3.org/2000/svg}"
MAX_W, MAX_H = 1600, 6000


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg.encode("utf-8"))


def texts(svg: str) -> list[Text]:
    return [Text(float(t.get("x")), float(t.get("y")), t.text or "", float(t.get("font-size")),
                 t.get("font-weight") == "bold", t.get("text-anchor", "start"))
            for t in parse(svg).iter(SVG + "text")]


def overlapping(svg: str) -> list[tuple[str, str]]:
    boxes = [(t.bbox(), t.text) for t in texts(svg)]
    bad = []
    for i, (a, ta) in enumerate(boxes):
        for b, tb in boxes[i + 1:]:
            if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                bad.append((ta, tb))
    return bad


def size(svg: str) -> tuple[int, int]:
    root = parse(svg)
    return int(root.get("width")), int(root.get("height"))


def repeats(svg: str) -> list[int]:
    return [int(r.get("data-repeat")) for r in parse(svg).iter(SVG + "rect")
            if r.get("data-repeat")]


def words(svg: str) -> list[str]:
    return [t.text for t in texts(svg)]


@pytest.mark.parametrize("name", every_model())
def test_every_model_draws_within_bounds_without_overlaps(name: str) -> None:
    svg = cnnzoo.draw(name)
    w, h = size(svg)  # parses as XML
    assert 0 < w <= MAX_W and 0 < h <= MAX_H, (w, h)
    assert overlapping(svg) == []
    every = " ".join(words(svg))
    for kind in ("convolution", "pooling", "normalisation", "activation", "linear", "merge"):
        assert kind in every  # the legend
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no URLs
    assert "@font-face" not in svg and "<image" not in svg


def test_resnet_stages_collapse_to_the_papers_block_counts() -> None:
    assert repeats(cnnzoo.draw("resnet50")) == [3, 4, 6, 3]
    # every block is drawn when asked
    assert repeats(cnnzoo.draw("resnet50", detail="blocks")) == []


@pytest.mark.slow
def test_resnet152_fits_one_screen() -> None:
    svg = cnnzoo.draw("resnet152")
    assert repeats(svg) == [3, 8, 36, 3]
    assert size(svg)[1] < 1400  # 3-8-36-3 blocks on one screen
    assert "Bottleneck × 36" in words(svg)


def test_mobilenet_v2_collapses_to_the_rows_of_table_2() -> None:
    svg = cnnzoo.draw("mobilenet_v2")
    assert repeats(svg) == [2, 3, 4, 3, 3]  # n = 1, 2, 3, 4, 3, 3, 1
    assert any("dw 3x3/2" in s and "linear" in s for s in words(svg))


def test_same_model_same_bytes() -> None:
    assert cnnzoo.draw("googlenet") == cnnzoo.draw("googlenet")


@pytest.mark.slow
def test_same_bytes_in_another_process_with_another_hash_seed() -> None:
    first = cnnzoo.draw("googlenet")
    code = "import sys, cnnzoo; sys.stdout.write(cnnzoo.draw('googlenet'))"
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, check=True).stdout
    assert other == first


def test_identity_and_projection_shortcuts_are_told_apart() -> None:
    svg = cnnzoo.draw("resnet50", block="layer1.0")
    every = words(svg)
    assert "conv 1x1, 64 + BN + ReLU" in every and "conv 3x3, 64 + BN + ReLU" in every
    assert "conv 1x1, 256 + BN" in every
    assert every.count("projection shortcut") == 2  # the legend's and the shortcut's
    dashed = [p for p in parse(svg).iter(SVG + "path") if p.get("stroke-dasharray")
              and p.get("marker-end")]
    assert dashed  # the projection's arc is dashed
    svg = cnnzoo.draw("resnet50", block="layer1.1")
    assert "identity" in words(svg) and words(svg).count("projection shortcut") == 1


def test_inverted_residual_block_in_detail() -> None:
    every = " ".join(words(cnnzoo.draw("mobilenet_v2", block="features.3")))
    for part in ("expand ×6", "depthwise", "linear projection", "identity", "dw conv 3x3"):
        assert part in every
    # the first block of a stage has stride 2: no residual, and the drawing says so
    every = " ".join(words(cnnzoo.draw("mobilenet_v2", block="features.2")))
    assert "identity" not in words(cnnzoo.draw("mobilenet_v2", block="features.2"))
    assert "dw conv 3x3/2" in every


def test_inception_block_draws_four_branches_side_by_side() -> None:
    svg = cnnzoo.draw("googlenet", block="inception3a")
    every = words(svg)
    assert "concat" in every
    # 3x3 reduce, 5x5 reduce, the pool projection, and branch 1 (all fewer than the 192 in)
    assert sum("1x1 reduce" in s for s in every) == 4
    tops = {}
    for t in texts(svg):
        if t.bold and t.text.startswith(("conv 1x1", "max-pool")):
            tops.setdefault(round(t.y), []).append(t.x)
    assert max(len(xs) for xs in tops.values()) == 4  # four boxes on one row


class UserResidual(nn.Module):
    """A block the library has never seen: its skip is only in forward."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = nn.Conv2d(c, c, 3, padding=1)
        self.b = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(F.relu(self.a(x))))


class UserNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.blocks = nn.Sequential(UserResidual(16), UserResidual(16), UserResidual(16))
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)).mean((2, 3)))


def _arcs(svg: str) -> list[ET.Element]:
    return [p for p in parse(svg).iter(SVG + "path") if " Q" in (p.get("d") or "")]


def test_users_sequential_draws() -> None:
    seq = nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(8 * 13 * 13, 10))
    svg = cnnzoo.draw(seq, (1, 28, 28))
    every = words(svg)
    assert "conv 3x3, 8 + ReLU" in every and "max-pool 2x2/2" in every and "FC, 10" in every
    assert overlapping(svg) == [] and not _arcs(svg)


def test_users_residual_forward_draws_its_skip() -> None:
    svg = cnnzoo.draw(UserResidual(8), (8, 16, 16))  # the block itself, in detail
    assert "identity" in words(svg) and _arcs(svg)
    svg = cnnzoo.draw(UserNet(), (3, 32, 32))  # inside a network: one box, x 3, with its arc
    assert "UserResidual × 3" in words(svg) and "identity" in words(svg) and _arcs(svg)
    assert repeats(svg) == [3]


def test_a_skip_into_the_middle_of_a_branch_still_draws() -> None:
    class Tangled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = (nn.Conv2d(4, 4, 3, padding=1) for _ in range(3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            a = self.a(x)
            b = self.b(a) + x  # x also feeds the end: not series-parallel
            return self.c(b) + a

    svg = cnnzoo.draw(Tangled(), (4, 8, 8))
    arrows = [p for p in parse(svg).iter(SVG + "path") if p.get("marker-end")]
    assert len(arrows) == 8  # one per edge: 6 down the column, 2 arcs in lanes beside it
    assert words(svg).count("add") == 2 and overlapping(svg) == []


def test_bad_block_is_one_line_listing_valid_ones(capsys: pytest.CaptureFixture) -> None:
    assert main(["draw", "resnet50", "--block", "layer9", "-o", "-"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "layer9" in err
    assert "layer1.0-2" in err and "layer4.0-2" in err
    with pytest.raises(UsageError, match="inception3a"):
        cnnzoo.draw("googlenet", block="inception9")


def test_other_bad_input_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match="detail"):
        cnnzoo.draw("lenet5", detail="everything")
    with pytest.raises(UsageError, match="input_size"):
        cnnzoo.draw(nn.Sequential(nn.Conv2d(1, 1, 1)))


def test_cli_writes_svg_and_show_writes_it_too(tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "lenet.svg"
    assert main(["draw", "lenet5", "-o", str(out), "--costs"]) == 0
    svg = out.read_text()
    assert "MACs" in svg and size(svg)[0] <= MAX_W
    shown = tmp_path / "shown.svg"
    assert main(["show", "lenet5", "--svg", str(shown)]) == 0
    assert shown.read_text() == cnnzoo.draw("lenet5")
    assert main(["draw", "resnet18", "--input-size", "3,64,64", "-o", "-"]) == 0
    assert "64 × 64" in capsys.readouterr().out


def test_png_without_a_converter_names_what_to_install(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setattr(output.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "cairosvg", None)  # import fails
    with pytest.raises(MissingDependencyError, match="cairosvg"):
        output.save(cnnzoo.draw("lenet5"), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
    with pytest.raises(UsageError, match=".svg or .png"):
        output.save("<svg/>", tmp_path / "x.jpg")
    assert main(["draw", "lenet5", "-o", str(tmp_path / "x.pdf")]) == 2


@pytest.mark.slow
@pytest.mark.skipif(not any(output.shutil.which(b) for b in output._BROWSERS),
                    reason="no headless browser to convert with")
def test_png_through_headless_chromium(tmp_path: Path) -> None:
    path = output.save(cnnzoo.draw("lenet5"), tmp_path / "x.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(path) as im:
        assert im.size == size(cnnzoo.draw("lenet5"))


DEJAVU = Path("/usr/share/fonts/truetype/dejavu")


@pytest.mark.skipif(not (DEJAVU / "DejaVuSans.ttf").exists(), reason="DejaVu Sans not installed")
def test_text_width_estimate_is_never_narrower_than_the_font() -> None:
    from PIL import ImageFont

    labels = set()
    for name in ("inception_v3", "mobilenet_v2", "lenet5"):
        labels |= {(t.text, t.bold) for t in texts(cnnzoo.draw(name))}
    regular = ImageFont.truetype(str(DEJAVU / "DejaVuSans.ttf"), 100)
    bold = ImageFont.truetype(str(DEJAVU / "DejaVuSans-Bold.ttf"), 100)
    for label, is_bold in labels:
        real = (bold if is_bold else regular).getlength(label)
        assert text_width(label, 100, is_bold) >= real, label


def test_draw_is_exported_with_the_documented_signature() -> None:
    import inspect

    params = list(inspect.signature(cnnzoo.draw).parameters)
    assert params[:4] == ["model_or_name", "input_size", "block", "detail"]
    assert inspect.signature(cnnzoo.draw).parameters["detail"].default == "stages"
    assert cnnzoo.draw("lenet5").startswith("<svg ")  # inlines in HTML as it is


@pytest.mark.parametrize("stem", ["lenet5", "resnet50", "googlenet_inception3a"])
def test_docs_diagrams_match_the_code(stem: str) -> None:
    name, _, block = stem.partition("_")
    path = Path(__file__).resolve().parent.parent / "docs" / "diagrams" / f"{stem}.svg"
    assert path.read_text(encoding="utf-8") == cnnzoo.draw(name, block=block or None), \
        "rerun: PYTHONPATH=src python scripts/make_diagrams.py"


def test_a_forward_that_fails_on_the_given_size_is_a_clear_error() -> None:
    with pytest.raises(UsageError, match=r"forward pass failed.*input_size"):
        cnnzoo.draw(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 8, 8))


def test_a_stage_container_draws_its_blocks() -> None:
    svg = cnnzoo.draw("resnet18", block="layer2")
    assert words(svg).count("ResidualBlock") == 2 and repeats(svg) == []
    ids = re.findall(r'<marker id="([^"]+)"', svg)
    assert len(ids) == 1 and ids != re.findall(r'<marker id="([^"]+)"', cnnzoo.draw("lenet5"))
