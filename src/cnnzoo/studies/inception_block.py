"""inception-block: an Inception module runs 1x1, 3x3, 5x5 convolutions and a 3x3 max-pool
side by side and concatenates them along channels, every branch keeping the input's height
and width; the 1x1 reductions in front of the 3x3 and 5x5 convolutions cut its cost.

Checked on every Inception block (3a..5b) of the zoo's two GoogLeNets: branch shapes from
forward hooks on the meta device, the concatenation order on a small real tensor, the pool's
attributes, and the multiply-adds with and without the reductions, counted and by formula.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from cnnzoo.blocks import ConvBNReLU, InceptionBlock
from cnnzoo.cost import profile
from cnnzoo.factory import create_model
from cnnzoo.studies.base import (
    CONFIRMED,
    INCONCLUSIVE,
    REFUTED,
    Figure,
    RawData,
    Study,
    StudyContext,
    Verdict,
)
from cnnzoo.studies.svg import grouped_bars

MODELS = ("googlenet_paper", "googlenet")  # the paper's network first: the verdict's figures
PAPER = "googlenet_paper"
INPUT = (3, 224, 224)
ORDER_HW = 7  # the real-tensor check of the concatenation order: its height and width
BRANCHES = {"branch1": "1x1", "branch2": "3x3", "branch3": "5x5", "branch4": "pool"}
CONCAT = "concat"  # the row of a block's own output (the concatenation)

# Szegedy et al. 2014, Table 1: output size, depth, #1x1, #3x3 reduce, #3x3, #5x5 reduce,
# #5x5, pool proj, params (K), ops (M).
TABLE1 = {
    "3a": (28, 256, 64, 96, 128, 16, 32, 32, 159, 128),
    "3b": (28, 480, 128, 128, 192, 32, 96, 64, 380, 304),
    "4a": (14, 512, 192, 96, 208, 16, 48, 64, 364, 73),
    "4b": (14, 512, 160, 112, 224, 24, 64, 64, 437, 88),
    "4c": (14, 512, 128, 128, 256, 24, 64, 64, 463, 100),
    "4d": (14, 528, 112, 144, 288, 32, 64, 64, 580, 119),
    "4e": (14, 832, 256, 160, 320, 32, 128, 128, 840, 170),
    "5a": (7, 832, 256, 160, 320, 32, 128, 128, 1072, 54),
    "5b": (7, 1024, 384, 192, 384, 48, 128, 128, 1388, 71),
}
TABLE1_COLUMNS = ("size", "out", "1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")
# Table 1 gives ops in millions, some rounded (4b: 87.9 -> 88), some cut (4a: 73.6 -> 73):
# a count is reported as matching within 1 M.
OPS_ROUNDING = 1_000_000

STUDY = Study(
    id="inception-block",
    claim="An Inception module applies 1x1, 3x3 and 5x5 convolutions and a max-pool in "
          "parallel branches and concatenates their outputs along the channel axis; to "
          "concatenate, every branch keeps the spatial size ('same' convolutions, and a 3x3, "
          "stride 1, padding 1 max-pool followed by a 1x1 convolution that shrinks its "
          "channels); the 1x1 reductions in front of the 3x3 and 5x5 convolutions cut the "
          "block's cost. E.g. inception (3a): 28x28x192 in, 64 + (96 -> 128) + (16 -> 32) + "
          "pool proj 32 = 256 channels out.",
    source="Szegedy et al. 2014, Going Deeper with Convolutions, sec. 4, Fig. 2 and Table 1",
    experiment="For all nine Inception blocks (3a-5b) of googlenet_paper (true 5x5 "
               "branches, as published) and of googlenet (torchvision's layout): forward "
               "hooks on the meta device at 3x224x224 record each block's input and each "
               "branch's and the block's output shape; a real random 7x7 input checks that "
               "each branch's output is its slice of the concatenation, in the order 1x1, "
               "3x3, 5x5, pool; the pool branch's MaxPool2d attributes are read; the "
               "block's MACs are counted by the cost profiler on the meta device, with the "
               "1x1 reductions and without them (the same block with its 3x3 and 5x5 "
               "convolutions applied directly to the input), and computed by the formula "
               "H*W*k*k*C_in*C_out per convolution. googlenet_paper's channel numbers are "
               "compared with Table 1.",
    tolerance="Exact, on all nine blocks of both models. Confirmed when (1) each block's "
              "output channels equal the sum of its branches' and each branch's output is "
              "its slice of the concatenation, in order; (2) every branch keeps the block's "
              "input height and width; (3) the pool branch's max-pool is kernel 3, stride 1, "
              "padding 1; counted MACs equal the formula to the unit, with and without the "
              "reductions; googlenet_paper's channels are Table 1's; and every block costs "
              "fewer MACs with its reductions than without (the ratio per block and for 3a "
              "is reported). Refuted when any of (1)-(3) fails, or a block's reductions do "
              "not cut its MACs. Inconclusive when counted MACs differ from the formula or "
              "googlenet_paper's channels differ from Table 1 (then the count or the module "
              "cannot stand for the paper's block). Table 1's ops and params columns are "
              "reported beside the counts, not judged.",
    quick_cost="~2 s", full_cost="~2 s",
    deviations="googlenet_paper is the network as published (5x5 in the 5x5 branch, biased "
               "convolutions, no batch norm); googlenet follows torchvision, whose '5x5' "
               "branch is a 3x3 convolution (padding 1) and whose convolutions carry batch "
               "norm: the structural checks apply to both, the Table 1 comparison to "
               "googlenet_paper only. MACs are the convolutions' multiply-adds, as in Table "
               "1's ops column: biases, ReLU, batch norm and pooling are not MACs (the "
               "profiler reports them as other FLOPs). 'Without reductions' keeps the 1x1 "
               "branch and the pool projection, so both variants give the same output; the "
               "paper's naive module (Fig. 2a) also has no pool projection, and its output "
               "would grow by the input's channels. The zoo's max-pool has ceil_mode=True "
               "(as torchvision's), which changes nothing at stride 1.",
)


# ---------------------------------------------------------------- the experiment

def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _pool(module: nn.Module) -> nn.MaxPool2d | None:
    return next((m for m in module.modules() if isinstance(m, nn.MaxPool2d)), None)


def _single(v: object) -> int:
    """A pooling attribute as one number (kernel 3 and (3, 3) alike); -1 when not square."""
    if isinstance(v, tuple | list):
        return int(v[0]) if len(set(v)) == 1 else -1
    return int(v)


def conv_formula(conv: nn.Conv2d, h: int, w: int) -> int:
    """H*W*k*k*C_in*C_out (over groups) of a 'same' convolution on an H x W input."""
    kh, kw = conv.kernel_size
    return h * w * kh * kw * (conv.in_channels // conv.groups) * conv.out_channels


class DirectBlock(nn.Module):
    """The block without its 1x1 reductions: the 3x3 and 5x5 convolutions read the input
    directly; the 1x1 branch and the pool branch (with its projection) are the block's own."""

    def __init__(self, block: InceptionBlock) -> None:
        super().__init__()
        c_in = block.branch1.conv.in_channels
        norm = not isinstance(block.branch1.bn, nn.Identity)
        self.branch1 = copy.deepcopy(block.branch1)
        self.branch2 = ConvBNReLU(c_in, *_direct(block.branch2), norm=norm)
        self.branch3 = ConvBNReLU(c_in, *_direct(block.branch3), norm=norm)
        self.branch4 = copy.deepcopy(block.branch4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in (self.branch1, self.branch2, self.branch3,
                                         self.branch4)], dim=1)


