"""What a program computes: its output at given parameters and input, in
exact rational arithmetic.

The count of a program never needs its output (it works with phi, the
coefficients of the output as a polynomial in the input and in one
indicator per ReLU unit, :mod:`exactcl.kernel.blocks`); this interpreter is how a
translation is checked against the thing it translates. Given the exact
rationals that a torch module's float parameters are, and an input, it
gives the program's output exactly, each ReLU deciding its unit by the
sign of an exact rational, so that a translated module and its program
can be compared on the same inputs (:mod:`exactcl.torch.capture`).

Layers are the canonical layers certificates store (:mod:`exactcl.kernel.blocks`
describes them and how their parameters are named and ordered):

* ``linear``: ``W{l}_{i}_{j}`` and ``b{l}_{i}``; the input is read
  flattened, channel by channel (torch's ``flatten`` order);
* ``relu``: ``max(0, a)`` unit by unit;
* ``conv``: valid cross-correlation, ``out[o, q] = sum_{i, t} K{l}_{o}_{i}_{t}
  a[i, q * stride + t] + b{l}_{o}`` (2-D positions and offsets row by row);
* ``residual``: ``a + block(a)``;
* ``attention``: ``sum_h softmax(s X Q_h^T K_h X^T) X V_h^T O_h`` row by
  row for X of shape tokens x d, where ``s`` is ``logit_scale``: exactcl's
  factorisation is the same for every constant s (the model depends on
  theta through s A_h and B_h, whose gradients span what those of A_h and
  B_h span), and torch scales by 1/sqrt(head_dim). The softmax is not
  rational: this layer's output is given in floating point (every value
  before the exponentials is exact).

>>> from fractions import Fraction as F
>>> layers = [["linear", 2, 2, True], ["relu"], ["linear", 2, 1, False]]
>>> names = ["W1_0_0", "W1_0_1", "W1_1_0", "W1_1_1", "W2_0_0", "W2_0_1", "b1_0", "b1_1"]
>>> values = dict(zip(names, [1, 0, 0, 1, 1, 1, F(-1, 2), 0]))
>>> output(layers, values, [1, -3])
[Fraction(1, 2)]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from math import prod

__all__ = ["output", "relu_patterns"]


class _Run:
    """One evaluation: the parameter values, the running layer number, and
    the activation pattern of every ReLU in the order the evaluator numbers
    them (unit by unit, channel by channel)."""

    def __init__(self, values: Mapping[str, object], logit_scale: float) -> None:
        self.values, self.logit_scale = values, logit_scale
        self.layer = 0
        self.patterns: list[list[int]] = []

    def value(self, name: str):
        try:
            return self.values[name]
        except KeyError:
            raise ValueError(f"no value for the parameter {name!r}") from None


def output(layers: Sequence, values: Mapping[str, object], x: Sequence, *,
           logit_scale: float = 1.0) -> list:
    """The program's output (flattened) at the parameter ``values`` (a map
    from exactcl's parameter names to rationals) and the input ``x``
    (flattened: channel by channel, positions row by row; tokens row by row
    for attention).

    Exact (``Fraction`` or int entries) for every layer but softmax attention,
    whose exponentials give floats.
    """
    return _evaluate(layers, values, x, logit_scale).pop("output")


def relu_patterns(layers: Sequence, values: Mapping[str, object], x: Sequence) -> list[list[int]]:
    """The activation pattern at ``x``: per ReLU (in order, inside residual
    blocks too), 1 for a unit whose input is positive, else 0, in the order
    of the evaluator's indicators (channel by channel, positions row by
    row)."""
    return _evaluate(layers, values, x, 1.0)["patterns"]


def _evaluate(layers, values, x, logit_scale) -> dict:
    run = _Run(values, logit_scale)
    layers = [list(layer) for layer in layers]
    if layers and layers[0][0] == "attention":
        out = _attention(layers[0], run, list(x))
    else:
        out, _ = _sequence(layers, run, list(x), None)
    return {"output": out, "patterns": run.patterns}


def _sequence(layers, run: _Run, a: list, shape):
    """The activation after ``layers``; ``shape`` is (channels, spatial
    size) of a convolution's output, None for a vector."""
    for layer in layers:
        kind = layer[0]
        if kind == "linear":
            a, shape = _linear(layer, run, a), None
        elif kind == "relu":
            run.patterns.append([1 if v > 0 else 0 for v in a])
            a = [v if v > 0 else 0 * v for v in a]
        elif kind == "conv":
            a, shape = _conv(layer, run, a)
        elif kind == "residual":
            inner, _ = _sequence(layer[1], run, a, shape)
            a = [u + v for u, v in zip(a, inner)]
        else:
            raise ValueError(f"no layer {kind!r} inside a network")
    return a, shape


