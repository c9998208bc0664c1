"""The evaluator of model programs: phi, its generator fields and their
bracket words, at a point, modulo a prime, never expanded.

A program is a list of layers (:mod:`exactcl.layers.program` is the user-facing
side) in the canonical form certificates store::

    [["linear", n_in, n_out, bias], ["relu"], ["linear", n_in, n_out, bias], ...]

**Parameters.** Linear layer l (counted from 1) has the weight matrix W_l
(n_out x n_in, entry (i, j) named ``W{l}_{i}_{j}``) and, with ``bias``,
the vector b_l (``b{l}_{i}``). Parameters are ordered: every weight
matrix row by row, layer after layer, then every bias, layer after layer.

**phi.** On a fixed activation pattern a network is a product of its
weight matrices interleaved with 0/1 diagonals; phi is the list of the
coefficients of the output as a polynomial in the input x and in one
indicator per ReLU neuron (the path-lifting when every hidden layer is
followed by a ReLU; the entries of W_L ... W_1 when there is no ReLU). A
*source* is an input x_i or a bias: a bias starts a new source when no
source started since the last ReLU, else it adds to the current one. A
*column* is a source followed by one neuron per ReLU met after it; phi
has one component per output k and column. Components are ordered by
(column, k) when the program has a ReLU, by (k, column) when it has none;
columns in lexicographic order, inputs before biases (the order of the
paths of earlier versions' builders).

**Probes.** A probe chooses a value for every input, every source's bias
multiplier, every ReLU indicator and every output: (x, s, sigma, u). Its
function F(theta) = u . net(x; s, sigma) is sum_c r_c phi_c with r_c the
product of the probe's values along column c and output k, so grad F is a
combination of the generators with constant coefficients: it lies in W.
A one-hot probe gives a generator grad phi_c itself. Probes with random
integer entries (:func:`random_probe`, derived from a seed by SHA-256) are
fixed fields over Q in W, so words in them stay in Lie(W).

**Values.** grad F at a point is computed by one forward and one reverse
pass of matrix products (``nmod_mat``). Brackets are evaluated without
expansion by nested forward mode over truncated multilinear jets: with
a new nilpotent e (e^2 = 0),

    [A, B](P) = coefficient of e in  B(P + e A(P)) - A(P + e B(P)),

the convention [X, Y] = DY . X - DX . Y of :mod:`exactcl.kernel.brackets`. A
point over k nilpotents is a dict from a bit mask to a matrix; a word of
depth k costs 2^O(k) passes of the program, polynomial in the layer sizes.
Every value is the exact value reduced mod p, so ranks are lower bounds.

**On BLAS.** For a program of more than :data:`~exactcl.kernel.densemod.WIDE`
parameters at a prime below 2^26, the matrices are
:class:`~exactcl.kernel.densemod.ModMat` (balanced float64 residues, exact
products by BLAS) and a word's value comes as a float64 row of length D
(:meth:`Words.row`): no entry is converted one by one.

This module is part of the verifier's trusted base: it imports only flint,
numpy and the kernel.

>>> layers = [["linear", 2, 2, False], ["linear", 2, 1, False]]
>>> lay = Layout(layers)
>>> lay.D, lay.parameters, lay.components
(6, ('W1_0_0', 'W1_0_1', 'W1_1_0', 'W1_1_1', 'W2_0_0', 'W2_0_1'), 2)
>>> point, p = [1, 2, 3, 4, 5, 6], 101
>>> Words(lay, [lay.component_probe(0)], {}, point, p).value(0)  # grad of (W2 W1)[0, 0]
{0: 5, 2: 6, 4: 1, 5: 3}
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from math import prod

import numpy as np
from flint import nmod_mat

from . import densemod
from .densemod import ModMat

__all__ = ["Layout", "Probe", "Words", "check_layers", "component_probes", "expand",
           "active_neurons", "identity_residual", "probe_family", "random_probe",
           "random_probe_mod"]

#: Random probe entries are integers in [1, 2**PROBE_BITS].
PROBE_BITS = 32


def check_layers(layers: object) -> tuple[tuple, ...]:
    """The canonical layer list, or ValueError naming the layer at fault.

    >>> check_layers([["linear", 3, 4, False], ["relu"], ["linear", 5, 2, False]])
    Traceback (most recent call last):
    ...
    ValueError: layer 3 (linear) takes 5 inputs but the layer before it has 4 outputs
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("a program is a non-empty list of layers")
    out: list[tuple] = []
    width = None
    for n, layer in enumerate(layers, 1):
        if not isinstance(layer, (list, tuple)) or not layer or layer[0] not in ("linear", "relu"):
            raise ValueError(f"layer {n} must be ['linear', n_in, n_out, bias] or ['relu'], "
                             f"not {layer!r}")
        if layer[0] == "relu":
            if len(layer) != 1:
                raise ValueError(f"layer {n} (relu) takes no sizes, not {list(layer[1:])!r}")
            if not out or out[-1][0] != "linear":
                raise ValueError(f"layer {n} (relu) must follow a linear layer")
            out.append(("relu",))
            continue
        _, n_in, n_out, bias = check_linear(layer, f"layer {n}")
        if width is not None and n_in != width:
            raise ValueError(f"layer {n} (linear) takes {n_in} inputs but the layer before it "
                             f"has {width} outputs")
        width = n_out
        out.append(("linear", n_in, n_out, bias))
    if out[-1][0] != "linear":
        raise ValueError(f"the last layer (layer {len(out)}) must be linear, not relu")
    return tuple(out)



