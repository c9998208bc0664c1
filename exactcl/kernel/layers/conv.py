"""Convolutions with weight sharing, zero padding and dilation. A valid
convolution (no padding, dilation 1, one group) is
``["conv", c_in, c_out, kernel, stride, bias, size]`` (kernel, stride and
the input's size: lists of 1 or 2 ints); any other is
``["conv", c_in, c_out, kernel, stride, bias, size, padding, dilation,
groups]`` (padding a [low, high] pair of zeros added before and after each
axis, dilation the spacing of the kernel's taps on each axis, groups an
int dividing c_in and c_out), and only then: a layer has one canonical
form. The kernel ``K{l}_{o}_{i}_{t}`` (output channel o, input channel
i < c_in / groups of o's group, offset t; ``K{l}_{o}_{i}_{r}_{c}`` in 2-D)
and a bias ``b{l}_{o}`` per output channel are shared by the positions.
The input is channels x positions (2-D positions row by row); the layer
unfolds it into patches (an index gathered once, a padded position
pointing at a zero entry past the input) and multiplies by the kernel
matrix (with groups, the kernel placed on its group's columns, zeros
elsewhere)."""

from __future__ import annotations

import re
from math import prod

from flint import nmod, nmod_mat

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
_PAD = r"(?:0|[1-9][0-9]{0,8})(?::(?:0|[1-9][0-9]{0,8}))?"


def _keys(pad: str, sizes: str) -> str:
    """The keys a convolution other than a valid one adds to its name."""
    return rf"(?:,padding=(same|{pad}))?(?:,dilation=({sizes}))?(?:,groups=({_INT}))?"


_NAMES = {
    "Conv1d": re.compile(rf"({_INT}),({_INT}),({_INT})(?:,stride=({_INT}))?{_keys(_PAD, _INT)}"
                         rf"(,bias)?(?:,length=({_INT}))?"),
    "Conv2d": re.compile(rf"({_INT}),({_INT}),({_SIZES})(?:,stride=({_SIZES}))?"
                         rf"{_keys(rf'{_PAD}(?:x{_PAD})?', _SIZES)}(,bias)?(?:,size=({_SIZES}))?"),
}


def conv_parts(layer) -> tuple:
    """(c_in, c_out, kernel, stride, bias, size, padding, dilation, groups)
    of a canonical convolution of either form, the defaults of a valid one
    filled in (padding a (low, high) pair per axis).

    >>> conv_parts(["conv", 1, 2, [3], [1], False, [8]])
    (1, 2, (3,), (1,), False, (8,), ((0, 0),), (1,), 1)
    >>> conv_parts(["conv", 2, 2, [3], [1], False, [8], [[1, 2]], [2], 2])[6:]
    (((1, 2),), (2,), 2)
    """
    _, c_in, c_out, kernel, stride, bias, size, *rest = layer
    dims = len(kernel)
    padding, dilation, groups = rest if rest else ([(0, 0)] * dims, [1] * dims, 1)
    return (c_in, c_out, tuple(kernel), tuple(stride), bias,
            None if size is None else tuple(size),
            tuple((low, high) for low, high in padding), tuple(dilation), groups)


def out_size(size, kernel, stride, padding=None, dilation=None) -> tuple[int, ...]:
    """Output positions per axis: (size + low + high - dilation (k - 1) - 1)
    // stride + 1 (at least 1 when the dilated kernel fits the padded input).

    >>> out_size([8], [3], [1]), out_size([8], [3], [1], [(1, 1)], [2])
    ((6,), (6,))
    >>> out_size([5, 5], [2, 2], [2, 1])
    (2, 4)
    """
    dims = len(size)
    padding = padding or [(0, 0)] * dims
    dilation = dilation or [1] * dims
    return tuple((s + lo + hi - d * (k - 1) - 1) // t + 1 for s, k, t, (lo, hi), d in
                 zip(size, kernel, stride, padding, dilation))


def same_padding(kernel, dilation) -> tuple[tuple[int, int], ...]:
    """torch's ``padding='same'`` (stride 1): per axis a total of
    dilation (k - 1), low = total // 2 and high the rest.

    >>> same_padding([3, 4], [1, 1]), same_padding([2], [3])
    (((1, 1), (1, 2)), ((1, 2),))
    """
    return tuple((d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2)
                 for k, d in zip(kernel, dilation))


def _text(values) -> str:
    return "x".join(map(str, values))


def _padded(size, padding) -> tuple[int, ...]:
    return tuple(s + lo + hi for s, (lo, hi) in zip(size, padding))