def _direct(branch: nn.Module) -> tuple[int, int, int, int]:
    """out_channels, kernel, stride, padding of a reduced branch's last convolution."""
    last = _convs(branch)[-1]
    return last.out_channels, last.kernel_size[0], last.stride[0], last.padding[0]


def _blocks(model: nn.Module) -> list[tuple[str, InceptionBlock]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, InceptionBlock)]


def _shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Forward hooks on the meta device: each block's input and output and each branch's
    output shape (without the batch), keyed 'BLOCK:in', 'BLOCK:concat', 'BLOCK:branchN'."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def hook(key: str):
        def record(module: nn.Module, args: tuple, output: torch.Tensor) -> None:
            if key.endswith(":" + CONCAT):
                shapes[key.replace(CONCAT, "in")] = tuple(args[0].shape[1:])
            shapes[key] = tuple(output.shape[1:])
        return record

    for name, block in _blocks(model):
        handles.append(block.register_forward_hook(hook(f"{name}:{CONCAT}")))
        for b in BRANCHES:
            handles.append(getattr(block, b).register_forward_hook(hook(f"{name}:{b}")))
    try:
        with torch.no_grad():
            model(torch.empty(1, *INPUT, device="meta"))
    finally:
        for h in handles:
            h.remove()
    return shapes