def check_linear(layer, at: str) -> tuple:
    """The canonical dense layer ``("linear", n_in, n_out, bias)``, or
    ValueError naming ``at``, the layer's place."""
    if len(layer) != 4 or not isinstance(layer[3], bool) or any(
            isinstance(x, bool) or not isinstance(x, int) for x in layer[1:3]):
        raise ValueError(f"{at} (linear) must be ['linear', n_in, n_out, bias] with "
                         f"positive int sizes and a bool, not {list(layer)!r}")
    _, n_in, n_out, bias = layer
    if n_in < 1 or n_out < 1:
        raise ValueError(f"{at} (linear) must have positive sizes, not {n_in} inputs and "
                         f"{n_out} outputs")
    return ("linear", n_in, n_out, bias)


class Layout:
    """Parameters, sources, columns and components of a program."""

    def __init__(self, layers: Sequence[Sequence]) -> None:
        self.layers = check_layers(layers)
        self.linears = [(a, b, c) for kind, *rest in self.layers if kind == "linear"
                        for a, b, c in [rest]]
        names, offset = [], 0
        self.w_offset, self.b_offset = [], []
        for li, (n_in, n_out, _) in enumerate(self.linears, 1):
            self.w_offset.append(offset)
            names += [f"W{li}_{i}_{j}" for i in range(n_out) for j in range(n_in)]
            offset += n_in * n_out
        for li, (_, n_out, bias) in enumerate(self.linears, 1):
            self.b_offset.append(offset if bias else None)
            if bias:
                names += [f"b{li}_{i}" for i in range(n_out)]
                offset += n_out
        self.parameters = tuple(names)
        self.D = offset
        self.has_relu = any(kind == "relu" for kind, *_ in self.layers)
        # sources: (kind, index) = (0, input i) or (1, linear layer li opening a bias source);
        # each with the widths of the ReLUs after it (its columns' tags)
        groups: list[tuple[tuple[int, int], list[int]]] = [((0, i), []) for i in
                                                            range(self.linears[0][0])]
        self.source_of: list[int | None] = []  # per linear layer: the source its bias feeds
        active = None
        li = 0
        for kind, *rest in self.layers:
            if kind == "relu":
                width = self.linears[li - 1][1]
                for _, tags in groups:
                    tags.append(width)
                active = None
                continue
            li += 1
            if rest[2]:
                if active is None:
                    groups.append(((1, li), []))
                    active = len(groups) - 1
                self.source_of.append(active)
            else:
                self.source_of.append(None)
        self.sources = [src for src, _ in groups]
        self.tags = [tuple(t) for _, t in groups]
        self.source_columns = [prod(t) for t in self.tags]
        self.columns = sum(self.source_columns)
        self.outputs = self.linears[-1][1]
        self.components = self.columns * self.outputs
        self.relu_widths = []
        li = 0
        for kind, *_ in self.layers:
            if kind == "linear":
                li += 1
            else:
                self.relu_widths.append(self.linears[li - 1][1])

    def column(self, index: int) -> tuple[int, tuple[int, ...]]:
        """(source, neurons) of column ``index``: one neuron per ReLU met
        after the source, in order."""
        for src, size in enumerate(self.source_columns):
            if index < size:
                neurons = []
                for width in reversed(self.tags[src]):
                    index, j = divmod(index, width)
                    neurons.append(j)
                return src, tuple(reversed(neurons))
            index -= size
        raise IndexError(index)

    def component(self, c: int) -> tuple[int, int]:
        """(output k, column) of component ``c``."""
        if not 0 <= c < self.components:
            raise IndexError(c)
        if self.has_relu:
            column, k = divmod(c, self.outputs)
        else:
            k, column = divmod(c, self.columns)
        return k, column

    def component_probe(self, c: int) -> Probe:
        """The one-hot probe whose F is phi_c (its gradient is generator c)."""
        k, column = self.component(c)
        src, neurons = self.column(column)
        kind, i = self.sources[src]
        x = [0] * self.linears[0][0]
        if kind == 0:
            x[i] = 1
        s = [int(j == src) for j in range(len(self.sources))]
        first = len(self.relu_widths) - len(neurons)  # the ReLUs met after the source
        sigma = [[0] * w for w in self.relu_widths]
        for t, j in enumerate(neurons):
            sigma[first + t][j] = 1
        for t in range(first):  # ReLUs before the source do not see it
            sigma[t] = [1] * self.relu_widths[t]
        u = [0] * self.outputs
        u[k] = 1
        return Probe(tuple(x), tuple(s), tuple(map(tuple, sigma)), tuple(u))

    def probe_degree(self) -> int:
        """Degree of r_c in the probe's entries: source, ReLUs, output."""
        return len(self.relu_widths) + 2

    def phi_terms(self) -> int:
        """The number of terms of phi (all components), from the sizes: every
        row of the running product has the terms of all rows before it, and
        one more when the layer has a bias (the paths, for a network).

        >>> Layout([["linear", 2, 3, True], ["relu"], ["linear", 3, 4, False]]).phi_terms()
        36
        """
        rows = [1] * self.linears[0][0]
        for _, n_out, bias in self.linears:
            rows = [sum(rows) + (1 if bias else 0)] * n_out
        return sum(rows)

    def phi_degree(self) -> int:
        """Degree of every phi_c in theta: at most the number of linear layers."""
        return len(self.linears)