def _linear(layer, run: _Run, a: list) -> list:
    _, n_in, n_out, bias = layer
    run.layer += 1
    n = run.layer
    if len(a) != n_in:
        raise ValueError(f"layer W{n} takes {n_in} inputs, not {len(a)}")
    out = []
    for i in range(n_out):
        s = sum(run.value(f"W{n}_{i}_{j}") * a[j] for j in range(n_in))
        out.append(s + run.value(f"b{n}_{i}") if bias else s)
    return out


def _conv(layer, run: _Run, a: list):
    _, c_in, c_out, kernel, stride, bias, size = layer
    run.layer += 1
    n = run.layer
    kernel, stride, size = list(kernel), list(stride), list(size)
    if len(a) != c_in * prod(size):
        raise ValueError(f"layer K{n} takes {c_in} x {prod(size)} inputs, not {len(a)}")
    out_size = [(s - k) // t + 1 for s, k, t in zip(size, kernel, stride)]
    if len(size) == 1:
        offsets = [(t,) for t in range(kernel[0])]
        positions = [(q,) for q in range(out_size[0])]
    else:
        offsets = [(r, c) for r in range(kernel[0]) for c in range(kernel[1])]
        positions = [(q, r) for q in range(out_size[0]) for r in range(out_size[1])]

    def flat(pos, t) -> int:
        index = 0
        for axis in range(len(size)):
            index = index * size[axis] + pos[axis] * stride[axis] + t[axis]
        return index

    P = prod(size)
    out = []
    for o in range(c_out):
        weights = [(run.value(f"K{n}_{o}_{i}_{'_'.join(map(str, t))}"), i * P, t)
                   for i in range(c_in) for t in offsets]
        b = run.value(f"b{n}_{o}") if bias else 0
        for pos in positions:
            out.append(sum(w * a[base + flat(pos, t)] for w, base, t in weights) + b)
    return out, (c_out, tuple(out_size))


def _attention(layer, run: _Run, x: list) -> list:
    _, kind, d, heads, k, tokens = layer
    if len(x) != tokens * d:
        raise ValueError(f"attention takes {tokens} x {d} inputs, not {len(x)}")
    X = [x[r * d:(r + 1) * d] for r in range(tokens)]

    def project(letter: str, h: int) -> list[list]:  # X M^T, tokens x k
        return [[sum(run.value(f"{letter}{h}_{a}_{b}") * row[b] for b in range(d))
                 for a in range(k)] for row in X]

    exact = kind == "linear"  # softmax-free attention stays rational
    out = [[0 if exact else 0.0] * d for _ in range(tokens)]
    for h in range(heads):
        q, kk, v = project("Q", h), project("K", h), project("V", h)
        logits = [[sum(qr[a] * kr[a] for a in range(k)) for kr in kk] for qr in q]
        if exact:
            weights = logits
        elif kind == "softmax":
            weights = []
            for row in logits:
                scaled = [run.logit_scale * float(w) for w in row]
                top = max(scaled)
                e = [math.exp(w - top) for w in scaled]
                weights.append([w / sum(e) for w in e])
        else:
            raise ValueError("attention of kind 'factors' has no output on tokens")
        cast = (lambda w: w) if exact else float
        head = [[sum(weights[r][s] * cast(v[s][a]) for s in range(tokens)) for a in range(k)]
                for r in range(tokens)]
        for r in range(tokens):
            for c in range(d):
                out[r][c] += sum(head[r][a] * cast(run.value(f"O{h}_{a}_{c}")) for a in range(k))
    return [v for row in out for v in row]