def _slices_equal(block: InceptionBlock, c_in: int) -> dict[str, bool]:
    """On a real random ORDER_HW x ORDER_HW input: is each branch's output exactly its
    slice of the block's output, the slices taken in the order branch1..branch4?"""
    real = copy.deepcopy(block).to_empty(device="cpu")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in real.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.1)
        for buf_name, buf in real.named_buffers():
            if buf_name.endswith("running_var"):
                buf.fill_(1.0)
            elif buf.is_floating_point():
                buf.zero_()
        real.eval()
        x = torch.randn(1, c_in, ORDER_HW, ORDER_HW, generator=gen)
        out = real(x)
        start, equal = 0, {}
        for b in BRANCHES:
            y = getattr(real, b)(x)
            end = start + y.shape[1]
            equal[b] = end <= out.shape[1] and torch.equal(out[:, start:end], y)
            start = end
        equal[CONCAT] = start == out.shape[1] and all(equal.values())
    return equal


def _branch_counts(block: nn.Module, shape: tuple[int, int, int]) -> dict[str, tuple]:
    """Counted (MACs, weights) per branch (the profiler's rows grouped by branch) and for
    the block."""

    p = profile(block, shape)
    out = {}
    for b in BRANCHES:
        mine = [r for r in p.layers if r.name.split(".")[0] == b]
        out[b] = (sum(r.macs for r in mine), sum(r.params for r in mine))
    out[CONCAT] = (p.macs, p.params)
    return out


def block_rows(model_name: str, model: nn.Module) -> list[dict]:
    """One row per block and branch (and one for the block's concatenated output)."""
    shapes = _shapes(model)
    rows = []
    for name, block in _blocks(model):
        c_in, h, w = shapes[f"{name}:in"]
        direct = DirectBlock(block)
        counted = _branch_counts(block, (c_in, h, w))
        counted_direct = _branch_counts(direct, (c_in, h, w))
        equal = _slices_equal(block, c_in)
        start = 0
        formulas = {}
        for b, role in BRANCHES.items():
            branch = getattr(block, b)
            convs = _convs(branch)
            pool = _pool(branch)
            out_c, out_h, out_w = shapes[f"{name}:{b}"]
            formulas[b] = (sum(conv_formula(c, h, w) for c in convs),
                           sum(conv_formula(c, h, w) for c in _convs(getattr(direct, b))))
            rows.append({
                "model": model_name, "block": name, "branch": b, "role": role,
                "in_c": c_in, "in_h": h, "in_w": w,
                "reduce_c": convs[0].out_channels if role in ("3x3", "5x5") else 0,
                "out_c": out_c, "out_h": out_h, "out_w": out_w,
                "kernel": convs[-1].kernel_size[0],
                "padding": convs[-1].padding[0],
                "concat_from": start, "concat_to": start + out_c,
                "slice_equal": int(equal[b]),
                "pool_kernel": _single(pool.kernel_size) if pool else "",
                "pool_stride": _single(pool.stride) if pool else "",
                "pool_padding": _single(pool.padding) if pool else "",
                "params": counted[b][1],
                "macs": counted[b][0], "macs_formula": formulas[b][0],
                "direct_macs": counted_direct[b][0], "direct_formula": formulas[b][1],
            })
            start += out_c
        out_c, out_h, out_w = shapes[f"{name}:{CONCAT}"]
        rows.append({
            "model": model_name, "block": name, "branch": CONCAT, "role": CONCAT,
            "in_c": c_in, "in_h": h, "in_w": w, "reduce_c": 0,
            "out_c": out_c, "out_h": out_h, "out_w": out_w, "kernel": "", "padding": "",
            "concat_from": 0, "concat_to": out_c, "slice_equal": int(equal[CONCAT]),
            "pool_kernel": "", "pool_stride": "", "pool_padding": "",
            "params": counted[CONCAT][1],
            "macs": counted[CONCAT][0], "macs_formula": sum(f[0] for f in formulas.values()),
            "direct_macs": counted_direct[CONCAT][0],
            "direct_formula": sum(f[1] for f in formulas.values()),
        })
    return rows


