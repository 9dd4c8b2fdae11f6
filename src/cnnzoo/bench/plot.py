"""The roofline plot: achieved FLOP/s against arithmetic intensity, one point per layer,
under the machine's two roofs (memory bandwidth slope, compute peak)."""

from __future__ import annotations

from pathlib import Path

from cnnzoo.atomic import atomic_path
from cnnzoo.bench.roofline import RooflineReport

KIND_STYLE = {
    "depthwise conv": ("tab:red", "v"),
    "1x1 conv": ("tab:blue", "o"),
    "conv": ("tab:green", "s"),
    "linear": ("tab:purple", "D"),
}


def roofline_plot(report: RooflineReport, path: str | Path) -> Path:
    """Write the plot as a PNG at `path` (atomically) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # `--plot docs/x.png` from anywhere
    peak = report.peaks.peak(report.variant.precision)
    bw = report.peaks.bandwidth
    rows = [r for r in report.layers if r.macs > 0 and r.time_s > 0]
    fig, ax = plt.subplots(figsize=(7.5, 5), dpi=120)
    lo = min([r.intensity for r in rows] + [0.5]) / 2
    hi = max([r.intensity for r in rows] + [2 * peak / bw]) * 2
    xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
    ax.plot(xs, [min(peak, x * bw) / 1e9 for x in xs], color="black", lw=1.5,
            label=f"roof: {peak / 1e9:.0f} GFLOP/s, {bw / 1e9:.1f} GB/s")
    for kind, (color, marker) in KIND_STYLE.items():
        pts = [r for r in rows if r.kind == kind]
        if pts:
            ax.scatter([r.intensity for r in pts], [r.achieved_flops / 1e9 for r in pts],
                       c=color, marker=marker, s=28, alpha=0.8, label=f"{kind} ({len(pts)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP per byte of weights + input + output)")
    ax.set_ylabel("achieved GFLOP/s")
    v = report.variant
    ax.set_title(f"{report.model}, batch {report.batch_size}, {v.backend} {v.precision} "
                 f"{v.memory_format}", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.text(0.01, 0.01, report.peaks.description, fontsize=6, color="gray")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return path
