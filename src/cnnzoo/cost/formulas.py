"""The case studies' cost arithmetic as small functions you can check by hand.

Each returns a result that prints its working:

    >>> print(bottleneck_saving(28, 28, 192, 16, 32, 5))
    >>> print(depthwise_separable_saving(4, 4, 3, 5, 3))

Sizes are those of the *output* (h, w): a convolution does one f x f x (c_in/groups)
dot product per output element, so its multiplications are f*f*(c_in/groups)*h*w*c_out.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from cnnzoo.errors import UsageError


def _check(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UsageError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class ConvCost:
    """Multiplications of one convolution layer."""

    h_out: int
    w_out: int
    c_in: int
    c_out: int
    f: int
    groups: int = 1

    @property
    def multiplications(self) -> int:
        return self.f * self.f * (self.c_in // self.groups) * self.h_out * self.w_out * self.c_out

    def working(self) -> str:
        per = f"{self.c_in}/{self.groups}" if self.groups > 1 else f"{self.c_in}"
        return (f"{self.f}*{self.f}*{per} * {self.h_out}*{self.w_out}*{self.c_out}"
                f" = {self.multiplications:,}")

    def __str__(self) -> str:
        return f"f*f*(c_in/groups) * h*w*c_out = {self.working()} multiplications"


def conv_cost(
    h_out: int, w_out: int, c_in: int, c_out: int, f: int, groups: int = 1
) -> ConvCost:
    """Multiplications of an f x f convolution with an h_out x w_out x c_out output:
    f*f*(c_in/groups) for each output element."""
    _check(h_out=h_out, w_out=w_out, c_in=c_in, c_out=c_out, f=f, groups=groups)
    if c_in % groups or c_out % groups:
        raise UsageError(
            f"groups={groups} must divide c_in={c_in} and c_out={c_out}"
        )
    return ConvCost(h_out, w_out, c_in, c_out, f, groups)


class _Replacement:
    """A convolution and the two cheaper ones that replace it (fields 0, 1 and 2)."""

    @property
    def _parts(self) -> tuple[ConvCost, ConvCost, ConvCost]:
        return tuple(getattr(self, f.name) for f in fields(self))  # type: ignore[arg-type, return-value]

    @property
    def replaced_by(self) -> int:
        return self._parts[1].multiplications + self._parts[2].multiplications

    @property
    def ratio(self) -> float:
        return self.replaced_by / self._parts[0].multiplications


@dataclass(frozen=True)
class BottleneckSaving(_Replacement):
    """An f x f convolution done directly, and through a 1x1 bottleneck of c_mid channels."""

    direct: ConvCost
    reduce: ConvCost  # 1x1: c_in -> c_mid
    expand: ConvCost  # f x f: c_mid -> c_out

    @property
    def bottleneck(self) -> int:
        return self.replaced_by

    def __str__(self) -> str:
        d, r, e = self.direct, self.reduce, self.expand
        return "\n".join([
            f"{d.h_out}x{d.w_out}x{d.c_in} -> {d.c_out} filters of {d.f}x{d.f}"
            f" (output {d.h_out}x{d.w_out}x{d.c_out})",
            f"  {'direct ' + str(d.f) + 'x' + str(d.f) + ' conv:':<20}{d.working()}",
            f"  through a 1x1 bottleneck of {r.c_out} channels:",
            f"    {'1x1 conv to ' + str(r.c_out) + ':':<18}{r.working()}",
            f"    {f'{e.f}x{e.f} conv to {e.c_out}:':<18}{e.working()}",
            f"    {'together:':<18}{r.multiplications:,} + {e.multiplications:,}"
            f" = {self.bottleneck:,}",
            f"  ratio {self.bottleneck:,} / {d.multiplications:,} = {self.ratio:.3f}"
            f" (about 1/{1 / self.ratio:.1f})",
        ])


def bottleneck_saving(
    h: int, w: int, c_in: int, c_mid: int, c_out: int, f: int
) -> BottleneckSaving:
    """The case studies' example is (28, 28, 192, 16, 32, 5): 120,422,400 multiplications
    directly, 2,408,448 + 10,035,200 = 12,443,648 through the bottleneck, about a tenth."""
    _check(c_mid=c_mid)
    return BottleneckSaving(
        conv_cost(h, w, c_in, c_out, f),
        conv_cost(h, w, c_in, c_mid, 1),
        conv_cost(h, w, c_mid, c_out, f),
    )


@dataclass(frozen=True)
class DepthwiseSaving(_Replacement):
    """An f x f convolution, and the depthwise (one filter per channel) + pointwise (1x1)
    pair that replaces it."""

    normal: ConvCost
    depthwise: ConvCost
    pointwise: ConvCost

    @property
    def separable(self) -> int:
        return self.replaced_by

    @property
    def formula(self) -> float:
        """1/c_out + 1/f^2: equal to `ratio` for every size."""
        return 1 / self.normal.c_out + 1 / self.normal.f**2

    def __str__(self) -> str:
        n, d, p = self.normal, self.depthwise, self.pointwise
        return "\n".join([
            f"{n.c_in} channels -> {n.c_out}, {n.f}x{n.f} filters, output"
            f" {n.h_out}x{n.w_out}x{n.c_out}",
            f"  normal:     {n.working()}",
            f"  depthwise:  {d.working()}",
            f"  pointwise:  {p.working()}",
            f"  separable:  {d.multiplications:,} + {p.multiplications:,} = {self.separable:,}",
            f"  ratio {self.separable:,} / {n.multiplications:,} = {self.ratio:.3f}"
            f" = 1/c_out + 1/f^2 = 1/{n.c_out} + 1/{n.f**2} = {self.formula:.3f}",
        ])


def depthwise_separable_saving(h: int, w: int, c_in: int, c_out: int, f: int) -> DepthwiseSaving:
    """The case studies' example is (4, 4, 3, 5, 3): a 6x6x3 input, 3x3 filters, 5 output
    channels and a 4x4 output cost 2,160 normally and 432 + 240 = 672 separably."""
    return DepthwiseSaving(
        conv_cost(h, w, c_in, c_out, f),
        conv_cost(h, w, c_in, c_in, f, groups=c_in),
        conv_cost(h, w, c_in, c_out, 1),
    )
