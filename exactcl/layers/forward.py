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
describes them and how their parameters are named and ordered), each
computed by the forward rule of its layer type, found by its kind in
:mod:`exactcl.layers.registry`; a layer that is a model by itself
(attention) is the whole program. Every rule is exact but softmax
attention's, whose exponentials give floats (its logits, exact, scaled by
``logit_scale``).

>>> from fractions import Fraction as F
>>> layers = [["linear", 2, 2, True], ["relu"], ["linear", 2, 1, False]]
>>> names = ["W1_0_0", "W1_0_1", "W1_1_0", "W1_1_1", "W2_0_0", "W2_0_1", "b1_0", "b1_1"]
>>> values = dict(zip(names, [1, 0, 0, 1, 1, 1, F(-1, 2), 0]))
>>> output(layers, values, [1, -3])
[Fraction(1, 2)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..kernel.tokens import token_count
from .base import ALONE, BLOCK
from .registry import layer_type

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

    def sequence(self, layers, a: list, shape):
        """The activation after ``layers``, each by its type's forward rule;
        ``shape`` is (channels, spatial size) of a convolution's output, None
        for a vector."""
        for layer in layers:
            rule = layer_type(layer[0])
            if rule is None or rule.role == ALONE:
                raise ValueError(f"no layer {layer[0]!r} inside a network")
            a, shape = rule.forward(layer, self, a, shape)
        return a, shape


def _tokens_sequence(run: _Run, layers, tokens: list) -> list:
    """A network with attention on its tokens: the attention on all of them,
    every other layer on each token by its own rule (a residual block
    recursing)."""
    for layer in layers:
        rule = layer_type(layer[0])
        if rule is None:
            raise ValueError(f"no layer {layer[0]!r} inside a network")
        if rule.crosses_tokens:
            tokens = rule.forward_tokens(layer, run, tokens)
        elif rule.role == BLOCK:
            inner = _tokens_sequence(run, rule.inner(layer), tokens)
            tokens = [[u + v for u, v in zip(a, b)] for a, b in zip(tokens, inner)]
        else:
            start, out = run.layer, []
            for a in tokens:
                run.layer = start
                got, _ = rule.forward(layer, run, a, None)
                out.append(got)
            tokens = out
    return tokens


def _attention_tokens(layers) -> int | None:
    """N, the tokens of a network holding an attention layer (not a model by
    itself) or a batch normalisation (the batch's examples), else None."""
    if len(layers) == 1 and getattr(layer_type(layers[0][0]), "role", None) == ALONE:
        return None
    return token_count(layers)


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
    alone = layer_type(layers[0][0]) if layers else None
    N = _attention_tokens(layers)
    if N is not None:  # a network on tokens (x: tokens row by row)
        d = len(x) // N
        out = [v for t in _tokens_sequence(run, layers, [list(x[i * d:(i + 1) * d])
                                                          for i in range(N)]) for v in t]
    elif alone is not None and alone.role == ALONE:  # a model by itself: the whole program
        out, _ = alone.forward(layers[0], run, list(x), None)
    else:
        out, _ = run.sequence(layers, list(x), None)
    return {"output": out, "patterns": run.patterns}
