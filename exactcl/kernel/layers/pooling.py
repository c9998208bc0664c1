"""Pooling over windows fixed by the shape, valid (no padding, dilation 1,
floor of the output size), on channels x positions:
``["avgpool", channels, kernel, stride, size]`` and
``["maxpool", channels, kernel, stride, size]`` (kernel, stride and the
input's size: lists of 1 or 2 ints, 2-D positions row by row; channels
and size are those of the layer before, which must give channels x
positions: a convolution, or a pooling or an activation after one).

Output unit (c, o) reads the window of K = prod(kernel) positions
``o * stride + t``, t an offset of the kernel (row by row), of channel c.
The layer gathers the windows once (an index, as a convolution its
patches) into the (channels K) x O matrix whose row c K + k holds element
k of every window of channel c, O the output positions, and a
channels x (channels K) matrix adds each channel's K rows.

* **Average pooling** is a fixed linear map per channel, the mean of the
  window: computed mod p with the inverse of K; a prime dividing K is
  refused (the value would not be the reduction of the rational one,
  docs/design.md, rational constants of a layer). No parameter, no
  indicator. An adaptive average pooling whose output size divides the
  input's is the average pooling of kernel = stride = size / output.
* **Max pooling** on a fixed activation pattern keeps one indicator
  s_{c,k,o} per channel, window element and output position, numbered in
  that order (the gathered entries' order): unit (c, o) is
  ``sum_k s_{c,k,o} x_{c, window(o, k)}``. On a region of inputs where the
  max takes element k* of every window, the network is this polynomial at
  s = 1 on k* and 0 on the other elements. The indicators are appended to
  the layout's ReLU indicators (``layout.relus``), so a probe draws them
  as a ReLU's (every one uniform mod p in
  :func:`~exactcl.kernel.blocks.random_probe_mod`).

A program with a pooling layer draws dense probes
(:data:`exactcl.kernel.blocks.DENSE`: every indicator, a ReLU's too, drawn
like an input entry): with one active unit per activation layer, the
unit a ReLU keeps and the window element a max pooling keeps would almost
never meet (docs/design.md, section 4, pooling).
"""

from __future__ import annotations

import re
from math import prod

from flint import fmpq, nmod, nmod_mat

from ..errors import count_text
from ..evaluator import _mul, _transpose
from .base import LayerRule, ints, positive, put
from .conv import MAX_PATCH_ENTRIES, MAX_POSITIONS

_INT = r"[1-9][0-9]{0,8}"
_SIZES = rf"{_INT}(?:x{_INT})?"
_WINDOW = {1: re.compile(rf"({_INT})(?:,stride=({_INT}))?"),
           2: re.compile(rf"({_SIZES})(?:,stride=({_SIZES}))?")}
_ADAPTIVE = {1: re.compile(rf"({_INT})"), 2: re.compile(rf"({_SIZES})")}