class Probe:
    """Values for the inputs x, the sources' bias multipliers s, the ReLU
    indicators sigma (one tuple per ReLU) and the outputs u (integers)."""

    __slots__ = ("x", "s", "sigma", "u")

    def __init__(self, x, s, sigma, u) -> None:
        self.x, self.s, self.sigma, self.u = tuple(x), tuple(s), tuple(map(tuple, sigma)), tuple(u)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Probe) and (self.x, self.s, self.sigma, self.u) == (
            other.x, other.s, other.sigma, other.u)

    def __hash__(self) -> int:
        return hash((self.x, self.s, self.sigma, self.u))

    def __repr__(self) -> str:
        return f"Probe(x={self.x}, s={self.s}, sigma={self.sigma}, u={self.u})"


def component_probes(layout: Layout) -> list[Probe]:
    """The one-hot probes of every component, in order: their fields are the generators."""
    return [layout.component_probe(c) for c in range(layout.components)]


#: Families of probes whose active neurons first cover every pair of
#: neurons of consecutive ReLU layers (:func:`active_neurons`).
COVERING = "exactcl-cover-"


def probe_family(relus: Sequence[int], seed: int) -> str:
    """The probe family of a program with ReLU layers of widths ``relus``:
    :data:`COVERING` with two ReLU layers or more (where random active
    neurons would leave some weights between them unmoved by every probe,
    and the rank short of its target), else ``exactcl-probes-``.

    >>> probe_family([4], 0), probe_family([4, 3], 0)
    ('exactcl-probes-0', 'exactcl-cover-0')
    """
    return f"{COVERING if len(relus) >= 2 else 'exactcl-probes-'}{seed}"


def active_neurons(relus: Sequence[int], family: str, k: int, draws: Sequence[int]) -> list:
    """The active neuron of each ReLU layer in probe ``k``: neuron k mod n
    of the first, ``draws[t - 1]`` mod n of layer t after it. A probe moves
    the weights between layers t and t + 1 only on its active pair, so in a
    :data:`COVERING` family the first n_0 n_1 probes run over every pair of
    layers 0 and 1 (layer 0 fastest), the next n_1 n_2 over every pair of
    layers 1 and 2, and so on (the other layers drawn), before the draws
    take over: every weight is moved by some probe once there are
    sum n_t n_(t+1) of them (fewer than D).

    >>> [active_neurons([2, 2], "exactcl-cover-0", k, [0]) for k in range(5)]
    [[0, 0], [1, 0], [0, 1], [1, 1], [0, 0]]
    """
    out = [k % relus[0]] if relus else []
    out += [d % n for d, n in zip(draws, relus[1:])]
    if family.startswith(COVERING):
        start = 0
        for t in range(len(relus) - 1):
            size = relus[t] * relus[t + 1]
            if k < start + size:
                m = k - start
                out[t], out[t + 1] = m % relus[t], m // relus[t]
                break
            start += size
    return out


