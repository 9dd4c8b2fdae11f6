"""From the traced graph to the units a diagram draws: one box per block, per fused
conv + BN + activation, or per layer, with the edges the data took between them."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from cnnzoo.draw.trace import Call, Graph, Node

DETAILS = ("stages", "blocks", "layers")
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


@dataclass
class Unit:
    id: int
    nodes: list[Node]  # what it is made of, in the order they ran
    call: Call | None = None  # set when the unit is a whole block
    inputs: list[int] = field(default_factory=list)  # unit ids
    role: str = ""  # "input" or "output" for the two ends

    @property
    def head(self) -> Node:
        return self.nodes[0]

    @property
    def kind(self) -> str:
        if self.role:
            return "io"
        if self.call is not None:
            return "block"
        return self.head.kind

    @property
    def shape(self) -> tuple[int, ...]:
        if self.call is not None and self.call.outputs:
            last = max(self.call.outputs)
            return next((n.shape for n in self.nodes if n.index == last), self.nodes[-1].shape)
        return self.nodes[-1].shape

    @property
    def params(self) -> int:
        return sum(n.params for n in self.nodes)

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)


class Blocks:
    """Which calls are blocks: a module of its own class (not a container) that holds
    layers, more than one conv or a merge, and no blocks of its own. ConvBNReLU (one conv)
    is a layer; Bottleneck, InceptionBlock, InvertedResidual, a user's residual module are
    blocks; ResNet's `layer1` (a Sequential) and the network itself are opened."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.by_index = {n.index: n for n in graph.nodes}
        self._block: dict[int, bool] = {}
        self._contains: dict[int, bool] = {}

    def is_block(self, index: int) -> bool:
        if index not in self._block:
            self._block[index] = self._is_block(index)
        return self._block[index]

    def contains_block(self, index: int) -> bool:
        if index not in self._contains:
            self._contains[index] = any(self.is_block(k) or self.contains_block(k)
                                        for k in self.graph.calls[index].children)
        return self._contains[index]

    def _is_block(self, index: int) -> bool:
        call = self.graph.calls[index]
        if call.leaf or call.parent is None or isinstance(call.module, _CONTAINERS):
            return False
        if self.contains_block(index):
            return False
        nodes = [self.by_index[i] for i in call.nodes]
        weighty = sum(n.kind in ("conv", "linear") for n in nodes)
        return weighty > 1 or any(n.merge for n in nodes)


def build_units(graph: Graph, root: Call, detail: str, blocks: Blocks) -> list[Unit]:
    """The units inside `root` (the model's call, or one block's), in the order they ran,
    from an input unit to an output unit, dead ends dropped."""
    inside = set(root.nodes)
    start = root.index
    units: list[Unit] = [Unit(0, [graph.nodes[0]], role="input")]
    group_of: dict[int, int] = {}
    by_call: dict[int, int] = {}
    for i in root.nodes:
        node = graph.nodes[i]
        scope = node.scope[node.scope.index(start) + 1:] if start in node.scope else ()
        block = next((c for c in scope if detail != "layers" and blocks.is_block(c)), None)
        if block is not None and block in by_call:
            units[by_call[block]].nodes.append(node)
            group_of[i] = by_call[block]
            continue
        unit = Unit(len(units), [node], call=graph.calls[block] if block is not None else None)
        units.append(unit)
        group_of[i] = unit.id
        if block is not None:
            by_call[block] = unit.id
    outputs = root.outputs if root.parent is not None else graph.output
    outside = [p for i in root.nodes for p in graph.nodes[i].inputs if p not in inside]
    if outside:  # a block drawn alone: its input is what entered it
        units[0].nodes = [graph.nodes[outside[0]]]
    units.append(Unit(len(units), [graph.nodes[0]], role="output"))
    for unit in units[1:-1]:
        for node in unit.nodes:
            for p in node.inputs:
                g = group_of[p] if p in inside else 0
                if g != unit.id and g not in unit.inputs:
                    unit.inputs.append(g)
    units[-1].inputs = list(dict.fromkeys(group_of.get(o, 0) for o in outputs))
    units[-1].nodes = [units[u].nodes[-1] for u in units[-1].inputs] or units[-1].nodes
    units = _live(units)
    return _fuse(units) if detail != "layers" else units


def _live(units: list[Unit]) -> list[Unit]:
    """Drop what never reaches the output (an auxiliary head in eval mode, say)."""
    keep = {units[-1].id}
    for unit in reversed(units):
        if unit.id in keep:
            keep.update(unit.inputs)
    return [u for u in units if u.id in keep]


def successors(units: list[Unit]) -> dict[int, list[int]]:
    succ: dict[int, list[int]] = {u.id: [] for u in units}
    for u in units:
        for p in u.inputs:
            succ[p].append(u.id)
    return succ


def _fuse(units: list[Unit]) -> list[Unit]:
    """conv -> BN -> activation (FC or pooling -> activation) in a chain become one unit:
    the textbooks draw `CONV 3x3, 64` once, not three times."""
    by_id = {u.id: u for u in units}
    succ = successors(units)
    gone: set[int] = set()
    for u in units:
        if u.id in gone or u.call is not None or u.role or \
                u.kind not in ("conv", "linear", "pool"):
            continue
        allowed = ["norm", "act"] if u.kind == "conv" else ["act"]
        chain: list[Unit] = []
        tail = u
        while allowed and len(succ[tail.id]) == 1:
            v = by_id[succ[tail.id][0]]
            if v.call is not None or v.role or v.inputs != [tail.id] or v.kind not in allowed:
                break
            allowed = allowed[allowed.index(v.kind) + 1:]
            chain.append(v)
            tail = v
        if not chain:
            continue
        for v in chain:
            u.nodes += v.nodes
            gone.add(v.id)
        for w in units:
            w.inputs = [u.id if p == tail.id else p for p in w.inputs]
        succ[u.id] = succ[tail.id]
    return [u for u in units if u.id not in gone]