class Conv(LayerRule):
    kind = "conv"
    #: A convolution's activation layers are wider than its weights: probes
    #: with one active unit per layer leave most fields zero (docs/design.md).
    dense_probes = True
    heads = ("Conv1d", "Conv2d")
    ends = True
    tokenwise_with = ("batch_norm_2d",)

    def check(self, layer, shape, at, checker):
        if (len(layer) not in (7, 10) or not positive(layer[1]) or not positive(layer[2])
                or not ints(layer[3]) or len(layer[3]) not in (1, 2)
                or not ints(layer[4], len(layer[3])) or not isinstance(layer[5], bool)
                or not ints(layer[6], len(layer[3]))):
            raise ValueError(f"{at} (conv) must be ['conv', c_in, c_out, kernel, stride, bias, "
                             f"size] with kernel, stride and size lists of 1 or 2 positive ints, "
                             f"not {list(layer)!r}")
        dims = len(layer[3])
        if len(layer) == 10 and (
                not isinstance(layer[7], (list, tuple)) or len(layer[7]) != dims
                or not all(ints(pair, 2) and min(pair) >= 0 for pair in layer[7])
                or not ints(layer[8], dims) or min(layer[8]) < 1 or not positive(layer[9])):
            raise ValueError(f"{at} (conv) must be ['conv', c_in, c_out, kernel, stride, bias, "
                             f"size, padding, dilation, groups] with padding a [low, high] pair "
                             f"of non-negative ints per axis, dilation a list of positive ints "
                             f"and groups a positive int, not {list(layer)!r}")
        c_in, c_out, kernel, stride, bias, size, padding, dilation, groups = conv_parts(layer)
        for name, values in (("kernel", kernel), ("stride", stride), ("size", size)):
            if min(values) < 1:
                raise ValueError(f"{at} (conv) must have a positive {name}, not {_text(values)}")
        extra = len(layer) == 10
        if extra and padding == ((0, 0),) * dims and dilation == (1,) * dims and groups == 1:
            raise ValueError(f"{at} (conv) has no padding, dilation 1 and one group: its form is "
                             f"['conv', c_in, c_out, kernel, stride, bias, size], not "
                             f"{list(layer)!r}")
        if c_in % groups or c_out % groups:
            raise ValueError(f"{at} (conv) has {groups} groups, which must divide its {c_in} "
                             f"input and {c_out} output channels")
        if not extra and any(k > s for k, s in zip(kernel, size)):
            raise ValueError(f"{at} (conv) has kernel {_text(kernel)} larger than its input "
                             f"(size {_text(size)})")
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        if extra and any(w > s for w, s in zip(span, _padded(size, padding))):
            raise ValueError(f"{at} (conv) has kernel {_text(kernel)} with dilation "
                             f"{_text(dilation)}, spanning {_text(span)} positions, larger than "
                             f"its padded input (size {_text(size)}, padded to "
                             f"{_text(_padded(size, padding))})")
        if shape is not None and (shape[2] is None or shape[0] != c_in
                                  or tuple(shape[2]) != tuple(size)):
            before = (f"{shape[0]} channels of size {_text(shape[2])}"
                      if shape[2] is not None else f"a vector of {shape[0]} entries")
            raise ValueError(f"{at} (conv) takes {c_in} channels of size {_text(size)} but the "
                             f"layer before it gives {before}")
        out = out_size(size, kernel, stride, padding, dilation)
        canonical = ("conv", c_in, c_out, kernel, stride, bias, size)
        if extra:
            canonical += (padding, dilation, groups)
        return canonical, (c_out, prod(out), out)

    def input_shape(self, layer, first_shape):
        return (layer[1], prod(layer[6]), layer[6])

    def parameters(self, layer) -> int:
        c_in, c_out, kernel, _, bias, _, _, _, groups = conv_parts(layer)
        return c_in // groups * c_out * prod(kernel) + (c_out if bias else 0)

    @staticmethod
    def _positions(layer) -> tuple[int, str]:
        """The positions of the input the layer reads, padding included, and
        how a message names that input."""
        _, _, _, _, _, size, padding, _, _ = conv_parts(layer)
        return prod(_padded(size, padding)), ("a padded input of" if len(layer) == 10 else
                                              "an input of")

    def sizes(self, layer, entries, at, totals, sequence):
        positions, read = self._positions(layer)
        if positions > MAX_POSITIONS:
            return entries, (f"{at} reads {read} {count_text(positions)} positions; the "
                             f"limit is {MAX_POSITIONS:,}")
        c_in, c_out, kernel, stride, _, size, padding, dilation, _ = conv_parts(layer)
        out = prod(out_size(size, kernel, stride, padding, dilation))
        totals["parameters"] += self.parameters(layer)
        totals["patches"] += c_in * prod(kernel) * out
        return c_out * out, None

    def file_bounds(self, layer, at, totals):
        positions, _ = self._positions(layer)
        if positions > MAX_POSITIONS:
            what = "" if len(layer) == 7 else "padded "
            return (f"{at} (conv) reads {count_text(positions)} {what}positions; a certificate "
                    f"holds at most {MAX_POSITIONS:,}")
        c_in, _, kernel, stride, _, size, padding, dilation, _ = conv_parts(layer)
        totals["patches"] += c_in * prod(kernel) * prod(out_size(size, kernel, stride, padding,
                                                                 dilation))
        if totals["patches"] > MAX_PATCH_ENTRIES:
            return (f"{at} (conv) brings the entries its convolutions unfold to "
                    f"{count_text(totals['patches'])}; a certificate holds at most "
                    f"{MAX_PATCH_ENTRIES:,}")
        return None

    def compile(self, layer, shape, layout):
        c_in, c_out, kernel, stride, bias, size, padding, dilation, groups = conv_parts(layer)
        n = layout.next_number()
        offsets = [(t,) for t in range(kernel[0])] if len(kernel) == 1 else [
            (r, c) for r in range(kernel[0]) for c in range(kernel[1])]
        tag = ["_".join(map(str, t)) for t in offsets]
        c_group = c_in // groups
        w = layout.add_weight(f"K{n}", c_out, c_group * len(offsets),
                              [f"K{n}_{o}_{i}_{t}" for o in range(c_out) for i in range(c_group)
                               for t in tag])
        b = layout.add_bias(f"b{n}", c_out, [f"b{n}_{o}" for o in range(c_out)]) if bias else None
        out = out_size(size, kernel, stride, padding, dilation)
        positions = ([(q,) for q in range(out[0])] if len(size) == 1 else
                     [(q, r) for q in range(out[0]) for r in range(out[1])])
        P_in = prod(size)
        zero = c_in * P_in  # the zero entry past the input: a padded position reads it
        # patches[i * len(offsets) + t, pos] = a[i, pos * stride + t * dilation - low], 0 outside
        gather = []
        for i in range(c_in):
            for t in offsets:
                for pos in positions:
                    flat: int | None = i
                    for axis in range(len(size)):
                        coord = (pos[axis] * stride[axis] + t[axis] * dilation[axis]
                                 - padding[axis][0])
                        if not 0 <= coord < size[axis]:
                            flat = None
                            break
                        flat = flat * size[axis] + coord
                    gather.append(zero if flat is None else flat)
        rows = c_in * len(offsets)
        op = ["conv", w, b, gather, rows, len(positions), c_in * P_in, c_in,
              _group_index(c_out, rows, groups) if groups > 1 else None]
        return op, (c_out, len(positions))

    def forward(self, words, op, a, point, sigma):
        p = words.prime
        patches = _gather(a, op[3], op[4], op[5], p)
        K = point[op[1]] if op[8] is None else _gather(point[op[1]], op[8][0], op[8][2], op[4], p)
        out = _mul(K, patches)
        if op[2] is not None:
            out = _add(out, _mul(point[words.bias_tensor(op[2])],
                                 constant(1, op[5], [1] * op[5], p)))
        return out, (patches, K)

    def backward(self, words, op, delta, saved, point, sigma, grads):
        p = words.prime
        patches, K = saved
        grad = _mul(delta, _transpose(patches))
        if op[8] is not None:  # each kernel entry's place in the full matrix
            grad = _gather(grad, op[8][1], op[8][2], len(op[8][1]) // op[8][2], p)
        accumulate(grads, op[1], grad)
        if op[2] is not None:
            accumulate(grads, words.bias_tensor(op[2]),
                       _mul(delta, constant(op[5], 1, [1] * op[5], p)))
        back = _mul(_transpose(K), delta)
        return _scatter(back, op[3], op[7], op[6] // op[7], p)

    def expand(self, op, a, context):
        K = context.tensor(op[1])
        if op[8] is not None:
            flat = [e for row in K for e in row] + [{}]
            K = [[flat[op[8][0][o * op[4] + r]] for r in range(op[4])] for o in range(op[8][2])]
        n_pos = op[5]
        a = list(a) + [{}]  # the zero entry padded positions read
        patches = [[a[op[3][r * n_pos + q]] for q in range(n_pos)] for r in range(op[4])]
        Y = sym_matmul(K, patches)
        if op[2] is not None:
            b = context.tensor(context.layout.bias_tensor(op[2]))
            Y = [[sym_sum(e, b[o][0]) for e in row] for o, row in enumerate(Y)]
        return [e for row in Y for e in row]

    def ones(self, op, a, layout, sequence):
        rows = layout.tensors[op[1]][1]
        gather, n_pos = op[3], op[5]
        groups = 1 if op[8] is None else op[8][3]
        per_group = op[4] // groups  # patch rows each group's outputs read
        per_pos = [[0] * n_pos for _ in range(groups)]
        a = list(a) + [0]
        for idx, src in enumerate(gather):
            per_pos[idx // n_pos // per_group][idx % n_pos] += a[src]
        return [per_pos[o * groups // rows][q] + (op[2] is not None) for o in range(rows)
                for q in range(n_pos)]

    def degree(self, op, sequence) -> int:
        return 1

    def products(self, op, layout):
        _, rows, cols, _ = layout.tensors[op[1]]
        return [(op[4] if op[8] is not None else cols, rows * op[5], op[2] is not None)]

    def read_name(self, head, inner, block):
        m = _NAMES[head].fullmatch(inner) if inner is not None else None
        if m is None:
            return None
        c_in, c_out, kernel, stride, padding, dilation, groups, bias, size = m.groups()
        dims = 1 if head == "Conv1d" else 2
        kernel = _sizes_of(kernel, dims)
        stride = _sizes_of(stride, dims) if stride else [1] * dims
        dilation = _sizes_of(dilation, dims) if dilation else [1] * dims
        if padding == "same":
            if stride != [1] * dims:
                return None
            pads = [list(pair) for pair in same_padding(kernel, dilation)]
        elif padding:
            pads = [[int(v) for v in (axis.split(":") * 2)[:2]] for axis in padding.split("x")]
            pads = pads * dims if len(pads) == 1 else pads
        else:
            pads = [[0, 0]] * dims
        groups = int(groups) if groups else 1
        layer = ["conv", int(c_in), int(c_out), kernel, stride, bias is not None,
                 _sizes_of(size, dims) if size else None]
        if pads != [[0, 0]] * dims or dilation != [1] * dims or groups != 1:
            layer += [pads, dilation, groups]
        return layer

    def fill_size(self, layer, shape, fill):
        size = layer[6] if layer[6] is not None else (shape[1] if shape else None)
        if size is None:
            return layer, shape
        _, c_out, kernel, stride, _, _, padding, dilation, _ = conv_parts(layer)
        return layer[:6] + [size] + layer[7:], (c_out, list(out_size(size, kernel, stride,
                                                                      padding, dilation)))


def _group_index(c_out: int, cols: int, groups: int) -> tuple:
    """With groups: (where each entry of the full c_out x ``cols`` kernel
    matrix reads the kernel tensor, the zero past its end off the group's
    columns; where each entry of the kernel tensor sits in the full matrix;
    c_out; groups)."""
    per_out, per_cols = c_out // groups, cols // groups
    zero = c_out * per_cols
    full = [o * per_cols + r - (o // per_out) * per_cols if (o // per_out) == r // per_cols
            else zero for o in range(c_out) for r in range(cols)]
    back = [o * cols + (o // per_out) * per_cols + r for o in range(c_out)
            for r in range(per_cols)]
    return full, back, c_out, groups


def _sizes_of(text: str, dims: int) -> list[int]:
    values = [int(v) for v in text.split("x")]
    return values * dims if len(values) == 1 else values


def _gather(A: dict, index: list[int], rows: int, cols: int, p: int) -> dict:
    """The matrix rows x cols whose entry n is entry index[n] of A (flat),
    0 where index[n] is one past A's last entry."""
    out = {}
    for m, y in A.items():
        e = y.entries()
        e.append(0)
        out[m] = nmod_mat(rows, cols, [e[i] for i in index], p)
    return out


def _scatter(A: dict, index: list[int], rows: int, cols: int, p: int) -> dict:
    """The adjoint of :func:`_gather` into a matrix rows x cols: entry n of
    A added at index[n] (dropped where index[n] is the zero past the end)."""
    out = {}
    zero = nmod(0, p)  # sums of residues stay residues: no conversion per entry
    for m, y in A.items():
        acc = [zero] * (rows * cols + 1)
        for i, v in zip(index, y.entries()):
            acc[i] += v
        acc.pop()
        out[m] = nmod_mat(rows, cols, acc, p)
    return out


CONV = Conv()
