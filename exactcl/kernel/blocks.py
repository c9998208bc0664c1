"""The evaluator of block programs: residual connections, convolutions and
attention, besides dense layers and ReLUs; values at a point mod p, never
expanded (and an exact expansion for small programs).

A block program is a list of layers in the canonical form certificates
store (:mod:`exactcl.kernel.evaluator` evaluates the plain chains of dense layers
and ReLUs, faster; this module evaluates chains too, and tests check that
both agree)::

    ["linear", n_in, n_out, bias]       a dense layer W x (+ b)
    ["relu"]                            a ReLU on a fixed activation pattern
    ["conv", c_in, c_out, kernel, stride, bias, size]
                                        a convolution with valid padding;
                                        kernel, stride, size: lists of 1 or 2 ints
    ["residual", [layers]]              x + block(x)
    ["attention", kind, d, heads, head, tokens]
                                        a whole attention model (alone)

**Activations** are matrices: a vector n x 1 after a dense layer, channels
x positions after a convolution (2-D positions row by row). A dense layer
after a convolution reads the activation flattened channel by channel.

**Parameters.** The parametrised layers are numbered l = 1, 2, ... in the
order they appear (inside residual blocks too). A dense layer has
``W{l}_{i}_{j}`` (row i, column j) and a bias ``b{l}_{i}``; a convolution
has the kernel ``K{l}_{o}_{i}_{t}`` (output channel o, input channel i,
offset t; ``K{l}_{o}_{i}_{r}_{c}`` in 2-D) and a bias ``b{l}_{o}``, one
per output channel, shared by the positions. Parameters are ordered: every
weight (row by row) layer after layer, then every bias layer after layer.
Attention head h has Q, K, V, O of shape head x d: ``Q{h}_{a}_{b}`` ...,
head after head (Q, K, V, O within a head).

**phi** is the list of coefficients of the output as a polynomial in the
input and in one indicator per ReLU unit (a convolution's ReLU has one per
channel and position), as for chains. A probe (input x, indicators sigma,
outputs u) gives F(theta) = u . net(x; sigma) = sum_c r_c phi_c, so grad F
is a constant combination of generators: it lies in W.

**Attention** (Marcotte, Peyre, Gribonval, ICML 2025) with heads h, model
dimension d, head dimension k, on N tokens X (N x d), A_h = Q_h^T K_h and
B_h = V_h^T O_h (d x d):

* ``factors``: phi = (A_h, B_h)_h, the factorisation of attention;
* ``linear``: softmax-free attention, g(X) = sum_h X A_h X^T X B_h,
  polynomial end to end; phi its coefficients in X;
* ``softmax``: g(X) = sum_h softmax(X A_h X^T) X B_h. Its Taylor
  coefficients in X are polynomials in theta whose gradients lie in W_g
  (limits of combinations of gradients at data): phi is the coefficients
  of those of orders 1 and 3, (1/N) J X sum_h B_h and
  (1/N) sum_h X A_h X^T (I - J/N) X B_h (J the all-ones N x N). Ranks of
  their words are lower bounds on dim Lie(W_g); the model depends on theta
  only through (A_h, B_h), so the laws of ``factors`` are laws of it.

Probes of attention: x holds X (``factors``: the matrices P_h), u holds U
(``softmax``: U_1 then U_3; ``factors``: R_h) and F = <U, g(X)>
(``factors``: sum_h <P_h, A_h> + <R_h, B_h>; ``softmax``: N <U_1, order 1>
+ N^2 <U_3, order 3>).

This module is part of the verifier's trusted base: it imports only flint
and :mod:`exactcl.kernel.evaluator`.

>>> lay = BlockLayout([["residual", [["linear", 2, 2, False]]]])
>>> lay.D, lay.parameters[:2]
(4, ('W1_0_0', 'W1_0_1'))
>>> Words(lay, [Probe((1, 0), (), (), (1, 0))], {}, [1, 2, 3, 4], 101).value(0)
{0: 1}
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from math import log10, prod

from flint import nmod_mat

from . import evaluator
from .evaluator import (
    PROBE_BITS,
    Probe,
    _add,
    _coefficient,
    _mul,
    _nonzeros,
    _shift,
    _transpose,
    active_neurons,
    check_linear,
)

__all__ = ["ATTENTION_KINDS", "MAX_ACTIVATIONS", "MAX_LAYERS", "MAX_NESTING", "MAX_PATCH_ENTRIES",
           "MAX_POSITIONS", "MAX_TOKENS", "BlockLayout", "Words", "check_blocks", "count_layers",
           "count_text", "expand", "is_block_program", "random_probe", "random_probe_mod",
           "size_problem"]

ATTENTION_KINDS = ("softmax", "factors", "linear")
#: Residual blocks nest at most this deep.
MAX_NESTING = 8
# Sizes of a program, checked from its numbers alone (size_problem) before a
# layout is built; the certificate reader (exactcl.kernel.certformat) reads no more.
#: Layers in all, those of residual blocks included: as many as a
#: certificate's program may list.
MAX_LAYERS = 1000
#: Positions of a convolution's input: 64 x 64. On a 2-core machine the count
#: of one 3 x 3 convolution on it takes 7 s, and a ReLU network of two such
#: convolutions did not end within two minutes.
MAX_POSITIONS = 4096
#: Tokens of attention: the evaluator builds N x N matrices for every probe;
#: Attention(2, 1) on 64 tokens counts in 0.2 s.
MAX_TOKENS = 64
#: Entries of the program's input and of every layer's output (ReLUs
#: included), in all, and of the d x d matrices of attention: more than
#: three times the parameters a model may have (exactcl.limits), so that no
#: chain of dense layers is refused by it (its input, outputs and ReLU
#: indicators never exceed three times its parameters).
MAX_ACTIVATIONS = 2**17
#: Entries of the unfolded inputs of every convolution (input channels x
#: kernel entries x output positions), in all: the evaluator holds their
#: index, about 150 MB of Python ints at this size (as many as
#: exactcl.torch.capture lets one convolution unfold).
MAX_PATCH_ENTRIES = 2**22


def count_text(n: int) -> str:
    """An integer for messages: with thousands separators, or its order of
    magnitude when it has more than 18 digits (printing one of more than
    4300 digits is an error in Python).

    >>> count_text(10**10), count_text(10**5000)
    ('10,000,000,000', 'about 10^5000')
    """
    if abs(n) < 10**18:
        return f"{n:,}"
    return f"{'-' if n < 0 else ''}about 10^{int(log10(abs(n)))}"


def count_layers(layers: object, limit: int = MAX_LAYERS) -> int:
    """The layers of a program in canonical form, those of its residual
    blocks included, counted level by level (no recursion) before anything
    else reads them; ValueError beyond ``limit`` layers or MAX_NESTING
    levels of residual blocks.

    >>> count_layers([["linear", 2, 2, False], ["residual", [["relu"], ["relu"]]]])
    4
    >>> count_layers([["relu"]] * 1001)
    Traceback (most recent call last):
    ...
    ValueError: the program has more than 1,000 layers (those of residual blocks included)
    """
    total, level, depth = 0, [layers], 0
    while level:
        inner = []
        for seq in level:
            if not isinstance(seq, (list, tuple)):
                continue
            total += len(seq)
            if total > limit:
                raise ValueError(f"the program has more than {limit:,} layers (those of "
                                 f"residual blocks included)")
            inner += [layer[1] for layer in seq if isinstance(layer, (list, tuple))
                      and len(layer) == 2 and layer[0] == "residual"]
        if inner and depth >= MAX_NESTING:
            raise ValueError(f"residual blocks nest deeper than {MAX_NESTING}")
        level, depth = inner, depth + 1
    return total


def size_problem(layers: Sequence, max_parameters: int) -> str | None:
    """What makes a checked program (:func:`check_blocks`, or a chain of
    :func:`~exactcl.kernel.evaluator.check_layers`) too large to lay out, from its
    numbers alone, or None: more than ``max_parameters`` parameters, or more
    than MAX_LAYERS layers, MAX_POSITIONS positions of a convolution's input,
    MAX_TOKENS tokens, MAX_ACTIVATIONS activations or MAX_PATCH_ENTRIES
    entries of unfolded patches.

    >>> size_problem(check_blocks([["conv", 1, 1, [3, 3], [1, 1], False, [1000, 1000]]]), 10**4)
    'layer 1 (conv) reads an input of 1,000,000 positions; the limit is 4,096'
    >>> size_problem(check_blocks([["linear", 2, 2, False], ["relu"], ["linear", 2, 1, False]]), 6)
    >>> size_problem(check_blocks([["attention", "softmax", 4, 2, 2, 10**6]]), 10**4)
    'the attention has 1,000,000 tokens; the limit is 64'
    """
    if layers[0][0] == "attention":
        _, kind, d, heads, k, tokens = layers[0]
        if tokens > MAX_TOKENS:
            return f"the attention has {count_text(tokens)} tokens; the limit is {MAX_TOKENS}"
        D = 4 * heads * k * d
        if D > max_parameters:
            return (f"the attention has {count_text(D)} parameters (4 x heads x head_dim x d); "
                    f"the limit is {max_parameters:,}")
        entries = 3 * tokens * d + 2 * heads * d * d  # X, U and the d x d A_h, B_h (P_h, R_h)
        if entries > MAX_ACTIVATIONS:
            return (f"the attention has {count_text(entries)} activations (3 x tokens x d, and "
                    f"2 x heads x d x d); the limit is {MAX_ACTIVATIONS:,}")
        return None
    shape = _input_shape(layers)
    totals = {"layers": 0, "parameters": 0, "activations": shape[0] * shape[1], "patches": 0}
    return _sizes(layers, shape[0] * shape[1], "", totals, max_parameters)


def _sizes(layers, entries: int, where: str, totals: dict, max_parameters: int) -> str | None:
    """:func:`size_problem` of a sequence whose input has ``entries`` entries."""
    for n, layer in enumerate(layers, 1):
        kind = layer[0]
        at = f"{where}layer {n} ({kind})"
        totals["layers"] += 1
        if totals["layers"] > MAX_LAYERS:
            return (f"the program has more than {MAX_LAYERS:,} layers (those of residual blocks "
                    f"included); the limit is {MAX_LAYERS:,}")
        if kind == "linear":
            _, n_in, n_out, bias = layer
            totals["parameters"] += n_in * n_out + (n_out if bias else 0)
            entries = n_out
        elif kind == "conv":
            _, c_in, c_out, kernel, stride, bias, size = layer
            if prod(size) > MAX_POSITIONS:
                return (f"{at} reads an input of {count_text(prod(size))} positions; the limit "
                        f"is {MAX_POSITIONS:,}")
            out = prod((s - k) // t + 1 for s, k, t in zip(size, kernel, stride))
            totals["parameters"] += c_in * c_out * prod(kernel) + (c_out if bias else 0)
            totals["patches"] += c_in * prod(kernel) * out
            entries = c_out * out
        elif kind == "residual":
            problem = _sizes(layer[1], entries, f"{at} ", totals, max_parameters)
            if problem is not None:
                return problem
        totals["activations"] += entries
        for what, limit, phrase in (
                ("parameters", max_parameters, "parameters"),
                ("activations", MAX_ACTIVATIONS, "activations (the entries of the input and of "
                                                 "every layer's output)"),
                ("patches", MAX_PATCH_ENTRIES, "entries of unfolded convolution patches (input "
                                               "channels x kernel entries x output positions)")):
            if totals[what] > limit:
                return (f"{at} brings the {phrase} to {count_text(totals[what])}; the limit is "
                        f"{limit:,}")
    return None


def is_block_program(layers: object) -> bool:
    """Whether a canonical layer list uses more than dense layers and ReLUs."""
    return isinstance(layers, (list, tuple)) and any(
        isinstance(layer, (list, tuple)) and layer and layer[0] in ("conv", "residual", "attention")
        for layer in layers)


def _ints(value: object, n: int | None = None) -> bool:
    return (isinstance(value, (list, tuple)) and (n is None or len(value) == n) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value))


def _positive(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def check_blocks(layers: object) -> tuple[tuple, ...]:
    """The canonical block program, or ValueError naming the layer at fault.

    >>> check_blocks([["conv", 1, 2, [5], [1], False, [4]]])
    Traceback (most recent call last):
    ...
    ValueError: layer 1 (conv) has kernel 5 larger than its input (size 4)
    >>> check_blocks([["residual", [["linear", 2, 3, False]]]])
    Traceback (most recent call last):
    ...
    ValueError: layer 1 (residual) must map its input to the same shape: its block takes 2 x 1 and gives 3 x 1
    >>> check_blocks([["residual", [["linear", 2, 2, False]]]])
    (('residual', (('linear', 2, 2, False),)),)
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("a program is a non-empty list of layers")
    if any(isinstance(x, (list, tuple)) and x and x[0] == "attention" for x in layers):
        if len(layers) != 1:
            raise ValueError("an attention layer is a model by itself: the program must have "
                             "no other layer")
        return (_check_attention(layers[0]),)
    out, shape = _check_sequence(layers, None, "", 0)
    last = out[-1][0]
    if last not in ("linear", "conv", "residual"):
        raise ValueError(f"the last layer (layer {len(out)}) must be linear, a convolution or "
                         f"a residual block, not {last}")
    return out