def run(ctx: StudyContext) -> None:
    rows = []
    for name in MODELS:
        ctx.log(f"  {name}: hooks, pools and MACs of every Inception block")
        rows += block_rows(name, create_model(name, device="meta"))
    ctx.write_csv("branches", rows)


# ---------------------------------------------------------------- measure and verdict

def _int(v: str) -> int | None:
    return int(v) if v not in ("", None) else None


def _short(block: str) -> str:
    return block.removeprefix("inception")


def _check_block(rows: list[dict]) -> tuple[list[str], dict]:
    """Failures of checks (1)-(3) in one block's rows, and its summary."""
    branches = [r for r in rows if r["branch"] != CONCAT]
    cat = next((r for r in rows if r["branch"] == CONCAT), None)
    b = _short(rows[0]["block"])
    fails = []
    if cat is None or [r["branch"] for r in branches] != list(BRANCHES):
        return [f"{b}: the branches are not {', '.join(BRANCHES)} and a concatenation"], {}
    total = sum(r["out_c"] for r in branches)
    # (1) channels add up, slices follow one another in order and hold the branch's output
    if cat["out_c"] != total:
        fails.append(f"{b}: {cat['out_c']} channels out, branches sum to {total}")
    start = 0
    for r in branches:
        if (r["concat_from"], r["concat_to"]) != (start, start + r["out_c"]) or not r[
                "slice_equal"]:
            fails.append(f"{b} {r['branch']} is not channels {start}-{start + r['out_c']} "
                         "of the output")
        start += r["out_c"]
    if not cat["slice_equal"]:
        fails.append(f"{b}: the output is not the branches concatenated in order")
    # (2) every branch (and the block) keeps the input's height and width
    for r in rows:
        if (r["out_h"], r["out_w"]) != (r["in_h"], r["in_w"]):
            fails.append(f"{b} {r['branch']}: {r['out_h']}x{r['out_w']} out of a "
                         f"{r['in_h']}x{r['in_w']} input")
    # (3) the pool branch pools 3x3, stride 1, padding 1
    pool = next(r for r in branches if r["role"] == "pool")
    got = (pool["pool_kernel"], pool["pool_stride"], pool["pool_padding"])
    if got != (3, 1, 1):
        fails.append(f"{b}: the pool branch's max-pool is kernel/stride/padding "
                     f"{'/'.join(map(str, got))}, not 3/1/1")
    summary = {
        "input": [cat["in_c"], cat["in_h"], cat["in_w"]],
        "output": [cat["out_c"], cat["out_h"], cat["out_w"]],
        "channels": {r["role"]: r["out_c"] for r in branches},
        "reduce": {r["role"]: r["reduce_c"] for r in branches if r["reduce_c"]},
        "kernel_5x5_branch": next(r["kernel"] for r in branches if r["role"] == "5x5"),
        "pool": list(got),
        "params": cat["params"], "macs": cat["macs"], "macs_formula": cat["macs_formula"],
        "direct_macs": cat["direct_macs"], "direct_formula": cat["direct_formula"],
        "ratio": cat["direct_macs"] / cat["macs"] if cat["macs"] else None,
        "formula_equal": all(r["macs"] == r["macs_formula"]
                             and r["direct_macs"] == r["direct_formula"] for r in rows),
    }
    return fails, summary