def out_size(size, kernel, stride) -> tuple[int, ...]:
    """The output positions per axis: floor((size - kernel) / stride) + 1.

    >>> out_size([6, 5], [2, 2], [2, 2])
    (3, 2)
    """
    return tuple((s - k) // t + 1 for s, k, t in zip(size, kernel, stride))


def window_index(channels: int, kernel, stride, size) -> list[int]:
    """Per channel c, window element k (offset row by row) and output
    position o (row by row), the flat index of the input entry that o reads
    at k (channel c at ``c * prod(size)``): entry ``(c K + k) O + o`` of the
    gathered windows, K = prod(kernel), O the output positions.

    >>> window_index(1, [2], [2], [5])
    [0, 2, 1, 3]
    >>> window_index(2, [2, 2], [1, 1], [2, 3])
    [0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11]
    """
    outs = out_size(size, kernel, stride)
    if len(size) == 1:
        offsets = [(t,) for t in range(kernel[0])]
        positions = [(q,) for q in range(outs[0])]
    else:
        offsets = [(r, c) for r in range(kernel[0]) for c in range(kernel[1])]
        positions = [(q, r) for q in range(outs[0]) for r in range(outs[1])]
    P = prod(size)
    index = []
    for c in range(channels):
        for t in offsets:
            for pos in positions:
                flat = 0
                for axis in range(len(size)):
                    flat = flat * size[axis] + pos[axis] * stride[axis] + t[axis]
                index.append(c * P + flat)
    return index


def _text(values) -> str:
    return "x".join(map(str, values))


def _sizes_of(text: str, dims: int) -> list[int]:
    values = [int(v) for v in text.split("x")]
    return values * dims if len(values) == 1 else values


class Pool(LayerRule):
    """What average and max pooling share: the check, sizes, bounds, the
    gathered windows and the reading in a ``net:`` name."""

    ends = True
    dense_probes = True
    tokenwise_with = ("batch_norm_2d",)
    #: The net: heads of its windowed form, by number of axes.
    window_heads: dict[str, int] = {}

    def check(self, layer, shape, at, checker):
        kind = self.kind
        form = (f"['{kind}', channels, kernel, stride, size] with kernel, stride and size lists "
                f"of 1 or 2 positive ints and channels a positive int")
        if len(layer) != 5:
            raise ValueError(f"{at} ({kind}) must be {form}, not {list(layer)!r}")
        if shape is None or shape[2] is None:
            before = ("the program's input" if shape is None
                      else f"a vector of {shape[0] * shape[1]} entries")
            raise ValueError(f"{at} ({kind}) must follow a layer that gives channels x positions "
                             f"(a convolution, or a pooling or an activation after one), not "
                             f"{before}")
        _, channels, kernel, stride, size = layer
        if (not positive(channels) or not ints(kernel) or len(kernel) not in (1, 2)
                or not ints(stride, len(kernel)) or not ints(size)):
            raise ValueError(f"{at} ({kind}) must be {form}, not {list(layer)!r}")
        if len(size) != len(kernel):
            raise ValueError(f"{at} ({kind}) has a {len(kernel)}-D window but its input has "
                             f"{len(size)}-D positions (size {_text(size)})")
        for name, values in (("kernel", kernel), ("stride", stride), ("size", size)):
            if min(values) < 1:
                raise ValueError(f"{at} ({kind}) must have a positive {name}, not "
                                 f"{_text(values)}")
        if channels != shape[0] or tuple(size) != tuple(shape[2]):
            raise ValueError(f"{at} ({kind}) takes {channels} channels of size {_text(size)} but "
                             f"the layer before it gives {shape[0]} channels of size "
                             f"{_text(shape[2])}")
        if any(k > s for k, s in zip(kernel, size)):
            raise ValueError(f"{at} ({kind}) has window {_text(kernel)} larger than its input "
                             f"(size {_text(size)})")
        outs = out_size(size, kernel, stride)
        return ((kind, channels, tuple(kernel), tuple(stride), tuple(size)),
                (channels, prod(outs), outs))

    def sizes(self, layer, entries, at, totals, sequence):
        _, channels, kernel, stride, size = layer
        if prod(size) > MAX_POSITIONS:
            return entries, (f"{at} reads an input of {count_text(prod(size))} positions; the "
                             f"limit is {MAX_POSITIONS:,}")
        outs = prod(out_size(size, kernel, stride))
        totals["patches"] += channels * outs * prod(kernel)
        return channels * outs, None

    def file_bounds(self, layer, at, totals):
        _, channels, kernel, stride, size = layer
        if prod(size) > MAX_POSITIONS:
            return (f"{at} ({self.kind}) reads {count_text(prod(size))} positions; a certificate "
                    f"holds at most {MAX_POSITIONS:,}")
        totals["patches"] += channels * prod(out_size(size, kernel, stride)) * prod(kernel)
        if totals["patches"] > MAX_PATCH_ENTRIES:
            return (f"{at} ({self.kind}) brings the entries its convolutions and poolings unfold "
                    f"to {count_text(totals['patches'])}; a certificate holds at most "
                    f"{MAX_PATCH_ENTRIES:,}")
        return None

    def ones(self, op, a, layout, sequence):
        w = op[1]
        out = [0] * (w.channels * w.outputs)  # each window element once (1/K <= 1)
        for n, i in enumerate(w.index):
            c, o = divmod(n, w.K * w.outputs)
            out[c * w.outputs + o % w.outputs] += a[i]
        return out

    def products(self, op, layout):
        w = op[1]
        return [(w.channels * w.K, w.channels * w.outputs, False)]

    def read_name(self, head, inner, block):
        dims = self.window_heads.get(head)
        m = _WINDOW[dims].fullmatch(inner) if dims and inner is not None else None
        if m is None:
            return None
        kernel = _sizes_of(m.group(1), dims)
        return [self.kind, None, kernel, _sizes_of(m.group(2), dims) if m.group(2) else kernel,
                None]

    def fill_size(self, layer, shape, fill):
        if shape is None or len(layer) != 5:
            return layer, None
        channels, size = shape
        layer = [layer[0], channels, layer[2], layer[3], list(size)]
        return layer, (channels, list(out_size(size, layer[2], layer[3])))


class Windows:
    """A pooling's windows, compiled: ``index`` gathers the input (channels
    x positions) into the (channels K) x O matrix whose row c K + k holds
    element k of every window of channel c (:func:`window_index`);
    ``back`` is, per input entry, the gathered entry that reads it (-1
    for none) when no entry is read twice (stride >= kernel), else None.

    >>> w = Windows(["maxpool", 1, [2], [2], [5]])
    >>> w.index, w.back, (w.K, w.outputs, w.positions)
    ([0, 2, 1, 3], [0, 2, 1, 3, -1], (2, 2, 5))
    """

    __slots__ = ("K", "back", "channels", "index", "outputs", "positions")

    def __init__(self, layer) -> None:
        _, channels, kernel, stride, size = layer
        self.index = window_index(channels, kernel, stride, size)
        self.channels, self.K = channels, prod(kernel)
        self.outputs, self.positions = prod(out_size(size, kernel, stride)), prod(size)
        back: list[int] | None = [-1] * (channels * self.positions)
        for n, i in enumerate(self.index):
            if back[i] != -1:
                back = None
                break
            back[i] = n
        self.back = back

    def summing(self, value: int, p: int) -> dict:
        """The constant jet of the channels x (channels K) matrix adding the
        K rows of each channel, times ``value``."""
        c, K = self.channels, self.K
        return {0: nmod_mat(c, c * K, [value if j // K == i else 0 for i in range(c)
                                       for j in range(c * K)], p)}

    def gather(self, A: dict, mask: list[int] | None, p: int) -> dict:
        """The gathered windows of each term of the jet A, entry n times
        ``mask[n]`` when a mask is given."""
        out = {}
        for m, y in A.items():
            e = y.entries()
            values = ([e[i] for i in self.index] if mask is None else
                      [e[i] * v for i, v in zip(self.index, mask)])
            out[m] = nmod_mat(self.channels * self.K, self.outputs, values, p)
        return out

    def scatter(self, A: dict, mask: list[int] | None, p: int) -> dict:
        """The adjoint of :meth:`gather`: gathered entry n (times ``mask[n]``)
        added to the input entry it read."""
        out = {}
        for m, y in A.items():
            e = y.entries()
            if self.back is not None:  # each input entry read once at most
                e.append(0)  # back[i] == -1 reads this zero
                values = ([e[n] for n in self.back] if mask is None else
                          [e[n] * mask[n] if n >= 0 else 0 for n in self.back])
            else:
                if mask is not None:
                    e = [v * t for v, t in zip(e, mask)]
                values = [nmod(0, p)] * (self.channels * self.positions)
                for i, v in zip(self.index, e):
                    values[i] += v
            out[m] = nmod_mat(self.channels, self.positions, values, p)
        return out


class AvgPool(Pool):
    """``["avgpool", channels, kernel, stride, size]``: unit (c, o) is the
    mean of its window, (1/K) sum_k x_{window(o, k)}, 1/K mod p the inverse
    of K (a prime dividing K refused). The op is ``["avgpool", windows]``."""

    kind = "avgpool"
    heads = ("AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d")
    window_heads = {"AvgPool1d": 1, "AvgPool2d": 2}
    adaptive_heads = {"AdaptiveAvgPool1d": 1, "AdaptiveAvgPool2d": 2}

    def compile(self, layer, shape, layout):
        w = Windows(layer)
        return ["avgpool", w], (w.channels, w.outputs)

    @staticmethod
    def _mean(words, w: Windows) -> dict:
        p = words.prime
        if w.K % p == 0:
            raise ValueError(f"the prime {p} divides the window size {w.K} of an average pooling")
        return w.summing(pow(w.K, -1, p), p)

    def forward(self, words, op, a, point, sigma):
        w = op[1]
        return _mul(self._mean(words, w), w.gather(a, None, words.prime)), None

    def backward(self, words, op, delta, saved, point, sigma, grads):
        w = op[1]
        return w.scatter(_mul(_transpose(self._mean(words, w)), delta), None, words.prime)

    def expand(self, op, a, context):
        w = op[1]
        mean = fmpq(1, w.K)
        out: list[dict] = [{} for _ in range(w.channels * w.outputs)]
        for n, i in enumerate(w.index):
            c, o = divmod(n, w.K * w.outputs)
            entry = out[c * w.outputs + o % w.outputs]
            for m, v in a[i].items():
                put(entry, m, v * mean)
        return out

    def read_name(self, head, inner, block):
        dims = self.adaptive_heads.get(head)
        if dims is None:
            return super().read_name(head, inner, block)
        m = _ADAPTIVE[dims].fullmatch(inner) if inner is not None else None
        # the windows follow from the input's size: fill_size makes the canonical layer
        return None if m is None else ["avgpool", None, None, None, None,
                                       _sizes_of(m.group(1), dims)]

    def fill_size(self, layer, shape, fill):
        if len(layer) == 6 and shape is not None:  # adaptive: kernel = stride = size / output
            size, outs = shape[1], layer[5]
            if len(size) != len(outs) or any(s % n for s, n in zip(size, outs)):
                return layer, None
            kernel = [s // n for s, n in zip(size, outs)]
            layer = ["avgpool", None, kernel, kernel, None]
        return super().fill_size(layer, shape, fill)


class MaxPool(Pool):
    """``["maxpool", channels, kernel, stride, size]`` on a fixed activation
    pattern: unit (c, o) is sum_k s_{c,k,o} x_{window(o, k)}, one indicator
    s per channel, window element and output position, numbered in that
    order (see the module's notes). The op is ``["maxpool", windows,
    indicator layer]``."""

    kind = "maxpool"
    heads = ("MaxPool1d", "MaxPool2d")
    indicators = True
    window_heads = {"MaxPool1d": 1, "MaxPool2d": 2}

    def compile(self, layer, shape, layout):
        w = Windows(layer)
        op = ["maxpool", w, len(layout.relus)]
        layout.relus.append(len(w.index))
        return op, (w.channels, w.outputs)

    def forward(self, words, op, a, point, sigma):
        w, p = op[1], words.prime
        gathered = w.gather(a, sigma[op[2]], p)
        return _mul(w.summing(1, p), gathered), None

    def backward(self, words, op, delta, saved, point, sigma, grads):
        w, p = op[1], words.prime
        spread = _mul(_transpose(w.summing(1, p)), delta)
        return w.scatter(spread, sigma[op[2]], p)

    def expand(self, op, a, context):
        w = op[1]
        base = context.relu_base[op[2]]
        out: list[dict] = [{} for _ in range(w.channels * w.outputs)]
        for n, i in enumerate(w.index):
            c, o = divmod(n, w.K * w.outputs)
            entry = out[c * w.outputs + o % w.outputs]
            for m, v in a[i].items():
                put(entry, tuple(sorted(m + (base + n,))), v)
        return out


AVG_POOL = AvgPool()
MAX_POOL = MaxPool()