def probe_draws(seed: str, k: int, count: int, entries: int) -> tuple[list[int], list[int]]:
    """(entries, draws): the SHAKE-256 stream of ``"{seed}/{k}"`` read as ``count``
    big-endian 8-byte integers, the first ``entries`` reduced to [1, 2**PROBE_BITS],
    the others as they are.

    >>> probe_draws("demo", 0, 3, 2)[0] == [d % 2**32 + 1 for d in probe_draws("demo", 0, 3, 0)[1][:2]]
    True
    """
    stream = hashlib.shake_256(f"{seed}/{k}".encode()).digest(8 * count)
    draws = np.frombuffer(stream, dtype=">u8")
    return (draws[:entries] % (1 << PROBE_BITS) + 1).tolist(), draws[entries:].tolist()


def one_hot(active: Sequence[int], widths: Sequence[int]) -> list[tuple[int, ...]]:
    """The indicators of one active neuron per ReLU layer.

    >>> one_hot([1, 0], [3, 2])
    [(0, 1, 0), (1, 0)]
    """
    return [(0,) * j + (1,) + (0,) * (width - j - 1) for j, width in zip(active, widths)]


def random_probe(layout: Layout, seed: str, k: int) -> Probe:
    """Probe ``k`` of the family named ``seed``. The entries come from the
    SHAKE-256 stream of ``"{seed}/{k}"``, 8 bytes (big-endian) each, in the
    order: inputs, bias multipliers, outputs (each reduced to [1,
    2**PROBE_BITS]), then one draw per ReLU after the first. Every ReLU has
    one active neuron (indicator 1, the others 0), :func:`active_neurons`:
    neuron k mod n for the first ReLU, so that consecutive probes visit its
    neurons in turn, and the draw mod n for the others, after the covering
    probes of a covering family. The probe's field then lives on the
    weights of the paths through its neurons. The same name gives the same
    fields on every machine and for every prime.

    >>> lay = Layout([["linear", 1, 2, False], ["relu"], ["linear", 2, 1, False]])
    >>> [random_probe(lay, "demo", k).sigma for k in range(3)]
    [((1, 0),), ((0, 1),), ((1, 0),)]
    >>> random_probe(lay, "demo", 0) == random_probe(lay, "demo", 0)
    True
    """
    n_x, n_s, n_u = layout.linears[0][0], len(layout.sources), layout.outputs
    relus = layout.relu_widths
    count = n_x + n_s + n_u + max(len(relus) - 1, 0)
    values, draws = probe_draws(seed, k, count, n_x + n_s + n_u)
    sigma = one_hot(active_neurons(relus, seed, k, draws), relus)
    return Probe(values[:n_x], values[n_x:n_x + n_s], sigma, values[n_x + n_s:])


def random_probe_mod(layout: Layout, prime: int, rng) -> Probe:
    """A probe with every entry (inputs, bias multipliers, every ReLU neuron,
    outputs, in that order) uniform mod ``prime`` from ``rng``: the random
    point of the probe's variables for :func:`identity_residual`."""
    def draw(n: int) -> tuple[int, ...]:
        return tuple(rng.randrange(prime) for _ in range(n))
    return Probe(draw(layout.linears[0][0]), draw(len(layout.sources)),
                 [draw(w) for w in layout.relu_widths], draw(layout.outputs))


def identity_residual(grad_f: Mapping[int, int], grad_h: Mapping[int, int], prime: int) -> int:
    """grad F(theta) . grad h(theta) mod p, from their values at theta
    ({parameter: value}), F the function of a probe.

    With every probe entry a variable, grad F . grad h is the polynomial
    sum_c r_c (grad phi_c . grad h) in theta and the probe, the r_c distinct
    monomials: it is zero exactly when h is a law of every generator. Its
    value at a random point and probe (:func:`random_probe_mod`) is the
    Schwartz-Zippel test of that identity (degree
    :meth:`Layout.probe_degree` + :meth:`Layout.phi_degree` - 1 + deg h - 1).

    >>> lay = Layout([["linear", 1, 1, False], ["linear", 1, 1, False]])
    >>> grad_f = Words(lay, [Probe((7,), (), (), (11,))], {}, [3, 5], 101).value(0)
    >>> identity_residual(grad_f, {0: 2 * 3, 1: -2 * 5}, 101)  # h = W1^2 - W2^2, phi = W2 W1
    0
    """
    small, large = (grad_h, grad_f) if len(grad_h) < len(grad_f) else (grad_f, grad_h)
    return sum(x * large.get(v, 0) for v, x in small.items()) % prime  # over the sparser