def _table1(blocks: dict[str, dict]) -> tuple[list[str], dict]:
    """googlenet_paper's blocks against Table 1: channel mismatches, and the ops/params
    columns beside the counts."""
    fails, ops = [], {}
    for key, row in TABLE1.items():
        s = blocks.get(f"inception{key}")
        if s is None:
            fails.append(f"{key} is missing")
            continue
        got = (s["output"][1], s["output"][0], s["channels"]["1x1"], s["reduce"].get("3x3"),
               s["channels"]["3x3"], s["reduce"].get("5x5"), s["channels"]["5x5"],
               s["channels"]["pool"])
        diff = [f"{c} {g} (Table 1: {t})" for c, g, t in zip(TABLE1_COLUMNS, got, row[:8],
                                                              strict=True) if g != t]
        if s["kernel_5x5_branch"] != 5:
            diff.append(f"5x5 branch kernel {s['kernel_5x5_branch']}")
        if diff:
            fails.append(f"{key}: {', '.join(diff)}")
        ops[key] = {"counted_macs": s["macs"], "table1_ops": row[9] * 1_000_000,
                    "within_rounding": abs(s["macs"] - row[9] * 1_000_000) <= OPS_ROUNDING,
                    "counted_params": s["params"], "table1_params": row[8] * 1000}
    return fails, ops


def measure(raw: RawData) -> dict:
    rows = raw.csv("branches")
    for r in rows:
        for k in ("in_c", "in_h", "in_w", "reduce_c", "out_c", "out_h", "out_w", "kernel",
                  "padding", "concat_from", "concat_to", "slice_equal", "pool_kernel",
                  "pool_stride", "pool_padding", "params", "macs", "macs_formula", "direct_macs",
                  "direct_formula"):
            r[k] = _int(r[k])
    models = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == name]
        blocks, fails = {}, []
        for block in dict.fromkeys(r["block"] for r in mine):
            f, s = _check_block([r for r in mine if r["block"] == block])
            fails += f
            if s:
                blocks[block] = s
        ratios = [s["ratio"] for s in blocks.values() if s["ratio"] is not None]
        models[name] = {
            "blocks": blocks, "structural_failures": fails,
            "formula_mismatches": [_short(b) for b, s in blocks.items()
                                   if not s["formula_equal"]],
            "not_cheaper": [_short(b) for b, s in blocks.items()
                            if s["ratio"] is None or s["ratio"] <= 1],
            "ratio_min": min(ratios, default=None), "ratio_max": max(ratios, default=None),
            "macs_total": sum(s["macs"] for s in blocks.values()),
            "direct_total": sum(s["direct_macs"] for s in blocks.values()),
        }
    paper = models.get(PAPER, {"blocks": {}})
    table_fails, ops = _table1(paper["blocks"])
    params_off = [v["counted_params"] / v["table1_params"] - 1 for v in ops.values()]
    return {"models": models, "table1_mismatches": table_fails, "table1_ops": ops,
            "ops_off": [k for k, v in ops.items() if not v["within_rounding"]],
            "params_off_range": [min(params_off), max(params_off)] if params_off else None}


def _m(v: int) -> str:
    return f"{v / 1e6:.1f} M"


