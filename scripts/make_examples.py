"""Write the sample inputs under examples/ that the README's commands use.

Real digits from the embedded MNIST sample's test split (so no model trained by the demo has
seen them): the first test image of classes 0, 3 and 7 as MNIST draws them (light on dark,
28x28), and the same seven as a person draws one (dark ink on white paper, 112x112), which is
what `cnnzoo predict` has to notice and invert.

    python scripts/make_examples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from cnnzoo.data.embedded import load_embedded_mnist

OUT = Path(__file__).resolve().parents[1] / "examples"
NAMES = {0: "zero", 3: "three", 7: "seven"}


def main() -> None:
    test = load_embedded_mnist().test
    images, labels = test.images.numpy(), test.labels.numpy()
    OUT.mkdir(exist_ok=True)
    for label, name in NAMES.items():
        index = int(np.flatnonzero(labels == label)[0])
        digit = images[index].reshape(28, 28).astype(np.uint8)
        Image.fromarray(digit, mode="L").save(OUT / f"{name}.png", optimize=True)
        if label == 7:
            paper = Image.fromarray(255 - digit, mode="L").resize((112, 112), Image.BILINEAR)
            paper.save(OUT / "seven_on_paper.png", optimize=True)
        print(f"{name}.png: test image {index} of the embedded sample, label {label}")


if __name__ == "__main__":
    main()