def _check_attention(layer: object) -> tuple:
    if (not isinstance(layer, (list, tuple)) or len(layer) != 6 or layer[1] not in ATTENTION_KINDS
            or not all(_positive(v) for v in layer[2:])):
        raise ValueError(f"layer 1 (attention) must be ['attention', kind, d, heads, head, "
                         f"tokens] with kind one of {', '.join(ATTENTION_KINDS)} and positive "
                         f"int sizes, not {list(layer) if isinstance(layer, (list, tuple)) else layer!r}")
    return ("attention",) + tuple(layer[1:])


def _check_sequence(layers, shape, where: str, depth: int):
    """(canonical layers, output shape) of a sequence whose input has ``shape``
    ((rows, cols, spatial) or None for the program's input)."""
    if depth > MAX_NESTING:
        raise ValueError(f"residual blocks nest deeper than {MAX_NESTING}")
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError(f"{where or 'a program'} must be a non-empty list of layers")
    out: list[tuple] = []
    for n, layer in enumerate(layers, 1):
        at = f"{where}layer {n}"
        kind = layer[0] if isinstance(layer, (list, tuple)) and layer else None
        if kind == "linear":
            _, n_in, n_out, bias = check_linear(layer, at)
            if shape is not None and shape[0] * shape[1] != n_in:
                raise ValueError(f"{at} (linear) takes {n_in} inputs but the layer before it "
                                 f"has {shape[0] * shape[1]} outputs")
            shape = (n_out, 1, None)
            out.append(("linear", n_in, n_out, bias))
        elif kind == "relu":
            if len(layer) != 1:
                raise ValueError(f"{at} (relu) takes no sizes, not {list(layer[1:])!r}")
            if not out or out[-1][0] not in ("linear", "conv", "residual"):
                raise ValueError(f"{at} (relu) must follow a linear layer, a convolution or a "
                                 f"residual block")
            out.append(("relu",))
        elif kind == "conv":
            canon, shape = _check_conv(layer, shape, at)
            out.append(canon)
        elif kind == "residual":
            if len(layer) != 2:
                raise ValueError(f"{at} (residual) must be ['residual', [layers]], not "
                                 f"{list(layer)!r}")
            inner, got = _check_sequence(layer[1], shape, f"{at} (residual) ", depth + 1)
            if shape is None:  # the program starts with the block: its input is the block's
                shape = _input_shape(inner)
            if got[:2] != shape[:2]:
                raise ValueError(f"{at} (residual) must map its input to the same shape: its "
                                 f"block takes {shape[0]} x {shape[1]} and gives "
                                 f"{got[0]} x {got[1]}")
            out.append(("residual", inner))
        elif kind == "attention":
            raise ValueError(f"{at} (attention) is a model by itself: it cannot be combined "
                             f"with other layers")
        else:
            raise ValueError(f"{at} must be a linear, relu, conv or residual layer, not "
                             f"{layer!r}")
    return tuple(out), shape


