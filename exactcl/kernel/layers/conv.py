"""Convolutions with weight sharing and valid padding,
``["conv", c_in, c_out, kernel, stride, bias, size]`` (kernel, stride and
the input's size: lists of 1 or 2 ints): the kernel ``K{l}_{o}_{i}_{t}``
(output channel o, input channel i, offset t; ``K{l}_{o}_{i}_{r}_{c}`` in
2-D) and a bias ``b{l}_{o}`` per output channel, shared by the positions.
The input is channels x positions (2-D positions row by row); the layer
unfolds it into patches (an index gathered once) and multiplies by the
kernel matrix."""

from __future__ import annotations

import re
from math import prod

from flint import nmod_mat

from ..errors import count_text
from ..evaluator import _add, _mul, _transpose
from .base import (
    LayerRule,
    accumulate,
    constant,
    ints,
    positive,
    sym_matmul,
    sym_sum,
)

#: Positions of a convolution's input: 64 x 64. On a 2-core machine the count
#: of one 3 x 3 convolution on it takes 7 s, and a ReLU network of two such
#: convolutions did not end within two minutes.
MAX_POSITIONS = 4096
#: Entries of the unfolded inputs of every convolution (input channels x
#: kernel entries x output positions), in all: the evaluator holds their
#: index, about 150 MB of Python ints at this size (as many as
#: exactcl.torch.capture lets one convolution unfold).
MAX_PATCH_ENTRIES = 2**22

_INT = r"[1-9][0-9]{0,8}"
_SIZES = rf"{_INT}(?:x{_INT})?"
_NAMES = {
    "Conv1d": re.compile(rf"({_INT}),({_INT}),({_INT})(?:,stride=({_INT}))?(,bias)?"
                         rf"(?:,length=({_INT}))?"),
    "Conv2d": re.compile(rf"({_INT}),({_INT}),({_SIZES})(?:,stride=({_SIZES}))?(,bias)?"
                         rf"(?:,size=({_SIZES}))?"),
}


