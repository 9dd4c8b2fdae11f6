"""cnnzoo's version, in the lowest layer: the CLI and exported files quote it."""

__version__ = "0.1.0"
