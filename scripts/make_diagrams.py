"""Regenerate the diagrams in docs/diagrams/ (rerunnable; same bytes every time).

    PYTHONPATH=src python scripts/make_diagrams.py          # SVGs, and PNGs if a converter is
                                                            # installed (chromium, rsvg, cairosvg)

One diagram per family for docs/models.md, one block of each of the four case studies
the docs show as pictures, and PNGs of those four.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cnnzoo.draw import draw, save
from cnnzoo.errors import MissingDependencyError

OUT = Path(__file__).resolve().parent.parent / "docs" / "diagrams"

# (file stem, model, block, detail)
DIAGRAMS = (
    ("lenet5", "lenet5", None, "stages"),
    ("alexnet_paper", "alexnet_paper", None, "stages"),
    ("vgg16", "vgg16", None, "stages"),
    ("resnet50", "resnet50", None, "stages"),
    ("resnet50_layer1.0", "resnet50", "layer1.0", "stages"),
    ("plain34", "plain34", None, "stages"),
    ("resnet20", "resnet20", None, "stages"),
    ("googlenet", "googlenet", None, "stages"),
    ("googlenet_inception3a", "googlenet", "inception3a", "stages"),
    ("inception_v3", "inception_v3", None, "stages"),
    ("mobilenet_v1", "mobilenet_v1", None, "stages"),
    ("mobilenet_v2", "mobilenet_v2", None, "stages"),
    ("mobilenet_v2_features.3", "mobilenet_v2", "features.3", "stages"),
    ("lenet5_layers", "lenet5", None, "layers"),
)
PNGS = ("lenet5", "resnet50", "googlenet", "mobilenet_v2", "resnet50_layer1.0",
        "googlenet_inception3a", "mobilenet_v2_features.3")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--no-png", action="store_true", help="write the SVGs only")
    args = p.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for stem, model, block, detail in DIAGRAMS:
        svg = draw(model, block=block, detail=detail)
        save(svg, OUT / f"{stem}.svg")
        if stem in PNGS and not args.no_png:
            try:
                save(svg, OUT / f"{stem}.png")
            except MissingDependencyError as e:
                print(f"skipped {stem}.png: {e}")
        print(f"wrote {OUT / stem}.svg")


if __name__ == "__main__":
    main()