def verdict(m: dict) -> Verdict:
    paper = m["models"].get(PAPER)
    if not paper or "inception3a" not in paper["blocks"]:
        return Verdict(INCONCLUSIVE, "no googlenet_paper inception 3a in the raw data",
                       "the saved rows lack the paper's network; rerun the study")
    a = paper["blocks"]["inception3a"]
    ch = a["channels"]
    key = (f"inception 3a: {ch['1x1']}+{ch['3x3']}+{ch['5x5']}+{ch['pool']} = "
           f"{a['output'][0]} channels at {a['output'][1]}x{a['output'][2]}; 1x1 reductions "
           f"cut its MACs from {_m(a['direct_macs'])} to {_m(a['macs'])} "
           f"({a['ratio']:.2f}x)")
    structural = [f"{n}: {f}" for n, s in m["models"].items()
                  for f in s["structural_failures"]]
    per_model = "; ".join(
        f"{n}: {len(s['blocks'])} blocks, {_m(s['direct_total'])} -> {_m(s['macs_total'])} "
        f"MACs without -> with reductions, {s['ratio_min']:.2f}x-{s['ratio_max']:.2f}x "
        "per block" for n, s in m["models"].items() if s["blocks"])
    if structural:
        return Verdict(REFUTED, key, "structural check failed: " + "; ".join(structural[:6])
                       + (f" (and {len(structural) - 6} more)" if len(structural) > 6 else ""))
    dearer = [f"{n} {', '.join(s['not_cheaper'])}" for n, s in m["models"].items()
              if s["not_cheaper"]]
    if dearer:
        return Verdict(REFUTED, key, f"the reductions do not cut the MACs of {'; '.join(dearer)}"
                       f". {per_model}")
    off = [f"{n} {', '.join(s['formula_mismatches'])}" for n, s in m["models"].items()
           if s["formula_mismatches"]]
    if off:
        return Verdict(INCONCLUSIVE, key, f"counted MACs differ from H*W*k*k*C_in*C_out in "
                       f"{'; '.join(off)}. {per_model}")
    if m["table1_mismatches"]:
        return Verdict(INCONCLUSIVE, key, "googlenet_paper's blocks are not Table 1's: "
                       + "; ".join(m["table1_mismatches"]))
    ops = m["table1_ops"]
    ops_note = (f"Table 1's ops column matches the counts within 1 M for "
                f"{len(ops) - len(m['ops_off'])} of {len(ops)} blocks")
    if m["ops_off"]:
        ops_note += "; not for " + ", ".join(
            f"{k} (Table 1 {_m(ops[k]['table1_ops'])}, counted "
            f"{ops[k]['counted_macs']:,} from Table 1's own channel numbers)"
            for k in m["ops_off"])
    if m["params_off_range"]:
        lo, hi = m["params_off_range"]
        ops_note += (f". Its params column does not follow from its channels: the counted "
                     f"weights and biases differ from it by {lo:+.1%} to {hi:+.1%}")
    tv = m["models"].get("googlenet", {}).get("blocks", {}).get("inception3a")
    if tv and tv["kernel_5x5_branch"] != 5:
        ops_note += (f". torchvision's googlenet has a {tv['kernel_5x5_branch']}x"
                     f"{tv['kernel_5x5_branch']} convolution in the '5x5' branch: its 3a "
                     f"costs {_m(tv['macs'])} ({_m(tv['direct_macs'])} without reductions, "
                     f"{tv['ratio']:.2f}x)")
    return Verdict(CONFIRMED, key,
                   "in all blocks of both models the output channels are the branches' sum, "
                   "concatenated in order, every branch keeps the input's height and width, "
                   "the pool is 3x3/stride 1/padding 1, and counted MACs equal the formula "
                   f"exactly. {per_model}. googlenet_paper's channels are Table 1's. "
                   f"{ops_note}.")


def figures(raw: RawData, m: dict) -> list[Figure]:
    figs = []
    for name, s in m["models"].items():
        blocks = list(s["blocks"])
        if not blocks:
            continue
        figs.append(Figure(
            f"MACs per block: {name}",
            grouped_bars([_short(b) for b in blocks], {
                "without 1x1 reductions": [s["blocks"][b]["direct_macs"] / 1e6 for b in blocks],
                "with 1x1 reductions": [s["blocks"][b]["macs"] / 1e6 for b in blocks],
            }, title=f"{name}: multiply-adds per Inception block at 224x224",
                xlabel="Inception block", ylabel="million MACs"),
            caption="'Without' applies the 3x3 and 5x5 convolutions directly to the block's "
                    "input; the 1x1 branch and the pool projection are in both."))
    rows = [r for r in raw.csv("branches")
            if r["model"] == PAPER and r["block"] == "inception3a" and r["branch"] != CONCAT]
    if rows:
        figs.append(Figure("Inception 3a by branch", grouped_bars(
            [r["role"] for r in rows], {
                "without 1x1 reductions": [int(r["direct_macs"]) / 1e6 for r in rows],
                "with 1x1 reductions": [int(r["macs"]) / 1e6 for r in rows],
            }, title="googlenet_paper inception 3a: MACs per branch", xlabel="branch",
            ylabel="million MACs", width=440)))
    return figs
