"""Architecture diagrams drawn from the real modules: `draw(model) -> SVG text`."""

from cnnzoo.draw.api import draw
from cnnzoo.draw.output import Diagram, save

__all__ = ["Diagram", "draw", "save"]
