"""Which dataset a training study uses when the user names none: Fashion-MNIST where it is
installed (Debian `dataset-fashion-mnist`), else the embedded MNIST digits, said out loud."""

from __future__ import annotations

from cnnzoo.studies.base import StudyContext

PREFERRED = "fashion-mnist"
FALLBACK = "mnist"  # the 10,000 real digits embedded in the package: always here


def training_data(ctx: StudyContext) -> str:
    """ctx.data if given; else Fashion-MNIST if `load_dataset` finds it; else the embedded
    digits, with a line in the log and in ctx.commands' notes saying so."""
    if ctx.data:
        return ctx.data
    from cnnzoo.data import load_dataset
    from cnnzoo.errors import DatasetError

    try:
        load_dataset(PREFERRED, root=ctx.data_root, progress=False)
        return PREFERRED
    except DatasetError as e:
        ctx.log(f"  {PREFERRED} is not installed ({str(e).splitlines()[0]}); using the "
                f"embedded MNIST digits instead (`apt-get install dataset-fashion-mnist` or "
                f"--data-root DIR for the real thing)")
        return FALLBACK