# -- truncated multilinear jets of matrices: {bit mask: nmod_mat} -------------------------

Jet = dict


def _mul(A: Jet, B: Jet) -> Jet:
    out: Jet = {}
    for ma, xa in A.items():
        for mb, xb in B.items():
            if not ma & mb:
                m, y = ma | mb, xa * xb
                out[m] = out[m] + y if m in out else y
    return out


def _add(A: Jet, B: Jet, sign: int = 1) -> Jet:
    out = dict(A)
    for m, y in B.items():
        y = y if sign == 1 else -y
        out[m] = out[m] + y if m in out else y
    return out


def _scale(A: Jet, c: int) -> Jet:
    return {m: y * c for m, y in A.items()}


def _transpose(A: Jet) -> Jet:
    return {m: y.transpose() for m, y in A.items()}


def _coefficient(A: Jet, bit: int) -> Jet:
    """The coefficient of the nilpotent ``bit``."""
    return {m & ~bit: y for m, y in A.items() if m & bit}


def _shift(A: Jet, B: Jet, bit: int) -> Jet:
    """A + e B, e the nilpotent ``bit`` (not used by B)."""
    return _add(A, {m | bit: y for m, y in B.items()})


class Words:
    """Values at one point mod p of the fields grad F of ``probes`` (node ids
    ``0 .. len(probes) - 1``) and of bracket words in them (``brackets``:
    node -> (left, right), the word [left, right]); memoised.

    A field is held per layer in the parameters' shapes: a list with one
    ``(W, b)`` pair of jets per linear layer (b None without bias). The
    matrices are on BLAS (``blas``) when :func:`on_blas` allows it, unless
    ``blas`` is False.
    """

    def __init__(self, layout: Layout, probes: Sequence[Probe],
                 brackets: Mapping[int, tuple[int, int]], point: Sequence[int],
                 prime: int, blas: bool | None = None) -> None:
        if len(point) != layout.D:
            raise ValueError(f"the point has {len(point)} coordinates, the program {layout.D}")
        self.layout, self.probes, self.brackets, self.prime = layout, probes, brackets, prime
        self.blas = blas is not False and on_blas(layout.D, prime)
        self.point = []
        for li, (n_in, n_out, bias) in enumerate(layout.linears):
            o = layout.w_offset[li]
            W = self._matrix(n_out, n_in, point[o:o + n_in * n_out])
            b = None
            if bias:
                o = layout.b_offset[li]
                b = {0: self._matrix(n_out, 1, point[o:o + n_out])}
            self.point.append(({0: W}, b))
        self._constants: dict[int, tuple] = {}
        self._values: dict[int, list] = {}
        self._transposes: dict[int, nmod_mat | ModMat] = {}

    def _matrix(self, rows: int, cols: int, values) -> nmod_mat | ModMat:
        """A constant matrix: a ModMat on BLAS, else an nmod_mat."""
        if self.blas:
            return ModMat.of(rows, cols, values, self.prime)
        return nmod_mat(rows, cols, [v % self.prime for v in values], self.prime)

    # -- one probe -------------------------------------------------------------------

    def _probe_constants(self, node: int) -> tuple:
        got = self._constants.get(node)
        if got is None:
            p, pr = self.prime, self.probes[node]
            diag = []
            for sig in pr.sigma:
                n = len(sig)
                if self.blas:
                    matrix = ModMat(np.diag(densemod.balanced([v % p for v in sig], p)), p)
                else:
                    matrix = nmod_mat(n, n, p)
                    for i, v in enumerate(sig):
                        if v % p:
                            matrix[i, i] = v % p
                diag.append({0: matrix})
            got = ({0: self._matrix(len(pr.x), 1, pr.x)}, [v % p for v in pr.s], diag,
                   {0: self._matrix(len(pr.u), 1, pr.u)})
            self._constants[node] = got
        return got

    def gradient(self, node: int, point: list) -> list:
        """grad F of probe ``node`` at ``point`` (per-layer jets)."""
        x, s, diag, u = self._probe_constants(node)
        lay = self.layout
        a, inputs, relu, li = x, [], 0, 0
        for kind, *_ in lay.layers:  # forward
            if kind == "relu":
                a = _mul(diag[relu], a)
                relu += 1
                continue
            W, b = point[li]
            inputs.append(a)
            a = _mul(W, a)
            if b is not None:
                a = _add(a, _scale(b, s[lay.source_of[li]]))
            li += 1
        delta, out = u, [None] * len(lay.linears)
        for kind, *_ in reversed(lay.layers):  # reverse
            if kind == "relu":
                relu -= 1
                delta = _mul(diag[relu], delta)
                continue
            li -= 1
            W, b = point[li]
            gb = None if b is None else _scale(delta, s[lay.source_of[li]])
            out[li] = (_mul(delta, _transpose(inputs[li])), gb)
            if li:
                delta = _mul(_transpose(W), delta)
        return out

    # -- words ------------------------------------------------------------------------

    def field(self, node: int, point: list, bits: int) -> list:
        """The word ``node`` at ``point``, a point over the nilpotents
        ``1, 2, ..., 2**(bits - 1)``."""
        if node < len(self.probes):
            return self.gradient(node, point)
        left, right = self.brackets[node]
        return self._bracket(left, right, point, bits, self.field(left, point, bits),
                             self.field(right, point, bits))

    def _bracket(self, left: int, right: int, point: list, bits: int, a: list, b: list) -> list:
        """[left, right] at ``point`` from the operands' fields ``a``, ``b`` there:
        the coefficient of a new nilpotent e in right(P + e a) - left(P + e b)."""
        e = 1 << bits
        one = self.field(right, self._move(point, a, e), bits + 1)
        two = self.field(left, self._move(point, b, e), bits + 1)
        return self._difference(one, two, e)

    # the layout of a field: a (W, b) pair of jets per linear layer (b None without bias)

    @staticmethod
    def _move(point: list, fld: list, bit: int) -> list:
        """point + e field, per layer."""
        return [(_shift(W, dW, bit), None if b is None else _shift(b, db, bit))
                for (W, b), (dW, db) in zip(point, fld)]

    @staticmethod
    def _difference(one: list, two: list, e: int) -> list:
        """The coefficient of the nilpotent ``e`` in one - two, per layer."""
        return [(_coefficient(_add(W1, W2, -1), e),
                 None if b1 is None else _coefficient(_add(b1, b2, -1), e))
                for (W1, b1), (W2, b2) in zip(one, two)]

    def value(self, node: int) -> dict[int, int]:
        """The value of word ``node`` at the point, sparse {parameter: value}."""
        if node < len(self.probes) and node not in self._values:
            return self._probe_sparse(node) if self.blas else self._probe_value(node)
        if self.blas:
            return _sparse(self.row(node), self.prime)
        return self.flatten(self._field_value(node))

    def _field_value(self, node: int) -> list:
        got = self._values.get(node)
        if got is None:
            got = self._values[node] = self.field(node, self.point, 0)
        return got

    def row(self, node: int) -> np.ndarray:
        """The value of word ``node`` on BLAS: a float64 row of its D balanced
        residues (its field is not kept: only the operands of brackets are)."""
        got = self._values.get(node)
        if got is not None:
            return self.flatten_row(got)
        if node < len(self.probes):
            return self._probe_row(node)
        return self.flatten_row(self.field(node, self.point, 0))

    def rows(self, nodes: Sequence[int], out: np.ndarray | None = None) -> np.ndarray:
        """The values of words ``nodes`` on BLAS as the rows of ``out`` (by
        default a new len(nodes) x D array), as :meth:`row` gives each."""
        out = np.empty((len(nodes), self.layout.D)) if out is None else out
        for r, node in enumerate(nodes):
            out[r] = self.row(node)
        return out

    def bracket_value(self, left: int, right: int) -> dict[int, int]:
        """The value of [left, right] at the point, without registering it;
        the operands' values are reused."""
        if self.blas:
            return _sparse(self.bracket_row(left, right), self.prime)
        return self.flatten(self._bracket_field(left, right))

    def bracket_row(self, left: int, right: int) -> np.ndarray:
        """:meth:`bracket_value` on BLAS, as :meth:`row`."""
        return self.flatten_row(self._bracket_field(left, right))

    def _bracket_field(self, left: int, right: int) -> list:
        a, b = self._field_value(left), self._field_value(right)
        return self._bracket(left, right, self.point, 0, a, b)

    def _probe_factors(self, node: int) -> list:
        """grad F of a probe as its factors, one forward and one reverse pass:
        per linear layer li, (li, delta, a, s) with the weights' gradient the
        outer product delta a^T and the bias's s delta (s None without bias);
        delta and a are matrices (nmod_mat, or ModMat on BLAS)."""
        x, s, diag, u = self._probe_constants(node)
        lay = self.layout
        a, inputs, relu, li = x[0], [], 0, 0
        for kind, *_ in lay.layers:
            if kind == "relu":
                a = diag[relu][0] * a
                relu += 1
                continue
            W, b = self.point[li]
            inputs.append(a)
            a = W[0] * a
            if b is not None:
                a = a + b[0] * s[lay.source_of[li]]
            li += 1
        delta, out = u[0], []
        for kind, *_ in reversed(lay.layers):
            if kind == "relu":
                relu -= 1
                delta = diag[relu][0] * delta
                continue
            li -= 1
            sb = s[lay.source_of[li]] if lay.b_offset[li] is not None else None
            out.append((li, delta, inputs[li], sb))
            if li:
                delta = self._transposed(li) * delta
        return out

    def _transposed(self, li: int) -> nmod_mat | ModMat:
        """W_li^T at the point (kept: every probe's reverse pass reads it)."""
        got = self._transposes.get(li)
        if got is None:
            got = self._transposes[li] = self.point[li][0][0].transpose()
        return got

    def _probe_row(self, node: int) -> np.ndarray:
        """:meth:`_probe_value` on BLAS as a row: each layer's gradient an outer
        product (|delta_i a_j| <= h^2 < 2^50: reduced exactly)."""
        lay, p, out = self.layout, self.prime, np.zeros(self.layout.D)
        for li, delta, a, sb in self._probe_factors(node):
            delta, a = delta.a.ravel(), a.a.ravel()
            o = lay.w_offset[li]
            out[o:o + delta.size * a.size] = densemod.reduce(np.outer(delta, a).ravel(), p, True)
            if sb is not None:
                o = lay.b_offset[li]
                out[o:o + delta.size] = densemod.reduce(delta * _balanced(sb, p), p, True)
        return out

    def _probe_sparse(self, node: int) -> dict[int, int]:
        """:meth:`_probe_value` on BLAS: only the nonzero rows and columns of
        each outer product are formed."""
        lay, p = self.layout, self.prime
        index, values = [], []
        for li, delta, a, sb in self._probe_factors(node):
            delta, a = delta.a.ravel(), a.a.ravel()
            rows, cols = np.flatnonzero(delta), np.flatnonzero(a)
            if not rows.size:
                continue
            n_in = a.size
            index.append(np.add.outer(lay.w_offset[li] + rows * n_in, cols).ravel())
            values.append(np.outer(delta[rows], a[cols]).ravel())
            if sb:
                index.append(lay.b_offset[li] + rows)
                values.append(delta[rows] * _balanced(sb, p))
        if not index:
            return {}
        flat, vals = np.concatenate(index), np.mod(np.concatenate(values), p)
        order = np.argsort(flat)
        keep = vals[order] != 0
        return dict(zip(flat[order][keep].tolist(), vals[order][keep].astype(np.int64).tolist()))

    def _probe_value(self, node: int) -> dict[int, int]:
        """grad F of a probe at the point, from its factors: the gradient of
        W_l is the outer product delta_l a_(li-1)^T, so only the nonzero rows
        and columns are read (a probe with one neuron per ReLU is sparse)."""
        lay, p, out = self.layout, self.prime, {}
        for li, delta, a, sb in self._probe_factors(node):
            d = [(i, int(v)) for i, v in enumerate(delta.entries()) if int(v)]
            if d:
                cols = [(j, int(v)) for j, v in enumerate(a.entries()) if int(v)]
                n_in = lay.linears[li][0]
                o = lay.w_offset[li]
                for i, di in d:
                    row = o + i * n_in
                    for j, aj in cols:
                        out[row + j] = di * aj % p
                if sb:
                    for i, di in d:
                        out[lay.b_offset[li] + i] = di * sb % p
        return dict(sorted(out.items()))

    def _parts(self, fld: list):
        """(offset, jet) of each part of a per-layer field."""
        lay = self.layout
        for li, (W, b) in enumerate(fld):
            yield lay.w_offset[li], W
            if b is not None:
                yield lay.b_offset[li], b

    def flatten(self, fld: list) -> dict[int, int]:
        """A per-layer field with no nilpotent as {parameter: nonzero value}."""
        out: dict[int, int] = {}
        for offset, part in self._parts(fld):
            _nonzeros(part, offset, out)
        return out

    def flatten_row(self, fld: list) -> np.ndarray:
        """A per-layer field of ModMat jets with no nilpotent as a float64 row."""
        out = np.zeros(self.layout.D)
        for offset, part in self._parts(fld):
            _put(part, offset, out)
        return out