def _out_size(size, kernel, stride) -> tuple[int, ...]:
    return tuple((s - k) // t + 1 for s, k, t in zip(size, kernel, stride))


def _text(values) -> str:
    return "x".join(map(str, values))


class Conv(LayerRule):
    kind = "conv"
    heads = ("Conv1d", "Conv2d")
    ends = True

    def check(self, layer, shape, at, checker):
        if (len(layer) != 7 or not positive(layer[1]) or not positive(layer[2])
                or not ints(layer[3]) or len(layer[3]) not in (1, 2)
                or not ints(layer[4], len(layer[3])) or not isinstance(layer[5], bool)
                or not ints(layer[6], len(layer[3]))):
            raise ValueError(f"{at} (conv) must be ['conv', c_in, c_out, kernel, stride, bias, "
                             f"size] with kernel, stride and size lists of 1 or 2 positive ints, "
                             f"not {list(layer)!r}")
        _, c_in, c_out, kernel, stride, bias, size = layer
        for name, values in (("kernel", kernel), ("stride", stride), ("size", size)):
            if min(values) < 1:
                raise ValueError(f"{at} (conv) must have a positive {name}, not {_text(values)}")
        if any(k > s for k, s in zip(kernel, size)):
            raise ValueError(f"{at} (conv) has kernel {_text(kernel)} larger than its input "
                             f"(size {_text(size)})")
        if shape is not None and (shape[2] is None or shape[0] != c_in
                                  or tuple(shape[2]) != tuple(size)):
            before = (f"{shape[0]} channels of size {_text(shape[2])}"
                      if shape[2] is not None else f"a vector of {shape[0]} entries")
            raise ValueError(f"{at} (conv) takes {c_in} channels of size {_text(size)} but the "
                             f"layer before it gives {before}")
        out_size = _out_size(size, kernel, stride)
        return (("conv", c_in, c_out, tuple(kernel), tuple(stride), bias, tuple(size)),
                (c_out, prod(out_size), out_size))

    def input_shape(self, layer, first_shape):
        return (layer[1], prod(layer[6]), layer[6])

    def parameters(self, layer) -> int:
        _, c_in, c_out, kernel, _, bias, _ = layer
        return c_in * c_out * prod(kernel) + (c_out if bias else 0)

    def sizes(self, layer, entries, at, totals, sequence):
        _, c_in, c_out, kernel, stride, bias, size = layer
        if prod(size) > MAX_POSITIONS:
            return entries, (f"{at} reads an input of {count_text(prod(size))} positions; the "
                             f"limit is {MAX_POSITIONS:,}")
        out = prod(_out_size(size, kernel, stride))
        totals["parameters"] += self.parameters(layer)
        totals["patches"] += c_in * prod(kernel) * out
        return c_out * out, None

    def file_bounds(self, layer, at, totals):
        _, c_in, c_out, kernel, stride, bias, size = layer
        if prod(size) > MAX_POSITIONS:
            return (f"{at} (conv) reads {count_text(prod(size))} positions; a certificate holds "
                    f"at most {MAX_POSITIONS:,}")
        totals["patches"] += c_in * prod(kernel) * prod(_out_size(size, kernel, stride))
        if totals["patches"] > MAX_PATCH_ENTRIES:
            return (f"{at} (conv) brings the entries its convolutions unfold to "
                    f"{count_text(totals['patches'])}; a certificate holds at most "
                    f"{MAX_PATCH_ENTRIES:,}")
        return None

    def compile(self, layer, shape, layout):
        _, c_in, c_out, kernel, stride, bias, size = layer
        n = layout.next_number()
        offsets = [(t,) for t in range(kernel[0])] if len(kernel) == 1 else [
            (r, c) for r in range(kernel[0]) for c in range(kernel[1])]
        tag = ["_".join(map(str, t)) for t in offsets]
        w = layout.add_weight(f"K{n}", c_out, c_in * len(offsets),
                              [f"K{n}_{o}_{i}_{t}" for o in range(c_out) for i in range(c_in)
                               for t in tag])
        b = layout.add_bias(f"b{n}", c_out, [f"b{n}_{o}" for o in range(c_out)]) if bias else None
        out_size = _out_size(size, kernel, stride)
        positions = ([(q,) for q in range(out_size[0])] if len(size) == 1 else
                     [(q, r) for q in range(out_size[0]) for r in range(out_size[1])])
        P_in = prod(size)
        # patches[i * len(offsets) + t, pos] = a[i, position of pos shifted by t]
        gather = []
        for i in range(c_in):
            for t in offsets:
                for pos in positions:
                    flat = 0
                    for axis in range(len(size)):
                        flat = flat * size[axis] + pos[axis] * stride[axis] + t[axis]
                    gather.append(i * P_in + flat)
        op = ["conv", w, b, gather, c_in * len(offsets), len(positions), c_in * P_in, c_in]
        return op, (c_out, len(positions))

    def forward(self, words, op, a, point, sigma):
        p = words.prime
        patches = _gather(a, op[3], op[4], op[5], p)
        out = _mul(point[op[1]], patches)
        if op[2] is not None:
            out = _add(out, _mul(point[words.bias_tensor(op[2])],
                                 constant(1, op[5], [1] * op[5], p)))
        return out, patches

    def backward(self, words, op, delta, saved, point, sigma, grads):
        p = words.prime
        accumulate(grads, op[1], _mul(delta, _transpose(saved)))
        if op[2] is not None:
            accumulate(grads, words.bias_tensor(op[2]),
                       _mul(delta, constant(op[5], 1, [1] * op[5], p)))
        back = _mul(_transpose(point[op[1]]), delta)
        return _scatter(back, op[3], op[7], op[6] // op[7], p)

    def expand(self, op, a, context):
        K = context.tensor(op[1])
        n_pos = op[5]
        patches = [[a[op[3][r * n_pos + q]] for q in range(n_pos)] for r in range(op[4])]
        Y = sym_matmul(K, patches)
        if op[2] is not None:
            b = context.tensor(context.layout.bias_tensor(op[2]))
            Y = [[sym_sum(e, b[o][0]) for e in row] for o, row in enumerate(Y)]
        return [e for row in Y for e in row]

    def ones(self, op, a, layout, sequence):
        rows = layout.tensors[op[1]][1]
        gather, n_pos = op[3], op[5]
        per_pos = [0] * n_pos
        for idx, src in enumerate(gather):
            per_pos[idx % n_pos] += a[src]
        return [per_pos[q] + (op[2] is not None) for _ in range(rows) for q in range(n_pos)]

    def degree(self, op, sequence) -> int:
        return 1

    def products(self, op, layout):
        _, rows, cols, _ = layout.tensors[op[1]]
        return [(cols, rows * op[5], op[2] is not None)]

    def read_name(self, head, inner, block):
        m = _NAMES[head].fullmatch(inner) if inner is not None else None
        if m is None:
            return None
        g = m.groups()
        dims = 1 if head == "Conv1d" else 2
        return ["conv", int(g[0]), int(g[1]), _sizes_of(g[2], dims),
                _sizes_of(g[3], dims) if g[3] else [1] * dims, g[4] is not None,
                _sizes_of(g[5], dims) if g[5] else None]

    def fill_size(self, layer, shape, fill):
        size = layer[6] if layer[6] is not None else (shape[1] if shape else None)
        if size is None:
            return layer, shape
        return layer[:6] + [size], (layer[2], [(s - k) // t + 1 for s, k, t in
                                               zip(size, layer[3], layer[4])])


def _sizes_of(text: str, dims: int) -> list[int]:
    values = [int(v) for v in text.split("x")]
    return values * dims if len(values) == 1 else values


def _gather(A: dict, index: list[int], rows: int, cols: int, p: int) -> dict:
    """The matrix rows x cols whose entry n is entry index[n] of A (flat)."""
    out = {}
    for m, y in A.items():
        e = y.entries()
        out[m] = nmod_mat(rows, cols, [e[i] for i in index], p)
    return out


def _scatter(A: dict, index: list[int], rows: int, cols: int, p: int) -> dict:
    """The adjoint of :func:`_gather`: entry n of A added at index[n]."""
    out = {}
    for m, y in A.items():
        acc = [0] * (rows * cols)
        for i, v in zip(index, y.entries()):
            acc[i] += int(v)
        out[m] = nmod_mat(rows, cols, acc, p)
    return out


CONV = Conv()
