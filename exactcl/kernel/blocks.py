"""The interpreter of block programs: any registered layer (dense layers,
ReLUs, convolutions, residual blocks, attention alone), values at a point
mod p, never expanded (and an exact expansion for small programs). Each
layer family's rules are in its module of :mod:`exactcl.kernel.layers`;
this module walks a program and asks each layer's rule.

A block program is a list of layers in the canonical form certificates
store (:mod:`exactcl.kernel.evaluator` evaluates the plain chains of dense
layers and ReLUs, faster; this module evaluates chains too, and tests check
that both agree)::

    ["linear", n_in, n_out, bias]       a dense layer W x (+ b)
    ["relu"]                            a ReLU on a fixed activation pattern
    ["conv", c_in, c_out, kernel, stride, bias, size]
                                        a convolution with valid padding;
                                        kernel, stride, size: lists of 1 or 2 ints
    ["conv", ..., size, padding, dilation, groups]
                                        any other (zero padding, a [low, high]
                                        pair per axis: layers.conv)
    ["avgpool", channels, kernel, stride, size]
    ["maxpool", channels, kernel, stride, size]
                                        pooling of windows fixed by the shape
                                        (layers.pooling)
    ["residual", [layers]]              x + block(x)
    ["attention", kind, d, heads, head, tokens]
                                        a whole attention model (alone)

**Parameters.** The parametrised layers are numbered l = 1, 2, ... in the
order they appear (inside residual blocks too); each family names its
tensors (:mod:`~exactcl.kernel.layers.dense`, ...). Parameters are
ordered: every weight (row by row) layer after layer, then every bias
layer after layer.

**phi** is the list of coefficients of the output as a polynomial in the
input and in one indicator per ReLU unit (a convolution's ReLU has one per
channel and position; a max pooling one per channel, window element and
output position), as for chains. A probe (input x, indicators sigma,
outputs u) gives F(theta) = u . net(x; sigma) = sum_c r_c phi_c, so grad F
is a constant combination of generators: it lies in W. A model alone
(attention, :mod:`~exactcl.kernel.layers.attention`) defines its own phi
and probes.

This module is part of the verifier's trusted base: it imports only flint,
numpy and the kernel.

>>> lay = BlockLayout([["residual", [["linear", 2, 2, False]]]])
>>> lay.D, lay.parameters[:2]
(4, ('W1_0_0', 'W1_0_1'))
>>> Words(lay, [Probe((1, 0), (), (), (1, 0))], {}, [1, 2, 3, 4], 101).value(0)
{0: 1}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import batch, evaluator, tokens
from .errors import count_text
from .evaluator import (
    Probe,
    _add,
    _coefficient,
    _shift,
)
from .layers import CHAIN_KINDS, RULES, rule_of, sequence_kinds, smooth
from .layers.attention import ATTENTION_KINDS, MAX_TOKENS
from .layers.base import MAX_ACTIVATIONS, constant, put
from .layers.conv import MAX_PATCH_ENTRIES, MAX_POSITIONS
from .layers.norm import norm_degree, probe_level
from .layers.residual import MAX_NESTING
from .probes import DENSE, random_probe, random_probe_mod  # noqa: F401 (the evaluator API)
from .reading import MAX_LAYERS

__all__ = ["ATTENTION_KINDS", "DENSE", "MAX_ACTIVATIONS", "MAX_LAYERS", "MAX_NESTING",
           "MAX_PATCH_ENTRIES", "MAX_POSITIONS", "MAX_TOKENS", "BlockLayout", "Words",
           "check_blocks", "count_layers", "count_text", "expand", "is_block_program",
           "random_probe", "random_probe_mod", "size_problem"]



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
            inner += [layer[rule.nested] for layer in seq
                      if (rule := rule_of(layer)) is not None and rule.nested is not None
                      and len(layer) == rule.nested + 1]
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
    rule = RULES[layers[0][0]]
    if rule.alone and len(layers) == 1:
        return rule.size_problem(layers[0], max_parameters)
    shape = _input_shape(layers)
    totals = {"layers": 0, "parameters": 0, "activations": shape[0] * shape[1], "patches": 0}
    return _sizes(layers, shape[0] * shape[1], "", totals, max_parameters)


_TOTALS = (("parameters", None, "parameters"),
           ("activations", MAX_ACTIVATIONS, "activations (the entries of the input and of every "
                                            "layer's output)"),
           ("patches", MAX_PATCH_ENTRIES, "entries of unfolded convolution patches and pooling "
                                          "windows (input channels x kernel entries x output "
                                          "positions)"))


def _sizes(layers, entries: int, where: str, totals: dict, max_parameters: int) -> str | None:
    """:func:`size_problem` of a sequence whose input has ``entries`` entries."""
    def nested(inner, inner_entries, inner_where):
        return _sizes(inner, inner_entries, inner_where, totals, max_parameters)

    for n, layer in enumerate(layers, 1):
        at = f"{where}layer {n} ({layer[0]})"
        totals["layers"] += 1
        if totals["layers"] > MAX_LAYERS:
            return (f"the program has more than {MAX_LAYERS:,} layers (those of residual blocks "
                    f"included); the limit is {MAX_LAYERS:,}")
        entries, problem = RULES[layer[0]].sizes(layer, entries, at, totals, nested)
        if problem is not None:
            return problem
        totals["activations"] += entries
        for what, limit, phrase in _TOTALS:
            limit = max_parameters if limit is None else limit
            if totals[what] > limit:
                return (f"{at} brings the {phrase} to {count_text(totals[what])}; the limit is "
                        f"{limit:,}")
    return None


def is_block_program(layers: object) -> bool:
    """Whether a canonical layer list uses more than dense layers and ReLUs."""
    return isinstance(layers, (list, tuple)) and any(
        (rule := rule_of(layer)) is not None and rule.kind not in CHAIN_KINDS for layer in layers)


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
    alone = [rule for layer in layers if (rule := rule_of(layer)) is not None and rule.alone]
    if alone and len(layers) == 1:
        return (alone[0].check_alone(layers[0]),)
    mixing = tokens.find_attention(layers)
    checker = _Checker(tokens.token_count(layers), mixing[0][0] if mixing else None)
    out, shape = checker.sequence(layers, None, "")
    smooth.check_program(out, checker.mixing)
    if checker.tokens is not None:
        norms = [(n, layer) for n, layer in enumerate(out, 1)
                 if layer[0] in ("layer_norm", "rms_norm")]
        width = _input_shape(out)[0] * _input_shape(out)[1]
        if norms and norms[0][1][1] != width:
            n, layer = norms[0]
            raise ValueError(f"layer {n} ({layer[0]}), the first normalisation after the "
                             f"attention, normalises {layer[1]} features but the network's "
                             f"input has {width}: its expansion point is chosen in the input "
                             f"(docs/design.md), so no layer may change the width before it")
    last = out[-1][0]
    if not RULES[last].ends:
        raise ValueError(f"the last layer (layer {len(out)}) must be linear, a convolution or "
                         f"a residual block, not {last}")
    return out


class _Checker:
    """Checks sequences of layers, nested ones (residual blocks) counted;
    ``tokens`` is N in a network with attention (every other layer then acts
    on each token: exactcl.kernel.tokens)."""

    def __init__(self, tokens: int | None = None, mixing: str | None = None) -> None:
        self.depth = -1
        self.tokens = tokens
        self.mixing = mixing  # the kind of the layer that mixes the tokens

    def sequence(self, layers, shape, where: str):
        """(canonical layers, output shape) of a sequence whose input has
        ``shape`` ((rows, cols, spatial) or None for the program's input)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ValueError(f"residual blocks nest deeper than {MAX_NESTING}")
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError(f"{where or 'a program'} must be a non-empty list of layers")
        out: list[tuple] = []
        for n, layer in enumerate(layers, 1):
            at = f"{where}layer {n}"
            self.before = out  # what a layer's check may read of the layers before it
            rule = rule_of(layer)
            if rule is None:
                raise ValueError(f"{at} must be a {sequence_kinds()} layer, not {layer!r}")
            if rule.activation and (not out or not RULES[out[-1][0]].ends):
                raise ValueError(f"{at} ({rule.kind}) must follow a linear layer, a convolution "
                                 f"or a residual block")
            if (self.tokens is not None and not rule.tokenwise and not rule.crosses_tokens
                    and self.mixing not in rule.tokenwise_with):
                also = [kind for kind, r in RULES.items() if self.mixing in r.tokenwise_with]
                raise ValueError(f"{at} ({rule.kind}) cannot act on each token of a network "
                                 f"with attention: linear, relu, leaky_relu"
                                 f"{''.join(', ' + kind for kind in also)} and residual layers "
                                 f"can")
            if rule.final and (where or n != len(layers)):
                raise ValueError(f"{at} ({rule.kind}) must be the last layer of the program")
            canonical, shape = rule.check(layer, shape, at, self)
            out.append(canonical)
        self.depth -= 1
        return tuple(out), shape

    @staticmethod
    def input_shape(layers) -> tuple:
        return _input_shape(layers)


def _input_shape(layers) -> tuple:
    """The input shape (rows, cols, spatial size or None) of a checked sequence."""
    return RULES[layers[0][0]].input_shape(layers[0], _input_shape)


class BlockLayout:
    """Parameters, shapes and probe sizes of a block program.

    ``tensors`` lists, per parameter tensor, (prefix, rows, cols, offset);
    a tensor's entries are its parameters row by row.
    """

    #: An indicator layer multiplies entry by entry (no diagonal matrix):
    #: how :mod:`exactcl.kernel.budget` prices it.
    indicator_diagonals = False

    def __init__(self, layers: Sequence) -> None:
        self.layers = check_blocks(layers)
        self.tensors: list[tuple[str, int, int, int]] = []
        self.relus: list[int] = []
        self._weights: list[tuple[str, int, int, list[str]]] = []
        self._biases: list[tuple[str, int, int, list[str]]] = []
        self.norm: list | None = None  # the normalisation layer's op (layers.norm)
        #: Features of a batch normalisation with eps = 0 (its s0 per probe: tokens.constants).
        self.token_levels = 0
        #: Normalisations after the attention (their ops, in order: layers.postnorm).
        self.token_norms: list = []
        #: Smooth activations (their ops, in order: layers.smooth) and their plan.
        self.smooth: list = []
        self.smooth_plan: dict | None = None
        rule = RULES[self.layers[0][0]]
        self.attention = self.layers[0] if rule.alone and len(self.layers) == 1 else None
        #: N for a network on tokens with an attention layer (exactcl.kernel.tokens).
        self.tokens = None if self.attention is not None else tokens.program_tokens(self.layers)
        self._number = 0
        if self.attention is not None:
            self._alone = rule
            self._weights.extend(rule.tensors(self.attention))
            self.ops = []
            self.input_shape = rule.input_shape_alone(self.attention)
            self.output_shape = None  # a model alone sizes its probes' outputs itself
        else:
            self._alone = None
            self.ops, shape = self.compile_sequence(self.layers, None)
            self.input_shape = tuple(_input_shape(self.layers)[:2])
            self.output_shape = tuple(shape[:2])
            if self.smooth:  # which units are freed, rows summing to 0, x0 = 0
                self.smooth_plan = smooth.analyse(self.layers, self.ops, tokens.token_count(
                    self.layers) is None)
        groups = self._weights + self._biases
        self.parameters = tuple(name for *_, names in groups for name in names)
        offset = 0
        for prefix, rows, cols, names in groups:
            self.tensors.append((prefix, rows, cols, offset))
            offset += len(names)
        self.D = offset
        self.has_relu = bool(self.relus)
        self.relu_widths = list(self.relus)
        del self._weights, self._biases

    # -- compilation (the rules call these) ---------------------------------------------

    def compile_sequence(self, layers, shape):
        """Ops of a sequence and the shape it gives; tensor indices of biases
        are counted among the biases (they follow every weight)."""
        ops = []
        for layer in layers:
            op, shape = RULES[layer[0]].compile(layer, shape, self)
            ops.append(op)
        return ops, shape

    def next_number(self) -> int:
        """The number of the next parametrised layer (1, 2, ...), taken."""
        self._number += 1
        return self._number

    @property
    def numbered(self) -> int:
        """How many parametrised layers have taken a number so far."""
        return self._number

    def add_weight(self, prefix: str, rows: int, cols: int, names: list[str]) -> int:
        self._weights.append((prefix, rows, cols, names))
        return len(self._weights) - 1

    def add_bias(self, prefix: str, rows: int, names: list[str]) -> int:
        self._biases.append((prefix, rows, 1, names))
        return len(self._biases) - 1

    # -- sizes -------------------------------------------------------------------------

    def bias_tensor(self, b: int) -> int:
        """Tensor index of bias ``b`` (biases follow every weight)."""
        return len(self.tensors) - self._n_biases + b

    @property
    def _n_biases(self) -> int:
        return sum(1 for prefix, *_ in self.tensors if prefix.startswith("b"))

    def probe_sizes(self) -> tuple[int, list[int], int]:
        """(entries of x, entries per ReLU, entries of u)."""
        if self._alone is not None:
            return self._alone.probe_sizes(self.attention)
        rows, cols = self.input_shape
        out = self.output_shape
        if self.tokens is not None:  # x0 and X', the indicators, U_0 .. U_3
            return (rows * cols * (1 + self.tokens), list(self.relus),
                    4 * self.tokens * out[0] * out[1])
        return rows * cols, list(self.relus), out[0] * out[1]

    def probe_degree(self) -> int:
        """Degree of F in the probe's entries."""
        if self._alone is not None:
            return self._alone.probe_degree(self.attention)
        if self.tokens is not None:
            return tokens.probe_degree(self)
        # lambdas and levels (docs/design.md, normalisation layers)
        return len(self.relus) + 2 + (norm_degree(self.norm) if self.norm is not None else 0)

    def phi_degree(self) -> int:
        """Degree of F (of every phi_c) in theta."""
        if self._alone is not None:
            return self._alone.phi_degree(self.attention)
        if self.tokens is not None:
            return tokens.phi_degree(self)
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
        if self._alone is not None:
            return self._alone.phi_terms(self.attention)
        if self.tokens is not None:
            return tokens.phi_terms(self)
        return sum(_ones(self.ops, [1] * (self.input_shape[0] * self.input_shape[1]), self))

    components = property(phi_terms, doc="A bound on phi's components (its terms).")

    @property
    def dense_probes(self) -> bool:
        """Whether a layer's rule asks for dense probes (:data:`DENSE`)."""
        return any(RULES[op[0]].dense_probes for op in _walk(self.ops))

    def on_blas(self) -> bool:
        """Whether every layer's rules run on BLAS matrices (:attr:`LayerRule.blas`)."""
        if self.norm is not None or self.attention is not None or self.tokens is not None:
            return False
        return all(RULES[op[0]].blas for op in _walk(self.ops))

    def batched(self) -> bool:
        """Whether its probe fields are evaluated many at once
        (:mod:`exactcl.kernel.batch`): on BLAS, every layer with batched rules
        (:attr:`LayerRule.batched`), a column vector input."""
        return (self.on_blas() and self.input_shape[1] == 1
                and all(RULES[op[0]].batched for op in _walk(self.ops)))

    @property
    def linears(self) -> list[tuple[int, int, bool]]:
        """Dense-equivalent sizes of the matrix products of one pass (for the
        work and memory estimates): (columns, rows, bias) per product."""
        if self._alone is not None:
            return self._alone.products_alone(self.attention)
        if self.tokens is not None:  # per-token layers on every token, over t's nilpotents
            return [size for op in _walk(self.ops) for size in RULES[op[0]].products(op, self)
                    * (1 if RULES[op[0]].crosses_tokens else self.tokens) * tokens.T_PRODUCTS]
        return [size for op in _walk(self.ops) for size in RULES[op[0]].products(op, self)]


def _walk(ops):
    for op in ops:
        yield op
        yield from _walk(RULES[op[0]].children(op))


def _depth(ops) -> int:
    """The largest number of parametrised layers on a path (the degree in theta)."""
    return max(sum(RULES[op[0]].degree(op, _depth) for op in ops), 1)


def _ones(ops, a: list[int], lay: BlockLayout) -> list[int]:
    """The forward pass at all ones over the integers (biases add 1)."""
    def sequence(inner, inner_a):
        return _ones(inner, inner_a, lay)

    for op in ops:
        a = RULES[op[0]].ones(op, a, lay, sequence)
    return a


#: Probe fields evaluated together by :meth:`Words.rows` (a batch of rows of D floats).
PROBE_BATCH = 1024


class Words(evaluator.Words):
    """Values at one point mod p of the fields grad F of ``probes`` and of
    bracket words in them: :class:`exactcl.kernel.evaluator.Words` (its words and
    brackets) on block programs, a field being a list of jets, one per
    parameter tensor."""

    def __init__(self, layout: BlockLayout, probes: Sequence[Probe], brackets, point: Sequence[int],
                 prime: int, blas: bool | None = None) -> None:
        if len(point) != layout.D:
            raise ValueError(f"the point has {len(point)} coordinates, the program {layout.D}")
        self.layout, self.probes, self.brackets, self.prime = layout, probes, brackets, prime
        self.blas = evaluator.on_blas(layout.D, prime) and layout.on_blas() and blas is not False
        self.point = [constant(rows, cols, point[o:o + rows * cols], prime, self.blas)
                      for _, rows, cols, o in layout.tensors]
        self.raw_point, self.levels = point, None
        self._constants: dict[int, tuple] = {}
        self._values: dict[int, list] = {}
        self._bias0 = len(layout.tensors) - layout._n_biases

    def bias_tensor(self, b: int) -> int:
        """Tensor index of bias ``b``."""
        return self._bias0 + b

    # -- one probe -------------------------------------------------------------------

    def _probe_constants(self, node: int) -> tuple:
        got = self._constants.get(node)
        if got is None:
            got = self._constants[node] = self._build_constants(self.probes[node])
        return got

    def _build_constants(self, pr: Probe) -> tuple:
        lay, p = self.layout, self.prime
        if lay.attention is not None:
            return lay._alone.constants(lay.attention, pr, p)
        if lay.tokens is not None:
            return tokens.constants(lay, pr, p, self.raw_point, self)
        rows, cols = lay.input_shape
        out = lay.output_shape
        x, sigma = pr.x, [[v % p for v in s] for s in pr.sigma]
        if lay.norm is not None:  # its level last (docs/design.md, normalisation layers)
            x, level = probe_level(self, pr)
            sigma.append(level)
        return (constant(rows, cols, x, p, self.blas), sigma,
                constant(out[0], out[1], pr.u, p, self.blas))

    def gradient(self, node: int, point: list) -> list:
        """grad F of probe ``node`` at ``point`` (per-tensor jets)."""
        consts = self._probe_constants(node)
        if self.layout.attention is not None:
            return self.layout._alone.gradient(self.layout.attention, consts, point)
        if self.layout.tokens is not None:
            return tokens.gradient(self, consts, point)
        x, sigma, u = consts
        grads: list = [None] * len(point)
        out, tape = self.forward_sequence(self.layout.ops, x, point, sigma)
        self.backward_sequence(self.layout.ops, u, tape, point, sigma, grads)
        return [g if g is not None else {} for g in grads]

    def forward_sequence(self, ops, a, point, sigma):
        """(output, tape) of ``ops`` on the jet ``a``."""
        tape = []
        for op in ops:
            a, saved = RULES[op[0]].forward(self, op, a, point, sigma)
            tape.append(saved)
        return a, tape

    def forward_tokens(self, ops, toks, point, sigma):
        """(output tokens, tape) of ``ops`` on a network's tokens (exactcl.kernel.tokens)."""
        return tokens.forward(self, ops, toks, point, sigma)

    def backward_tokens(self, ops, deltas, tape, point, sigma, grads) -> list:
        return tokens.backward(self, ops, deltas, tape, point, sigma, grads)

    def backward_sequence(self, ops, delta, tape, point, sigma, grads) -> dict:
        """The reverse pass of ``ops``: parameter gradients into ``grads``."""
        for op, saved in zip(reversed(ops), reversed(tape)):
            delta = RULES[op[0]].backward(self, op, delta, saved, point, sigma, grads)
        return delta

    # -- words: field, brackets and values as the chain evaluator's, on per-tensor jets

    def value(self, node: int) -> dict[int, int]:
        if self.blas:
            return evaluator._sparse(self.row(node), self.prime)
        return self.flatten(self._field_value(node))

    def row(self, node: int) -> np.ndarray:
        got = self._values.get(node)
        return self.flatten_row(got if got is not None else self.field(node, self.point, 0))

    def rows(self, nodes: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
        """:meth:`evaluator.Words.rows`; probe fields :data:`PROBE_BATCH` at a
        time by the layers' batched rules (:mod:`exactcl.kernel.batch`) when
        every layer has them, the same residues as :meth:`row`."""
        out = np.empty((len(nodes), self.layout.D)) if out is None else out
        probes = [r for r, node in enumerate(nodes) if node < len(self.probes)] \
            if self.blas and self.layout.batched() else []
        if len(probes) < 2:
            return super().rows(nodes, out)
        for s in range(0, len(probes), PROBE_BATCH):
            part = probes[s:s + PROBE_BATCH]
            if part[-1] - part[0] + 1 == len(part):  # consecutive rows: written in place
                batch.probe_rows(self, nodes[part[0]:part[-1] + 1], out[part[0]:part[-1] + 1])
            else:
                block = np.empty((len(part), self.layout.D))
                batch.probe_rows(self, [nodes[r] for r in part], block)
                out[part] = block
        done = set(probes)
        for r, node in enumerate(nodes):
            if r not in done:
                out[r] = self.row(node)
        return out

    @staticmethod
    def _move(point: list, fld: list, bit: int) -> list:
        return [_shift(P, F, bit) for P, F in zip(point, fld)]

    @staticmethod
    def _difference(one: list, two: list, e: int) -> list:
        return [_coefficient(_add(x, y, -1), e) for x, y in zip(one, two)]

    def _parts(self, fld: list):
        return ((offset, part) for (_, _, _, offset), part in zip(self.layout.tensors, fld))


# -- expansion over Q (small programs) ----------------------------------------------------

class _Expansion:
    """What the rules' exact expansion reads: the layout, the parameters
    as matrices of {(): poly}, and the first probe variable of each ReLU."""

    def __init__(self, layout: BlockLayout, gens: Sequence, relu_base: list[int]) -> None:
        self.layout, self.gens, self.relu_base = layout, gens, relu_base

    def tensor(self, t: int) -> list[list]:
        _, rows, cols, o = self.layout.tensors[t]
        return [[{(): self.gens[o + i * cols + j]} for j in range(cols)] for i in range(rows)]

    def forward(self, ops, a: list[dict]) -> list[dict]:
        for op in ops:
            a = RULES[op[0]].expand(op, a, self)
        return a


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
    if layout.tokens is not None:
        raise ValueError("a network with attention is counted by evaluation only: its phi is "
                         "not expanded")
    zero = one - one
    n_x, relus, n_u = layout.probe_sizes()
    # probe variables: x_0.., then ReLU units, then u_0..; a value is {monomial: poly}
    u_base = n_x + sum(relus)
    context = _Expansion(layout, gens, [n_x + sum(relus[:i]) for i in range(len(relus))])
    if layout.attention is None:
        rows, cols = layout.input_shape
        a = context.forward(layout.ops, [{(r * cols + c,): one} for r in range(rows)
                                         for c in range(cols)])
        F: dict = {}
        for k, entry in enumerate(a):
            for mono, v in entry.items():
                put(F, tuple(sorted(mono + (u_base + k,))), v)
    else:
        F = layout._alone.expand_alone(layout.attention, context.tensor, one, u_base)
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
