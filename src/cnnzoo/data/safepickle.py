"""A pickle reader for data files that never runs what a file names.

CIFAR's batches are pickles, and even a restricted `pickle.Unpickler` hands the file numpy's
constructors: a crafted dtype state crashes the process, `_reconstruct` without its state
makes a huge uninitialised array from a few bytes, and a length field reserves gigabytes.
This module interprets the opcodes itself and builds only plain values (None, bools, ints,
floats, str, bytes, tuples, lists, dicts) and one kind of object: a C-ordered numpy array of
a plain numeric dtype whose raw bytes are in the file, exactly as many as its shape needs.
The numpy and codecs globals are recognised by name, never imported from the file's words,
and every length is checked against the bytes that remain before anything is allocated.
"""

from __future__ import annotations

import math
import struct
from typing import Any

import numpy as np

_RECONSTRUCT = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray",
                                                             "_reconstruct")}
_KNOWN = {*_RECONSTRUCT, ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}
# The dtypes an array in a data file may have: plain fixed-size numbers, nothing with fields
# or object pointers.
_DTYPES = {"u1", "i1", "b1", "u2", "i2", "u4", "i4", "u8", "i8", "f2", "f4", "f8"}
_MARK = object()


class PickleRefused(ValueError):
    """The file is not a plain-data pickle (the message says what it asked for)."""


class _Global:
    def __init__(self, module: str, name: str) -> None:
        self.key = (module, name)


class _DType:
    def __init__(self, code: str) -> None:
        self.code = code


class ArrayWithoutData:
    """ndarray rebuilt by `_reconstruct`: nothing allocated until BUILD brings the bytes."""


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, str):
        return value
    raise PickleRefused(f"expected a name, got {type(value).__name__}")


class _Machine:
    def __init__(self, data: bytes, max_items: int) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.items_left = max_items  # container entries: bounds memory on memo references

    # -- reading the stream ---------------------------------------------------------------

    def take(self, n: int) -> bytes:
        if n < 0 or n > len(self.data) - self.pos:
            raise PickleRefused(f"a field of {n} bytes runs past the end of the file "
                                f"({len(self.data) - self.pos} bytes left): truncated")
        out = self.data[self.pos:self.pos + n].tobytes()
        self.pos += n
        return out

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def line(self) -> str:
        end = bytes(self.data[self.pos:self.pos + 256]).find(b"\n")
        if end < 0:
            raise PickleRefused("a name line has no end")
        return self.take(end + 1)[:-1].decode("latin-1")

    # -- the stack --------------------------------------------------------------------------

    def pop(self) -> Any:
        if not self.stack or self.stack[-1] is _MARK:
            raise PickleRefused("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleRefused("no mark to pop to")
        at = self.marks.pop()
        items, self.stack[at:] = self.stack[at + 1:], []
        return items

    def spend(self, n: int) -> None:
        self.items_left -= n
        if self.items_left < 0:
            raise PickleRefused("more container entries than a data file of its kind holds")

    def top(self, kind: type) -> Any:
        if not self.stack or not isinstance(self.stack[-1], kind):
            raise PickleRefused(f"expected a {kind.__name__} on the stack")
        return self.stack[-1]

    # -- objects ----------------------------------------------------------------------------

    def reduce(self, func: Any, args: Any) -> Any:
        if not isinstance(func, _Global) or not isinstance(args, tuple):
            raise PickleRefused("a call of something that is not a known function")
        if func.key in _RECONSTRUCT:
            if len(args) != 3 or not (isinstance(args[0], _Global)
                                      and args[0].key == ("numpy", "ndarray")):
                raise PickleRefused("_reconstruct of something other than numpy.ndarray")
            return ArrayWithoutData()
        if func.key == ("numpy", "dtype"):
            code = _text(args[0]) if args else ""
            if code not in _DTYPES:
                raise PickleRefused(f"numpy dtype {code!r} (only plain numbers are read)")
            return _DType(code)
        if func.key == ("_codecs", "encode"):  # how Python 3 protocol-2 pickles hold bytes
            if len(args) != 2 or not isinstance(args[0], str) or args[1] not in (
                    "latin1", "latin-1"):
                raise PickleRefused("_codecs.encode with other than (str, 'latin1')")
            try:
                return args[0].encode("latin-1")
            except UnicodeEncodeError:
                raise PickleRefused("_codecs.encode of a non-latin-1 string") from None
        raise PickleRefused(f"a call of {'.'.join(func.key)}")

    def build(self, obj: Any, state: Any) -> Any:
        if isinstance(obj, _DType):  # (3, byteorder, None, None, None, -1, -1, flags)
            if not (isinstance(state, tuple) and len(state) >= 2
                    and _text(state[1]) in "<>|=" and all(s is None for s in state[2:5])):
                raise PickleRefused("a dtype state with fields or sub-arrays")
            order = _text(state[1])
            return _DType(obj.code if order in "|=" else order + obj.code)
        if not isinstance(obj, ArrayWithoutData):
            raise PickleRefused(f"setting the state of a {type(obj).__name__}")
        if not (isinstance(state, tuple) and len(state) == 5):
            raise PickleRefused("an ndarray state that is not (version, shape, dtype, "
                                "fortran, data)")
        _, shape, dtype, fortran, raw = state
        if not (isinstance(shape, tuple) and len(shape) <= 8
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                        for d in shape)):
            raise PickleRefused(f"an ndarray shape {shape!r}")
        if not isinstance(dtype, _DType) or fortran not in (False, 0):
            raise PickleRefused("an ndarray of an unreadable dtype or in Fortran order")
        if not isinstance(raw, bytes):
            raise PickleRefused("an ndarray whose data is not raw bytes")
        dt = np.dtype(dtype.code)
        need = math.prod(shape) * dt.itemsize
        if need != len(raw):
            raise PickleRefused(f"an ndarray of shape {shape} needs {need} bytes, the file "
                                f"gives {len(raw)}")
        return np.frombuffer(raw, dtype=dt).reshape(shape)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> Any:
        while True:
            if self.pos >= len(self.data):
                raise PickleRefused("the file ends before the pickle's STOP: truncated")
            op = self.data[self.pos]
            self.pos += 1
            handler = _OPS.get(op)
            if handler is None:
                raise PickleRefused(f"opcode 0x{op:02x} at byte {self.pos - 1} is not one a "
                                    "plain-data pickle uses")
            if handler(self):
                if len(self.stack) != 1 or self.marks:
                    raise PickleRefused("the pickle stops with a malformed stack")
                return self.stack[0]