def _input_shape(layers) -> tuple:
    """The input shape (rows, cols, spatial size or None) of a checked sequence."""
    first = layers[0]
    if first[0] == "linear":
        return (first[1], 1, None)
    if first[0] == "conv":
        return (first[1], prod(first[6]), first[6])
    return _input_shape(first[1])


def _check_conv(layer, shape, at: str):
    if (len(layer) != 7 or not _positive(layer[1]) or not _positive(layer[2])
            or not _ints(layer[3]) or len(layer[3]) not in (1, 2) or not _ints(layer[4], len(layer[3]))
            or not isinstance(layer[5], bool) or not _ints(layer[6], len(layer[3]))):
        raise ValueError(f"{at} (conv) must be ['conv', c_in, c_out, kernel, stride, bias, "
                         f"size] with kernel, stride and size lists of 1 or 2 positive ints, "
                         f"not {list(layer)!r}")
    _, c_in, c_out, kernel, stride, bias, size = layer
    for name, values in (("kernel", kernel), ("stride", stride), ("size", size)):
        if min(values) < 1:
            raise ValueError(f"{at} (conv) must have a positive {name}, not "
                             f"{'x'.join(map(str, values))}")
    if any(k > s for k, s in zip(kernel, size)):
        raise ValueError(f"{at} (conv) has kernel {'x'.join(map(str, kernel))} larger than its "
                         f"input (size {'x'.join(map(str, size))})")
    if shape is not None and (shape[2] is None or shape[0] != c_in or tuple(shape[2]) != tuple(size)):
        before = (f"{shape[0]} channels of size {'x'.join(map(str, shape[2]))}"
                  if shape[2] is not None else f"a vector of {shape[0]} entries")
        raise ValueError(f"{at} (conv) takes {c_in} channels of size {'x'.join(map(str, size))} "
                         f"but the layer before it gives {before}")
    out_size = tuple((s - k) // t + 1 for s, k, t in zip(size, kernel, stride))
    return (("conv", c_in, c_out, tuple(kernel), tuple(stride), bias, tuple(size)),
            (c_out, prod(out_size), out_size))


class BlockLayout:
    """Parameters, shapes and probe sizes of a block program.

    ``tensors`` lists, per parameter tensor, (prefix, rows, cols, offset);
    a tensor's entries are its parameters row by row.
    """

    def __init__(self, layers: Sequence) -> None:
        self.layers = check_blocks(layers)
        self.tensors: list[tuple[str, int, int, int]] = []
        self.attention = self.layers[0] if self.layers[0][0] == "attention" else None
        weights: list[tuple[str, int, int, list[str]]] = []
        biases: list[tuple[str, int, int, list[str]]] = []
        if self.attention is not None:
            _, kind, d, heads, k, tokens = self.attention
            for h in range(heads):
                for letter in "QKVO":
                    weights.append((f"{letter}{h}", k, d,
                                    [f"{letter}{h}_{a}_{b}" for a in range(k) for b in range(d)]))
            self.ops = []
            self.relus: list[int] = []
            self.input_shape = (tokens, d)
            self.output_shape = None  # probes of attention size their outputs themselves
        else:
            self.relus = []
            self.ops, shape = self._compile(self.layers, None, weights, biases)
            self.input_shape = self._input
            self.output_shape = tuple(shape[:2])  # a network's; attention has its probes
        self.parameters = tuple(name for group in (weights, biases) for *_, names in group
                                for name in names)
        offset = 0
        for prefix, rows, cols, names in weights + biases:
            self.tensors.append((prefix, rows, cols, offset))
            offset += len(names)
        self.D = offset
        self.has_relu = bool(self.relus)
        self.relu_widths = list(self.relus)

    def _compile(self, layers, shape, weights, biases):
        """Ops of a sequence: ("linear", w, b, flattened input shape or None),
        ("relu", index, size),
        ("conv", w, b, gather, rows, cols), ("residual", ops); tensor indices
        are filled in after the weights (biases come after every weight)."""
        ops = []
        for layer in layers:
            kind = layer[0]
            if kind == "linear":
                _, n_in, n_out, bias = layer
                if shape is None:
                    self._input = (n_in, 1)
                flatten = tuple(shape) if shape is not None and shape[1] != 1 else None
                n = len(weights) + 1
                weights.append((f"W{n}", n_out, n_in,
                                [f"W{n}_{i}_{j}" for i in range(n_out) for j in range(n_in)]))
                b = None
                if bias:
                    b = len(biases)
                    biases.append((f"b{n}", n_out, 1, [f"b{n}_{i}" for i in range(n_out)]))
                ops.append(["linear", len(weights) - 1, b, flatten])
                shape = (n_out, 1)
            elif kind == "relu":
                ops.append(["relu", len(self.relus), shape])
                self.relus.append(shape[0] * shape[1])
            elif kind == "conv":
                _, c_in, c_out, kernel, stride, bias, size = layer
                if shape is None:
                    self._input = (c_in, prod(size))
                n = len(weights) + 1
                offsets = [(t,) for t in range(kernel[0])] if len(kernel) == 1 else [
                    (r, c) for r in range(kernel[0]) for c in range(kernel[1])]
                tag = ["_".join(map(str, t)) for t in offsets]
                weights.append((f"K{n}", c_out, c_in * len(offsets),
                                [f"K{n}_{o}_{i}_{t}" for o in range(c_out) for i in range(c_in)
                                 for t in tag]))
                b = None
                if bias:
                    b = len(biases)
                    biases.append((f"b{n}", c_out, 1, [f"b{n}_{o}" for o in range(c_out)]))
                out_size = [(s - k) // t + 1 for s, k, t in zip(size, kernel, stride)]
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
                ops.append(["conv", len(weights) - 1, b, gather, c_in * len(offsets),
                            len(positions), c_in * P_in, c_in])
                shape = (c_out, len(positions))
            else:
                inner, inner_shape = self._compile(layer[1], shape, weights, biases)
                ops.append(["residual", inner])
                shape = inner_shape if shape is None else shape  # x + block(x): x's shape
        return ops, shape

    # -- sizes -------------------------------------------------------------------------

    def bias_tensor(self, b: int) -> int:
        """Tensor index of bias ``b`` (biases follow every weight)."""
        return len(self.tensors) - self._n_biases + b

    @property
    def _n_biases(self) -> int:
        return sum(1 for prefix, *_ in self.tensors if prefix.startswith("b"))

    def probe_sizes(self) -> tuple[int, list[int], int]:
        """(entries of x, entries per ReLU, entries of u)."""
        if self.attention is not None:
            _, kind, d, heads, k, tokens = self.attention
            if kind == "factors":
                return heads * d * d, [], heads * d * d
            return tokens * d, [], (2 if kind == "softmax" else 1) * tokens * d
        rows, cols = self.input_shape
        out = self.output_shape
        return rows * cols, list(self.relus), out[0] * out[1]

    def probe_degree(self) -> int:
        """Degree of F in the probe's entries."""
        if self.attention is not None:
            return 1 if self.attention[1] == "factors" else 4
        return len(self.relus) + 2

    def phi_degree(self) -> int:
        """Degree of F (of every phi_c) in theta."""
        if self.attention is not None:
            return 2 if self.attention[1] == "factors" else 4
        return _depth(self.ops)

    def phi_terms(self) -> int:
        """The terms of F as a polynomial in theta and the probe, counted
        with multiplicity (the paths, for a network): F with every
        parameter, probe entry and constant replaced by its absolute value
        and evaluated at 1, a bound on the sum of the absolute values of
        F's coefficients and on phi's terms.

        >>> BlockLayout([["linear", 2, 2, False], ["residual", [["linear", 2, 2, False]]]]).phi_terms()
        12
        """
        if self.attention is not None:
            # at ones: A_h = Q^T K has entries k, X^T X and X^T U entries N, X^T |C| X
            # entries 2 N^2 (|C| = N I + J), X^T J U entries N^2
            _, kind, d, heads, k, N = self.attention
            if kind == "factors":
                return heads * 2 * d * d * k
            if kind == "linear":
                return heads * N * N * k * k * d ** 4
            return heads * (N * N * k * d * d + 2 * N ** 3 * k * k * d ** 4)
        return sum(_ones(self.ops, [1] * (self.input_shape[0] * self.input_shape[1]), self))

    components = property(phi_terms, doc="A bound on phi's components (its terms).")

    @property
    def linears(self) -> list[tuple[int, int, bool]]:
        """Dense-equivalent sizes of the matrix products of one pass (for the
        work and memory estimates): (columns, rows, bias) per product."""
        out = []
        if self.attention is not None:
            # per head: the chain's prefix and suffix products and the gradients,
            # each at most a d x d by d x max(d, k, N) product
            _, kind, d, heads, k, N = self.attention
            for _ in range(heads * 12):
                out.append((d * d, max(d, k, N), False))
            return out
        for op in _walk(self.ops):
            if op[0] == "linear":
                _, rows, cols, _ = self.tensors[op[1]]
                out.append((cols, rows, op[2] is not None))
            elif op[0] == "conv":
                _, rows, cols, _ = self.tensors[op[1]]
                out.append((cols, rows * op[5], op[2] is not None))
        return out


def _walk(ops):
    for op in ops:
        yield op
        if op[0] == "residual":
            yield from _walk(op[1])


def _depth(ops) -> int:
    """The largest number of parametrised layers on a path (the degree in theta)."""
    total = 0
    for op in ops:
        if op[0] in ("linear", "conv"):
            total += 1
        elif op[0] == "residual":
            total += _depth(op[1])
    return max(total, 1)


def _ones(ops, a: list[int], lay: BlockLayout) -> list[int]:
    """The forward pass at all ones over the integers (biases add 1)."""
    for op in ops:
        if op[0] == "linear":
            _, rows, cols, _ = lay.tensors[op[1]]
            a = [sum(a) + (op[2] is not None)] * rows
        elif op[0] == "conv":
            _, rows, cols, _ = lay.tensors[op[1]]
            gather, n_pos = op[3], op[5]
            per_pos = [0] * n_pos
            for idx, src in enumerate(gather):
                per_pos[idx % n_pos] += a[src]
            a = [per_pos[q] + (op[2] is not None) for _ in range(rows) for q in range(n_pos)]
        elif op[0] == "residual":
            a = [x + y for x, y in zip(a, _ones(op[1], a, lay))]
    return a


# -- probes -----------------------------------------------------------------------------

def random_probe(layout: BlockLayout, seed: str, k: int) -> Probe:
    """Probe ``k`` of the family named ``seed``: entries from the SHAKE-256
    stream of ``"{seed}/{k}"``, 8 bytes (big-endian) each, in the order x,
    u (each reduced to [1, 2**PROBE_BITS]), then one draw per ReLU after the
    first; every ReLU has one active unit, unit k mod n for the first and
    the draw mod n for the others, after the covering probes of a covering
    family (:func:`exactcl.kernel.evaluator.active_neurons`), as
    :func:`exactcl.kernel.evaluator.random_probe`.

    >>> lay = BlockLayout([["linear", 2, 2, False], ["relu"], ["residual", [["linear", 2, 2, False]]]])
    >>> [random_probe(lay, "demo", k).sigma for k in range(2)]
    [((1, 0),), ((0, 1),)]
    """
    n_x, relus, n_u = layout.probe_sizes()
    count = n_x + n_u + max(len(relus) - 1, 0)
    stream = hashlib.shake_256(f"{seed}/{k}".encode()).digest(8 * count)
    draws = [int.from_bytes(stream[8 * i:8 * i + 8], "big") for i in range(count)]
    values = [d % (1 << PROBE_BITS) + 1 for d in draws[:n_x + n_u]]
    sigma = [tuple(int(i == j) for i in range(width))
             for j, width in zip(active_neurons(relus, seed, k, draws[n_x + n_u:]), relus)]
    return Probe(values[:n_x], (), sigma, values[n_x:])


def random_probe_mod(layout: BlockLayout, prime: int, rng) -> Probe:
    """A probe with every entry (x, every ReLU unit, u) uniform mod ``prime``."""
    n_x, relus, n_u = layout.probe_sizes()

    def draw(n: int) -> tuple[int, ...]:
        return tuple(rng.randrange(prime) for _ in range(n))
    return Probe(draw(n_x), (), [draw(w) for w in relus], draw(n_u))


# -- jets of matrices: {bit mask: nmod_mat} -------------------------------------------

def _reshape(A: dict, rows: int, cols: int, p: int) -> dict:
    return {m: nmod_mat(rows, cols, y.entries(), p) for m, y in A.items()}


def _hadamard(A: dict, mask: list[int], p: int) -> dict:
    out = {}
    for m, y in A.items():
        out[m] = nmod_mat(y.nrows(), y.ncols(), [v * c for v, c in zip(y.entries(), mask)], p)
    return out


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


def _const(rows: int, cols: int, values, p: int) -> dict:
    return {0: nmod_mat(rows, cols, [v % p for v in values], p)}


class Words(evaluator.Words):
    """Values at one point mod p of the fields grad F of ``probes`` and of
    bracket words in them: :class:`exactcl.kernel.evaluator.Words` (its words and
    brackets) on block programs, a field being a list of jets, one per
    parameter tensor."""

    def __init__(self, layout: BlockLayout, probes: Sequence[Probe], brackets, point: Sequence[int],
                 prime: int) -> None:
        if len(point) != layout.D:
            raise ValueError(f"the point has {len(point)} coordinates, the program {layout.D}")
        self.layout, self.probes, self.brackets, self.prime = layout, probes, brackets, prime
        self.point = [_const(rows, cols, point[o:o + rows * cols], prime)
                      for _, rows, cols, o in layout.tensors]
        self._constants: dict[int, tuple] = {}
        self._values: dict[int, list] = {}
        self._bias0 = len(layout.tensors) - layout._n_biases

    # -- one probe -------------------------------------------------------------------

    def _probe_constants(self, node: int) -> tuple:
        got = self._constants.get(node)
        if got is None:
            got = self._constants[node] = self._build_constants(self.probes[node])
        return got

    def _build_constants(self, pr: Probe) -> tuple:
        lay, p = self.layout, self.prime
        if lay.attention is None:
            rows, cols = lay.input_shape
            out = lay.output_shape
            return (_const(rows, cols, pr.x, p), [[v % p for v in s] for s in pr.sigma],
                    _const(out[0], out[1], pr.u, p))
        _, kind, d, heads, k, N = lay.attention
        if kind == "factors":
            P = [_const(d, d, pr.x[h * d * d:(h + 1) * d * d], p) for h in range(heads)]
            R = [_const(d, d, pr.u[h * d * d:(h + 1) * d * d], p) for h in range(heads)]
            return ("factors", P, R)
        X = nmod_mat(N, d, [v % p for v in pr.x], p)
        Xt = X.transpose()
        if kind == "linear":
            U = nmod_mat(N, d, [v % p for v in pr.u], p)
            return ("linear", {0: Xt * U}, {0: Xt * X})
        U1 = nmod_mat(N, d, [v % p for v in pr.u[:N * d]], p)
        U3 = nmod_mat(N, d, [v % p for v in pr.u[N * d:]], p)
        J = nmod_mat(N, N, [1] * (N * N), p)
        C = nmod_mat(N, N, [(N if i == j else 0) - 1 for i in range(N) for j in range(N)], p)
        return ("softmax", {0: Xt * J * U1}, {0: Xt * U3}, {0: Xt * C * X})

    def gradient(self, node: int, point: list) -> list:
        """grad F of probe ``node`` at ``point`` (per-tensor jets)."""
        consts = self._probe_constants(node)
        if self.layout.attention is not None:
            return self._attention_gradient(consts, point)
        x, sigma, u = consts
        grads: list = [None] * len(point)
        out, tape = self._forward(self.layout.ops, x, point, sigma)
        self._backward(self.layout.ops, u, tape, point, sigma, grads)
        return [g if g is not None else {} for g in grads]

    def _forward(self, ops, a, point, sigma):
        p, tape = self.prime, []
        for op in ops:
            kind = op[0]
            if kind == "linear":
                if op[3]:
                    y = next(iter(a.values()))
                    a = _reshape(a, y.nrows() * y.ncols(), 1, p)
                tape.append(a)
                out = _mul(point[op[1]], a)
                if op[2] is not None:
                    out = _add(out, point[self._bias0 + op[2]])
                a = out
            elif kind == "relu":
                tape.append(None)
                a = _hadamard(a, sigma[op[1]], p)
            elif kind == "conv":
                patches = _gather(a, op[3], op[4], op[5], p)
                tape.append(patches)
                out = _mul(point[op[1]], patches)
                if op[2] is not None:
                    out = _add(out, _mul(point[self._bias0 + op[2]],
                                         _const(1, op[5], [1] * op[5], p)))
                a = out
            else:
                inner, inner_tape = self._forward(op[1], a, point, sigma)
                tape.append(inner_tape)
                a = _add(a, inner)
        return a, tape

    def _backward(self, ops, delta, tape, point, sigma, grads) -> dict:
        p = self.prime
        for op, saved in zip(reversed(ops), reversed(tape)):
            kind = op[0]
            if kind == "linear":
                _acc(grads, op[1], _mul(delta, _transpose(saved)))
                if op[2] is not None:
                    _acc(grads, self._bias0 + op[2], delta)
                delta = _mul(_transpose(point[op[1]]), delta)
                if op[3]:
                    delta = _reshape(delta, op[3][0], op[3][1], p)
            elif kind == "relu":
                delta = _hadamard(delta, sigma[op[1]], p)
            elif kind == "conv":
                _acc(grads, op[1], _mul(delta, _transpose(saved)))
                if op[2] is not None:
                    _acc(grads, self._bias0 + op[2], _mul(delta, _const(op[5], 1, [1] * op[5], p)))
                back = _mul(_transpose(point[op[1]]), delta)
                delta = _scatter(back, op[3], op[7], op[6] // op[7], p)
            else:
                delta = _add(delta, self._backward(op[1], delta, saved, point, sigma, grads))
        return delta

    def _attention_gradient(self, consts, point) -> list:
        _, kind, d, heads, k, N = self.layout.attention
        grads: list = [None] * len(point)
        for h in range(heads):
            q, kk, v, o = (4 * h + t for t in range(4))
            if kind == "factors":
                terms = [(consts[1][h], [(q, True), (kk, False)]),
                         (consts[2][h], [(v, True), (o, False)])]
            elif kind == "linear":
                terms = [(consts[1], [(q, True), (kk, False), consts[2], (v, True), (o, False)])]
            else:
                terms = [(consts[1], [(v, True), (o, False)]),
                         (consts[2], [(q, True), (kk, False), consts[3], (v, True), (o, False)])]
            for L, chain in terms:
                _chain_gradient(L, chain, point, grads)
        return [g if g is not None else {} for g in grads]

    # -- words: field, brackets and values as the chain evaluator's, on per-tensor jets

    def value(self, node: int) -> dict[int, int]:
        got = self._values.get(node)
        if got is None:
            got = self._values[node] = self.field(node, self.point, 0)
        return self.flatten(got)

    @staticmethod
    def _move(point: list, fld: list, bit: int) -> list:
        return [_shift(P, F, bit) for P, F in zip(point, fld)]

    @staticmethod
    def _difference(one: list, two: list, e: int) -> list:
        return [_coefficient(_add(x, y, -1), e) for x, y in zip(one, two)]

    def flatten(self, fld: list) -> dict[int, int]:
        out: dict[int, int] = {}
        for (_, _, _, offset), part in zip(self.layout.tensors, fld):
            _nonzeros(part, offset, out)
        return out


def _acc(grads: list, t: int, g: dict) -> None:
    grads[t] = g if grads[t] is None else _add(grads[t], g)


def _chain_gradient(L: dict, chain: list, point: list, grads: list) -> None:
    """Add the gradient of <L, M_1 ... M_n> to ``grads``: M_i a tensor
    (index, transposed) or a constant jet; d/dM_i = (M_1..M_{i-1})^T L (M_{i+1}..M_n)^T."""
    mats = [(_transpose(point[m[0]]) if m[1] else point[m[0]]) if isinstance(m, tuple) else m
            for m in chain]
    n = len(mats)
    prefix = [None] * (n + 1)  # prefix[i] = M_1 .. M_i
    for i in range(n):
        prefix[i + 1] = mats[0] if i == 0 else _mul(prefix[i], mats[i])
    suffix = [None] * (n + 1)  # suffix[i] = M_{i+1} .. M_n
    for i in range(n - 1, -1, -1):
        suffix[i] = mats[i] if i == n - 1 else _mul(mats[i], suffix[i + 1])
    for i, m in enumerate(chain):
        if not isinstance(m, tuple):
            continue
        g = L if i == 0 else _mul(_transpose(prefix[i]), L)
        if i < n - 1:
            g = _mul(g, _transpose(suffix[i + 1]))
        _acc(grads, m[0], _transpose(g) if m[1] else g)


# -- expansion over Q (small programs) ----------------------------------------------------

def expand(layout: BlockLayout, gens: Sequence, one) -> list:
    """phi as polynomials: the coefficients of F in the probe's entries, in
    the order of their probe monomials (sorted), repeated polynomials
    (weight sharing repeats them) and zeros left out. ``gens`` are the
    parameters as polynomials, ``one`` the ring's unit. For small programs
    only (about :meth:`BlockLayout.phi_terms` terms are built).

    >>> from flint import fmpq_mpoly_ctx
    >>> lay = BlockLayout([["conv", 1, 1, [2], [1], False, [3]], ["relu"], ["linear", 2, 1, False]])
    >>> ctx = fmpq_mpoly_ctx.get(lay.parameters, "lex")
    >>> [str(p) for p in expand(lay, ctx.gens(), ctx.from_dict({}) + 1)]
    ['K1_0_0_0*W2_0_0', 'K1_0_0_1*W2_0_0', 'K1_0_0_0*W2_0_1', 'K1_0_0_1*W2_0_1']
    """
    zero = one - one
    n_x, relus, n_u = layout.probe_sizes()
    # probe variables: x_0.., then ReLU units, then u_0..; a value is {monomial: poly}
    u_base = n_x + sum(relus)

    def tensor(t: int) -> list[list]:
        _, rows, cols, o = layout.tensors[t]
        return [[{(): gens[o + i * cols + j]} for j in range(cols)] for i in range(rows)]

    if layout.attention is None:
        rows, cols = layout.input_shape
        a = [{(r * cols + c,): one} for r in range(rows) for c in range(cols)]
        a = _sym_forward(layout, layout.ops, a, tensor, [n_x + sum(relus[:i]) for i in range(len(relus))])
        F: dict = {}
        for k, entry in enumerate(a):
            for mono, v in entry.items():
                _put(F, tuple(sorted(mono + (u_base + k,))), v)
    else:
        F = _sym_attention(layout, tensor, one, u_base)
    out, seen = [], set()
    for mono in sorted(F):
        poly = F[mono]
        if poly == zero:
            continue
        key = str(poly)
        if key in seen:
            continue
        seen.add(key)
        out.append(poly)
    return out


def _put(acc: dict, key, value) -> None:
    acc[key] = acc[key] + value if key in acc else value


def _sym_times(entry: dict, factor: dict) -> dict:
    out: dict = {}
    for m1, v1 in entry.items():
        for m2, v2 in factor.items():
            _put(out, tuple(sorted(m1 + m2)), v1 * v2)
    return out


def _sym_matmul(A: list[list], B: list[list]) -> list[list]:
    n, k, m = len(A), len(B), len(B[0])
    out = []
    for i in range(n):
        row = []
        for j in range(m):
            acc: dict = {}
            for t in range(k):
                if A[i][t] and B[t][j]:
                    for key, v in _sym_times(A[i][t], B[t][j]).items():
                        _put(acc, key, v)
            row.append(acc)
        out.append(row)
    return out


def _sym_forward(layout: BlockLayout, ops, a: list[dict], tensor, relu_base: list[int]) -> list[dict]:
    """The forward pass on a flat activation of {probe monomial: poly}."""
    for op in ops:
        if op[0] == "linear":
            W = tensor(op[1])
            a = [row[0] for row in _sym_matmul(W, [[e] for e in a])]
            if op[2] is not None:
                b = tensor(layout.bias_tensor(op[2]))
                a = [_sum(e, b[i][0]) for i, e in enumerate(a)]
        elif op[0] == "relu":
            base = relu_base[op[1]]
            a = [{tuple(sorted(m + (base + i,))): v for m, v in e.items()} for i, e in enumerate(a)]
        elif op[0] == "conv":
            K = tensor(op[1])
            n_pos = op[5]
            patches = [[a[op[3][r * n_pos + q]] for q in range(n_pos)] for r in range(op[4])]
            Y = _sym_matmul(K, patches)
            if op[2] is not None:
                b = tensor(layout.bias_tensor(op[2]))
                Y = [[_sum(e, b[o][0]) for e in row] for o, row in enumerate(Y)]
            a = [e for row in Y for e in row]
        else:
            inner = _sym_forward(layout, op[1], a, tensor, relu_base)
            a = [_sum(x, y) for x, y in zip(a, inner)]
    return a


def _sum(x: dict, y: dict) -> dict:
    out = dict(x)
    for k, v in y.items():
        _put(out, k, v)
    return out


def _sym_attention(layout: BlockLayout, tensor, one, u_base: int) -> dict:
    _, kind, d, heads, k, N = layout.attention
    F: dict = {}

    def T(M):
        return [list(col) for col in zip(*M)]

    def const(rows, cols, f):
        return [[{(): one * f(i, j)} if f(i, j) else {} for j in range(cols)] for i in range(rows)]

    def inner(L, M):
        for i, row in enumerate(M):
            for j, e in enumerate(row):
                for key, v in _sym_times(e, L[i][j]).items():
                    _put(F, key, v)

    if kind == "factors":
        for h in range(heads):
            Q, K, V, O = (tensor(4 * h + t) for t in range(4))  # noqa: E741 (the paper's names)
            P = [[{(h * d * d + i * d + j,): one} for j in range(d)] for i in range(d)]
            R = [[{(u_base + h * d * d + i * d + j,): one} for j in range(d)] for i in range(d)]
            inner(P, _sym_matmul(T(Q), K))
            inner(R, _sym_matmul(T(V), O))
        return F
    X = [[{(i * d + j,): one} for j in range(d)] for i in range(N)]
    U1 = [[{(u_base + i * d + j,): one} for j in range(d)] for i in range(N)]
    Xt = T(X)
    if kind == "linear":
        L, G = _sym_matmul(Xt, U1), _sym_matmul(Xt, X)
    else:
        U3 = [[{(u_base + N * d + i * d + j,): one} for j in range(d)] for i in range(N)]
        J = const(N, N, lambda i, j: 1)
        C = const(N, N, lambda i, j: (N if i == j else 0) - 1)
        L1 = _sym_matmul(_sym_matmul(Xt, J), U1)
        L, G = _sym_matmul(Xt, U3), _sym_matmul(_sym_matmul(Xt, C), X)
    for h in range(heads):
        Q, K, V, O = (tensor(4 * h + t) for t in range(4))  # noqa: E741 (the paper's names)
        B = _sym_matmul(T(V), O)
        inner(L, _sym_matmul(_sym_matmul(_sym_matmul(T(Q), K), G), B))
        if kind == "softmax":
            inner(L1, B)
    return F