def on_blas(D: int, prime: int) -> bool:
    """Whether a program of D parameters is evaluated on BLAS at ``prime``:
    wider than :data:`~exactcl.kernel.densemod.WIDE`, the prime below 2^26."""
    return D > densemod.WIDE and prime < densemod.MAX_PRIME


#: Words sampled to judge whether a wide program's values are dense.
DENSE_SAMPLE = 8


def dense_values(words, nodes: Sequence[int]) -> bool:
    """Whether the values of the first :data:`DENSE_SAMPLE` of ``nodes`` (words on
    BLAS) fill a quarter of the parameters or more: such values are ranked as
    rows by one dense elimination, sparser ones block by block (the growth's
    choice and the verifier's)."""
    sample = [words.row(node) for node in nodes[:DENSE_SAMPLE]]
    return sum(np.count_nonzero(r) for r in sample) * 4 >= len(sample) * words.layout.D


def _put(part: Jet, offset: int, out: np.ndarray) -> None:
    """A ModMat jet's constant term, flat, into ``out`` at ``offset``."""
    if 0 in part:
        flat = part[0].a.ravel()
        out[offset:offset + flat.size] = flat


def _balanced(v: int, p: int) -> int:
    """The balanced residue of v in [0, p)."""
    return v - p if 2 * v > p else v


