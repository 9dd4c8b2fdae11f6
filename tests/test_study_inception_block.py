"""inception-block: the real run (shapes, pool, MACs against Table 1's numbers) and verdicts
that fail when a saved raw file is broken."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from cnnzoo import studies
from cnnzoo.studies import inception_block
from cnnzoo.studies.base import CONFIRMED, INCONCLUSIVE, REFUTED, RawData, Verdict

ID = "inception-block"


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("ib")
    r = studies.run(ID, out=out, log=lambda s: None, progress=False)
    return r, out / ID


def _table1_3a_macs(reductions: bool) -> int:
    """Inception (3a) from Table 1 alone: 28x28x192 in, #1x1 64, #3x3 reduce 96, #3x3 128,
    #5x5 reduce 16, #5x5 32, pool proj 32; H*W*k*k*C_in*C_out per convolution."""
    hw, c = 28 * 28, 192
    if reductions:
        convs = [(1, c, 64), (1, c, 96), (3, 96, 128), (1, c, 16), (5, 16, 32), (1, c, 32)]
    else:
        convs = [(1, c, 64), (3, c, 128), (5, c, 32), (1, c, 32)]
    return sum(hw * k * k * cin * cout for k, cin, cout in convs)


def test_run_confirms_with_table1_numbers(result: tuple[dict, Path]) -> None:
    r, _ = result
    assert r["verdict"] == CONFIRMED, r["reason"]
    assert r["key"].startswith("inception 3a: 64+128+32+32 = 256 channels at 28x28")
    a = r["measured"]["models"]["googlenet_paper"]["blocks"]["inception3a"]
    assert a["input"] == [192, 28, 28] and a["output"] == [256, 28, 28]
    assert a["channels"] == {"1x1": 64, "3x3": 128, "5x5": 32, "pool": 32}
    assert a["reduce"] == {"3x3": 96, "5x5": 16} and a["kernel_5x5_branch"] == 5
    assert a["pool"] == [3, 1, 1]
    assert a["macs"] == a["macs_formula"] == _table1_3a_macs(True) == 128_049_152
    assert a["direct_macs"] == a["direct_formula"] == _table1_3a_macs(False) == 308_281_344
    assert a["ratio"] == pytest.approx(308_281_344 / 128_049_152)
    m = r["measured"]["models"]
    assert all(len(s["blocks"]) == 9 for s in m.values())
    assert m["googlenet_paper"]["ratio_min"] > 1 and m["googlenet"]["ratio_min"] > 1
    # torchvision's layout: 3x3 in the '5x5' branch, the same channels
    tv = m["googlenet"]["blocks"]["inception3a"]
    assert tv["kernel_5x5_branch"] == 3 and tv["output"] == [256, 28, 28]


def _broken(src: Path, dst: Path, edit: Callable[[list[dict]], None]) -> Verdict:
    shutil.copytree(src, dst)
    path = dst / "branches.csv"
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    edit(rows)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    raw = RawData(dst)
    return inception_block.verdict(inception_block.measure(raw))


def _row(rows: list[dict], block: str, branch: str, model: str = "googlenet_paper") -> dict:
    return next(r for r in rows
                if (r["model"], r["block"], r["branch"]) == (model, block, branch))


def test_saved_data_gives_the_same_verdict(result: tuple[dict, Path], tmp_path: Path) -> None:
    v = _broken(result[1], tmp_path / "same", lambda rows: None)
    assert v.verdict == CONFIRMED and v.key == result[0]["key"]


def test_pool_with_stride_2_is_refuted(result: tuple[dict, Path], tmp_path: Path) -> None:
    def edit(rows: list[dict]) -> None:
        _row(rows, "inception4c", "branch4")["pool_stride"] = "2"

    v = _broken(result[1], tmp_path / "pool", edit)
    assert v.verdict == REFUTED and "4c" in v.reason and "3/2/1" in v.reason


def test_branch_that_shrinks_is_refuted(result: tuple[dict, Path], tmp_path: Path) -> None:
    def edit(rows: list[dict]) -> None:
        r = _row(rows, "inception3a", "branch3", model="googlenet")
        r["out_h"] = r["out_w"] = "24"

    v = _broken(result[1], tmp_path / "shrink", edit)
    assert v.verdict == REFUTED and "24x24 out of a 28x28 input" in v.reason


def test_channels_that_do_not_add_up_are_refuted(result: tuple[dict, Path],
                                                 tmp_path: Path) -> None:
    def edit(rows: list[dict]) -> None:
        _row(rows, "inception5b", "concat")["out_c"] = "1000"

    v = _broken(result[1], tmp_path / "sum", edit)
    assert v.verdict == REFUTED and "branches sum to 1024" in v.reason


def test_out_of_order_slice_is_refuted(result: tuple[dict, Path], tmp_path: Path) -> None:
    def edit(rows: list[dict]) -> None:
        _row(rows, "inception3b", "branch2")["slice_equal"] = "0"

    assert _broken(result[1], tmp_path / "order", edit).verdict == REFUTED


def test_reductions_that_do_not_cut_cost_are_refuted(result: tuple[dict, Path],
                                                     tmp_path: Path) -> None:
    def edit(rows: list[dict]) -> None:
        r = _row(rows, "inception4a", "concat")
        r["direct_macs"] = r["direct_formula"] = r["macs"]

    v = _broken(result[1], tmp_path / "cost", edit)
    assert v.verdict == REFUTED and "4a" in v.reason


def test_count_off_the_formula_is_inconclusive(result: tuple[dict, Path],
                                               tmp_path: Path) -> None:
    def edit(rows: list[dict]) -> None:
        r = _row(rows, "inception3a", "branch3")
        r["macs"] = str(int(r["macs"]) + 1)

    v = _broken(result[1], tmp_path / "formula", edit)
    assert v.verdict == INCONCLUSIVE and "3a" in v.reason


def test_figures(result: tuple[dict, Path]) -> None:
    r, folder = result
    figs = inception_block.figures(RawData(folder), r["measured"])
    assert len(figs) == 3 and all(f.svg.startswith("<svg") for f in figs)