def _push(value_of):
    def op(m: _Machine) -> None:
        m.stack.append(value_of(m))
    return op


def _tuple_n(n: int):
    def op(m: _Machine) -> None:
        items = [m.pop() for _ in range(n)][::-1]
        m.stack.append(tuple(items))
    return op


def _hashable(key: Any) -> Any:
    if isinstance(key, str | bytes | int | float | bool) or key is None:
        return key
    raise PickleRefused(f"a dict key of type {type(key).__name__}")


def _setitems(m: _Machine, items: list[Any]) -> None:
    if len(items) % 2:
        raise PickleRefused("SETITEMS with an odd number of entries")
    target = m.top(dict)
    m.spend(len(items) // 2)
    for k, v in zip(items[::2], items[1::2], strict=True):
        target[_hashable(k)] = v


def _appends(m: _Machine, items: list[Any]) -> None:
    m.spend(len(items))
    m.top(list).extend(items)


def _put(m: _Machine, index: int) -> None:
    if not m.stack or m.stack[-1] is _MARK:
        raise PickleRefused("memoising an empty stack")
    m.memo[index] = m.stack[-1]


def _get(m: _Machine, index: int) -> None:
    if index not in m.memo:
        raise PickleRefused(f"memo entry {index} was never stored")
    m.stack.append(m.memo[index])


def _mark(m: _Machine) -> None:
    m.marks.append(len(m.stack))
    m.stack.append(_MARK)


def _proto(m: _Machine) -> None:
    if m.take(1)[0] > 5:
        raise PickleRefused("an unknown pickle protocol")


def _global(m: _Machine, module: str, name: str) -> None:
    if (module, name) not in _KNOWN:
        raise PickleRefused(f"refused to unpickle {module}.{name}")
    m.stack.append(_Global(module, name))


def _stack_global(m: _Machine) -> None:
    name, module = m.pop(), m.pop()
    _global(m, _text(module), _text(name))


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PickleRefused("a string that is not UTF-8") from None


def _long(m: _Machine, n: int) -> int:
    if n > 64:  # no count or label in a data file needs more than 512 bits
        raise PickleRefused(f"an integer of {n} bytes")
    return int.from_bytes(m.take(n), "little", signed=True)


def _op_dict(m: _Machine) -> None:
    items = m.pop_mark()
    m.stack.append({})
    _setitems(m, items)


def _op_list(m: _Machine) -> None:
    items = m.pop_mark()
    m.stack.append([])
    _appends(m, items)


def _op_tuple(m: _Machine) -> None:
    items = m.pop_mark()
    m.spend(len(items))
    m.stack.append(tuple(items))


def _op_reduce(m: _Machine) -> None:
    args = m.pop()
    m.stack.append(m.reduce(m.pop(), args))


def _op_build(m: _Machine) -> None:
    state = m.pop()
    m.stack.append(m.build(m.pop(), state))


def _op_setitem(m: _Machine) -> None:
    value = m.pop()
    key = m.pop()
    _setitems(m, [key, value])


def _op_append(m: _Machine) -> None:
    _appends(m, [m.pop()])


def _op_pop(m: _Machine) -> None:
    m.pop()


def _op_pop_mark(m: _Machine) -> None:
    m.pop_mark()


def _op_frame(m: _Machine) -> None:
    m.unpack("<Q")  # a hint for buffered readers; the opcodes that follow are read as usual


_OPS: dict[int, Any] = {
    0x80: _proto, 0x95: _op_frame, ord("."): lambda m: True,
    ord("("): _mark, ord("0"): _op_pop, ord("1"): _op_pop_mark,
    ord("2"): lambda m: m.stack.append(m.stack[-1] if m.stack and m.stack[-1] is not _MARK
                                       else m.pop()),
    ord("N"): _push(lambda m: None), 0x88: _push(lambda m: True), 0x89: _push(lambda m: False),
    ord("K"): _push(lambda m: m.unpack("<B")), ord("M"): _push(lambda m: m.unpack("<H")),
    ord("J"): _push(lambda m: m.unpack("<i")), ord("G"): _push(lambda m: m.unpack(">d")),
    0x8A: _push(lambda m: _long(m, m.unpack("<B"))),
    0x8B: _push(lambda m: _long(m, m.unpack("<I"))),
    ord("U"): _push(lambda m: m.take(m.unpack("<B"))),
    ord("T"): _push(lambda m: m.take(m.unpack("<I"))),
    ord("C"): _push(lambda m: m.take(m.unpack("<B"))),
    ord("B"): _push(lambda m: m.take(m.unpack("<I"))),
    0x8E: _push(lambda m: m.take(m.unpack("<Q"))),
    0x8C: _push(lambda m: _utf8(m.take(m.unpack("<B")))),
    ord("X"): _push(lambda m: _utf8(m.take(m.unpack("<I")))),
    0x8D: _push(lambda m: _utf8(m.take(m.unpack("<Q")))),
    ord("}"): _push(lambda m: {}), ord("]"): _push(lambda m: []),
    ord(")"): _push(lambda m: ()),
    0x85: _tuple_n(1), 0x86: _tuple_n(2), 0x87: _tuple_n(3), ord("t"): _op_tuple,
    ord("d"): _op_dict, ord("l"): _op_list,
    ord("s"): _op_setitem, ord("u"): lambda m: _setitems(m, m.pop_mark()),
    ord("a"): _op_append, ord("e"): lambda m: _appends(m, m.pop_mark()),
    ord("q"): lambda m: _put(m, m.unpack("<B")), ord("r"): lambda m: _put(m, m.unpack("<I")),
    0x94: lambda m: _put(m, len(m.memo)),
    ord("h"): lambda m: _get(m, m.unpack("<B")), ord("j"): lambda m: _get(m, m.unpack("<I")),
    ord("c"): lambda m: _global(m, m.line(), m.line()), 0x93: _stack_global,
    ord("R"): _op_reduce, ord("b"): _op_build,
}


def loads(data: bytes, max_items: int = 1 << 20) -> Any:
    """The plain value a data pickle holds, or PickleRefused. `max_items` bounds the entries
    of all lists, tuples and dicts together (memo references could otherwise repeat one
    object millions of times from a small file)."""
    return _Machine(data, max_items).run()