def _sparse(row: np.ndarray, p: int) -> dict[int, int]:
    """A row of balanced residues as {parameter: value in [0, p)} on its nonzeros."""
    index = np.flatnonzero(row)
    return dict(zip(index.tolist(), np.mod(row[index], p).astype(np.int64).tolist()))


def _nonzeros(part: Jet, offset: int, out: dict[int, int]) -> None:
    """The nonzero entries of a jet's constant term, at ``offset`` + their
    flat index, into ``out``."""
    if 0 not in part:
        return
    for t, v in enumerate(part[0].entries()):
        v = int(v)
        if v:
            out[offset + t] = v


def expand(layout: Layout, gens: Sequence, one) -> list:
    """phi as polynomials, components in order: ``gens`` are the parameters
    as polynomials (any ring with + and *), ``one`` its unit. For small
    programs only: the number of terms grows like width^(depth - 1).

    >>> from flint import fmpq_mpoly_ctx
    >>> lay = Layout([["linear", 1, 2, False], ["relu"], ["linear", 2, 1, False]])
    >>> ctx = fmpq_mpoly_ctx.get(lay.parameters, "lex")
    >>> [str(p) for p in expand(lay, ctx.gens(), ctx.from_dict({}) + 1)]
    ['W1_0_0*W2_0_0', 'W1_1_0*W2_0_1']
    """
    rows: list[dict] = [{(src, ()): one} for src in range(layout.linears[0][0])]
    li = 0
    for kind, *_ in layout.layers:
        if kind == "relu":
            rows = [{(src, tags + (j,)): v for (src, tags), v in row.items()}
                    for j, row in enumerate(rows)]
            continue
        n_in, n_out, bias = layout.linears[li]
        o = layout.w_offset[li]
        new = []
        for i in range(n_out):
            row: dict = {}
            for j in range(n_in):
                w = gens[o + i * n_in + j]
                for key, v in rows[j].items():
                    row[key] = row[key] + w * v if key in row else w * v
            if bias:
                key = (layout.source_of[li], ())
                b = gens[layout.b_offset[li] + i]
                row[key] = row[key] + b if key in row else b
            new.append(row)
        rows, li = new, li + 1
    starts = [sum(layout.source_columns[:s]) for s in range(len(layout.sources))]

    def column(src: int, tags: tuple[int, ...]) -> int:
        index = 0
        for width, j in zip(layout.tags[src], tags):
            index = index * width + j
        return starts[src] + index

    zero = one - one
    out = [zero] * layout.components
    for k, row in enumerate(rows):
        for (src, tags), v in row.items():
            c = column(src, tags)
            out[c * layout.outputs + k if layout.has_relu else k * layout.columns + c] = v
    return out
