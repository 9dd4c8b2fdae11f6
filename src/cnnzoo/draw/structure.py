"""The shape of the data flow: a sequence of units where forks are joined again
(branches side by side, or a residual: a main path and a shortcut meeting at an add).

Found from the edges alone, with immediate post-dominators: the join of a fork is the
first unit every path from it must pass. A graph that is not series-parallel (a skip
into the middle of a branch) is drawn as one column with its extra edges as arcs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnzoo.draw.units import Unit, successors


@dataclass
class Par:
    """Branches that leave the unit before and meet at `join` (a concat, say)."""

    branches: list[list[Item]]
    join: Unit


@dataclass
class Res:
    """A residual connection: `main` and a `shortcut` (empty: the identity) meet at an add."""

    main: list[Item]
    shortcut: list[Item]
    join: Unit


Item = Unit | Par | Res


@dataclass
class Flow:
    items: list[Item]  # from the input unit to the output unit
    extra: list[tuple[int, int]] = field(default_factory=list)  # edges drawn as arcs


def _post_dominators(units: list[Unit], succ: dict[int, list[int]]) -> dict[int, int]:
    order = {u.id: i for i, u in enumerate(units)}
    pdom: dict[int, set[int]] = {}
    nearest: dict[int, int] = {}
    for u in reversed(units):
        nxt = succ[u.id]
        if not nxt:
            pdom[u.id] = {u.id}
            continue
        common = set.intersection(*(pdom[s] for s in nxt))
        pdom[u.id] = common | {u.id}
        if common:
            nearest[u.id] = min(common, key=order.__getitem__)
    return nearest


def flow(units: list[Unit]) -> Flow:
    succ = successors(units)
    ipdom = _post_dominators(units, succ)
    by_id = {u.id: u for u in units}
    seen: list[int] = []

    def seq(uid: int | None, stop: int | None) -> list[Item]:
        items: list[Item] = []
        while uid is not None and uid != stop:
            if uid in seen:
                raise _NotSeriesParallel
            seen.append(uid)
            items.append(by_id[uid])
            nxt = succ[uid]
            while len(nxt) > 1:
                join = ipdom.get(uid)
                if join is None:
                    raise _NotSeriesParallel
                branches = [seq(s, join) for s in nxt]
                items.append(_pair(branches, by_id[join]))
                if join in seen:
                    raise _NotSeriesParallel
                seen.append(join)
                uid = join
                nxt = succ[uid]
            uid = nxt[0] if nxt else None
        return items

    try:
        items = seq(units[0].id, None)
        if sorted(seen) == sorted(by_id) and _edges(items) == _actual(units):
            return Flow(items)
    except _NotSeriesParallel:
        pass
    chain = [(a.id, b.id) for a, b in zip(units, units[1:], strict=False)]
    return Flow(list(units), [e for e in sorted(_actual(units)) if e not in chain])


class _NotSeriesParallel(Exception):
    pass


def _pair(branches: list[list[Item]], join: Unit) -> Par | Res:
    """Two branches meeting at an add, one of them empty or a single unit beside a longer
    one, are a residual connection; anything else is drawn side by side."""
    if join.head.merge == "add" and len(branches) == 2:
        a, b = sorted(branches, key=len, reverse=True)
        if not b or (len(b) == 1 and isinstance(b[0], Unit) and len(a) > 1):
            return Res(a, b, join)
    return Par(branches, join)


def _ends(items: list[Item]) -> tuple[int, int]:
    first, last = items[0], items[-1]
    head = first.id if isinstance(first, Unit) else -1
    tail = last.id if isinstance(last, Unit) else last.join.id
    return head, tail


def _edges(items: list[Item]) -> set[tuple[int, int]]:
    """The edges a tree of items implies (to check it against the real ones)."""
    edges: set[tuple[int, int]] = set()
    prev: int | None = None
    for item in items:
        if isinstance(item, Unit):
            if prev is not None:
                edges.add((prev, item.id))
            prev = item.id
            continue
        branches = item.branches if isinstance(item, Par) else [item.main, item.shortcut]
        for branch in branches:
            if not branch:
                edges.add((prev, item.join.id))  # type: ignore[arg-type]
                continue
            head, tail = _ends(branch)
            edges.add((prev, head))  # type: ignore[arg-type]
            edges |= _edges(branch)
            edges.add((tail, item.join.id))
        prev = item.join.id
    return edges


def _actual(units: list[Unit]) -> set[tuple[int, int]]:
    return {(p, u.id) for u in units for p in u.inputs}


def walk(items: list[Item]):  # noqa: ANN201 - a generator of units
    """Every unit in a tree of items, in drawing order."""
    for item in items:
        if isinstance(item, Unit):
            yield item
            continue
        for branch in item.branches if isinstance(item, Par) else [item.main, item.shortcut]:
            yield from walk(branch)
        yield item.join
