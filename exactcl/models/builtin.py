"""Built-in models: their parameters, the map phi, the generator fields and
the literature's candidate laws.

Widths are listed from input to output, ``[n_0, n_1, ..., n_L]``; layer l
has the weight matrix ``W_l`` of shape ``n_l x n_{l-1}``, whose entry
(i, j) is the parameter named ``W{l}_{i}_{j}``; hidden biases are named
``b{l}_{i}``. Generator fields are the gradients of the components of phi.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence

from flint import fmpq_mpoly

from ..kernel import evaluator
from ..kernel.errors import InputError, ResourceError, bad_argument, count_text, show_value
from ..kernel.fields import VectorField, gradient
from ..kernel.reading import MAX_LAYERS
from ..kernel.rings import Ring, poly_from_terms, poly_terms, to_rational
from ..limits import (
    MAX_PARAMETERS,
)
from .base import (
    LazyLaws,
    Model,
    _check_build,
    _check_parameters,
    _check_size,
    _gradient_labels,
    quadratic_terms,
)

__all__ = ["Model", "as_model", "from_fields", "from_polynomials", "from_program", "linear",
           "product", "relu", "with_constants"]


def _family_program(family: str, widths: tuple[int, ...]):
    """The program of a built-in family, built when the model is (a product
    or a SymPy model never loads the layers)."""
    from ..layers.program import from_family
    return from_family(family, widths)


def _check_widths(widths: object, minimum_layers: int = 1) -> tuple[int, ...]:
    expected = f"a sequence of at least {minimum_layers + 1} positive ints"
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise bad_argument("widths", expected, widths)
    if len(widths) - 1 > MAX_LAYERS:
        raise ResourceError(f"Argument 'widths' gives {len(widths) - 1:,} layers; the limit is "
                            f"{MAX_LAYERS:,}.")
    out = []
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise InputError(f"Argument 'widths' must be {expected}, not "
                             f"{show_value(list(widths))}.")
        if w > MAX_PARAMETERS:  # a layer has at least as many weights as its widths
            raise ResourceError(f"Argument 'widths' has a width of {count_text(w)}; the limit is "
                                f"{MAX_PARAMETERS:,} (the parameters a model may have).")
        out.append(int(w))
    if len(out) < minimum_layers + 1:
        raise bad_argument("widths", expected, list(widths))
    return tuple(out)


def _n_weights(widths: Sequence[int]) -> int:
    return sum(widths[k] * widths[k - 1] for k in range(1, len(widths)))


def _weight_names(widths: Sequence[int]) -> list[str]:
    names = []
    for layer in range(1, len(widths)):
        for i in range(widths[layer]):
            for j in range(widths[layer - 1]):
                names.append(f"W{layer}_{i}_{j}")
    return names


def _spec(prefix: str, widths: Sequence[int]) -> str:
    return f"{prefix}:" + ",".join(str(w) for w in widths)


def linear(widths: Sequence[int], *, max_memory: int | None = None) -> Model:
    """Deep linear network x -> W_L ... W_1 x.

    phi is the product W_L ... W_1 (d = n_L n_0 components); the candidate
    laws are the balancedness matrices W_l W_l^T - W_{l+1}^T W_{l+1} of
    every hidden layer (upper triangle, diagonal included). A model whose
    memory estimate (:mod:`exactcl.limits`, to build and count it) exceeds
    ``max_memory`` bytes (default: the memory available) is refused with
    :class:`~exactcl.errors.ResourceError` before it is built.

    Examples
    --------
    >>> m = linear([2, 2, 2])
    >>> m.D, len(m.generators), len(m.candidates)
    (8, 4, 3)
    >>> m.parameters[:3]
    ('W1_0_0', 'W1_0_1', 'W1_1_0')
    >>> m.generator_labels[1]
    '∇φ2, φ2 = (W2 W1)[0,1]'
    >>> linear([2, 0])
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'widths' must be a sequence of at least 2 positive ints, not [2, 0].
    """
    widths = _check_widths(widths)
    name = _spec("linear", widths)
    paths = math.prod(widths)
    balance = sum(widths[k] * (widths[k] + 1) // 2 * (widths[k - 1] + widths[k + 1])
                  for k in range(1, len(widths) - 1))
    _check_parameters(name, _n_weights(widths))
    _check_build(name, _n_weights(widths),
                 sum(w * (w + 1) // 2 for w in widths[1:-1]), balance)
    ring = Ring(tuple(_weight_names(widths)))
    g, idx = ring.gens, ring.index

    def W(layer: int) -> list[list[tuple[fmpq_mpoly, frozenset[int]]]]:
        return [[(g[idx[f"W{layer}_{i}_{j}"]], frozenset({idx[f"W{layer}_{i}_{j}"]}))
                 for j in range(widths[layer - 1])] for i in range(widths[layer])]

    def expand() -> tuple[tuple[fmpq_mpoly, ...], tuple[VectorField, ...]]:
        _check_size(name, _n_weights(widths), widths[0] * widths[-1],
                    paths * len(widths) + balance, max_memory)
        # Running product P = W_l ... W_1 with the support of every entry.
        prod = W(1)
        for layer in range(2, len(widths)):
            A = W(layer)
            new = []
            for i in range(widths[layer]):
                row = []
                for j in range(widths[0]):
                    poly, sup = ring.zero(), frozenset()
                    for k in range(widths[layer - 1]):
                        poly += A[i][k][0] * prod[k][j][0]
                        sup |= A[i][k][1] | prod[k][j][1]
                    row.append((poly, sup))
                new.append(row)
            prod = new
        phi = tuple(p for row in prod for p, _ in row)
        return phi, tuple(gradient(ring, p, s) for row in prod for p, s in row)

    def entries() -> tuple[str, ...]:
        product_name = " ".join(f"W{layer}" for layer in range(len(widths) - 1, 0, -1))
        if len(widths) > 2:
            product_name = f"({product_name})"
        return _gradient_labels([f"{product_name}[{i},{j}]" for i in range(widths[-1])
                                 for j in range(widths[0])])

    labels, terms = [], []
    for layer in range(1, len(widths) - 1):
        n = widths[layer]
        for a in range(n):
            for b in range(a, n):
                terms.append(quadratic_terms(
                    [(idx[f"W{layer}_{a}_{j}"], idx[f"W{layer}_{b}_{j}"])
                     for j in range(widths[layer - 1])],
                    [(idx[f"W{layer + 1}_{k}_{a}"], idx[f"W{layer + 1}_{k}_{b}"])
                     for k in range(widths[layer + 1])]))
                labels.append(f"(W{layer} W{layer}^T - W{layer + 1}^T W{layer + 1})[{a},{b}]")
    return Model(name, ring, None, None, LazyLaws(ring, terms), tuple(labels), entries,
                 program=_family_program("linear", widths), expand=expand)


def relu(widths: Sequence[int], bias: bool = False, *, max_memory: int | None = None) -> Model:
    """Deep ReLU network through its path-lifting.

    phi has one component per path input -> one neuron per hidden layer ->
    output (the product of the weights along it) and, with ``bias``, one
    per path starting at a hidden neuron's bias. The candidate laws are one
    per hidden neuron: ||incoming weights||^2 (+ bias^2) - ||outgoing
    weights||^2. ``max_memory`` as for :func:`linear`.

    Examples
    --------
    >>> m = relu([2, 3, 2], bias=True)
    >>> m.D, len(m.generators), len(m.candidates)
    (15, 18, 3)
    >>> m.parameters[-3:]
    ('b1_0', 'b1_1', 'b1_2')
    >>> m.generator_labels[5], m.generator_labels[-1]
    ('∇φ6, φ6 = path x0→2→y1', '∇φ18, φ18 = path b1_2→y1')
    """
    widths = _check_widths(widths)
    if not isinstance(bias, bool):
        raise bad_argument("bias", "a bool", bias)
    L = len(widths) - 1
    n_paths = math.prod(widths)
    if bias:
        n_paths += sum(math.prod(widths[layer:]) for layer in range(1, L))
    n_params = _n_weights(widths) + (sum(widths[1:-1]) if bias else 0)
    neurons = sum(widths[k] * (widths[k - 1] + widths[k + 1] + 1) for k in range(1, L))
    name = _spec("relu-bias" if bias else "relu", widths)
    _check_parameters(name, n_params)
    _check_build(name, n_params, sum(widths[1:-1]), neurons)
    names = _weight_names(widths)
    if bias:
        names += [f"b{layer}_{i}" for layer in range(1, L) for i in range(widths[layer])]
    ring = Ring(tuple(names))
    g, idx = ring.gens, ring.index
    one = ring.constant(1)

    def path_field(variables: list[int]) -> tuple[fmpq_mpoly, VectorField]:
        polys = [g[v] for v in variables]
        # prefix/suffix products give every "product of the others" in O(L)
        prefix = [one]
        for p in polys:
            prefix.append(prefix[-1] * p)
        suffix = [one]
        for p in reversed(polys):
            suffix.append(suffix[-1] * p)
        suffix.reverse()
        comps = {v: prefix[k] * suffix[k + 1] for k, v in enumerate(variables)}
        hints = {v: frozenset(variables) - {v} for v in variables}
        return prefix[-1], VectorField.from_components(ring, comps, hints)

    def path_name(start: str, neurons: Sequence[int]) -> str:
        """"path x0→2→y1": from an input (or a bias) through hidden neurons to an output."""
        return "path " + "→".join([start, *map(str, neurons[:-1]), f"y{neurons[-1]}"])

    def paths() -> Iterator[tuple[list[int], str]]:
        """(variables, name) of every path, in the order of phi."""
        for neurons in itertools.product(*(range(w) for w in widths)):
            variables = [idx[f"W{layer}_{neurons[layer]}_{neurons[layer - 1]}"]
                         for layer in range(1, L + 1)]
            yield variables, path_name(f"x{neurons[0]}", neurons[1:])
        if bias:
            for layer in range(1, L):
                for j in range(widths[layer]):
                    later = (range(widths[k]) for k in range(layer + 1, L + 1))
                    for rest in itertools.product(*later):
                        neurons = (j,) + rest
                        variables = [idx[f"b{layer}_{j}"]]
                        variables += [idx[f"W{layer + s}_{neurons[s]}_{neurons[s - 1]}"]
                                      for s in range(1, len(neurons))]
                        yield variables, path_name(f"b{layer}_{j}", rest)

    def expand() -> tuple[tuple[fmpq_mpoly, ...], tuple[VectorField, ...]]:
        _check_size(name, n_params, n_paths, n_paths * (L + 1) + neurons, max_memory)
        phi, generators = [], []
        for variables, _ in paths():
            poly, fld = path_field(variables)
            phi.append(poly)
            generators.append(fld)
        return tuple(phi), tuple(generators)

    labels, terms = [], []
    for layer in range(1, L):
        for j in range(widths[layer]):
            incoming = [idx[f"W{layer}_{j}_{i}"] for i in range(widths[layer - 1])]
            if bias:
                incoming.append(idx[f"b{layer}_{j}"])
            terms.append(quadratic_terms([(v, v) for v in incoming],
                                         [(idx[f"W{layer + 1}_{k}_{j}"],) * 2
                                          for k in range(widths[layer + 1])]))
            labels.append(f"neuron {j} of hidden layer {layer}")
    return Model(name, ring, None, None, LazyLaws(ring, terms), tuple(labels),
                 lambda: _gradient_labels([text for _, text in paths()]),
                 program=_family_program("relu-bias" if bias else "relu", widths), expand=expand)


def _program_terms(layout: evaluator.Layout) -> int:
    """Terms of phi and of its gradients, from the layout alone.

    A monomial of phi is a path: from an input through one neuron of every
    layer to an output, or from the neuron of a bias to an output; every
    weight names its edge, so the monomials are distinct and none cancels.
    A monomial has as many gradient terms as factors.
    """
    sizes = [layout.linears[0][0]] + [n_out for _, n_out, _ in layout.linears]
    L = len(layout.linears)
    terms = math.prod(sizes) * (L + 1)
    for layer, (_, _, bias) in enumerate(layout.linears, 1):
        if bias:
            terms += math.prod(sizes[layer:]) * (L - layer + 2)
    return terms


def _program_candidates(program, ring: Ring) -> tuple[list, list, list[str]]:
    """The literature's laws for each pair of consecutive linear layers l, l+1,
    as polynomials, as sparse terms and with their labels.

    Directly adjacent, W_l -> G W_l, b_l -> G b_l, W_{l+1} -> W_{l+1} G^-1
    leave the network unchanged for every invertible G, which gives the
    balancedness entries (W_l W_l^T + b_l b_l^T - W_{l+1}^T W_{l+1})[a, b],
    a <= b (Arora et al. 2018; Marcotte et al. 2023). With a ReLU between
    them only positive diagonal G commute with it, which gives one law per
    neuron j: ||W_l[j, :]||^2 (+ b_l[j]^2) - ||W_{l+1}[:, j]||^2 (Du et al.
    2018).
    """
    idx = ring.index
    linears = program.layout.linears
    relu_after = []  # per linear layer: is it followed by a ReLU
    for kind, *_ in program.layout.layers:
        if kind == "linear":
            relu_after.append(False)
        else:
            relu_after[-1] = True

    terms, labels = [], []
    for layer in range(1, len(linears)):
        (n_in, n, bias), (_, n_next, _) = linears[layer - 1], linears[layer]
        # W_l[a, :] (and b_l[a]), W_{l+1}[:, a]: the variables of neuron a
        row = [[idx[f"W{layer}_{a}_{i}"] for i in range(n_in)]
               + ([idx[f"b{layer}_{a}"]] if bias else []) for a in range(n)]
        column = [[idx[f"W{layer + 1}_{k}_{a}"] for k in range(n_next)] for a in range(n)]
        if relu_after[layer - 1]:
            pairs = [(j, j) for j in range(n)]
        else:
            pairs = [(a, c) for a in range(n) for c in range(a, n)]
        plus = f" + b{layer} b{layer}^T" if bias else ""
        for a, c in pairs:
            terms.append(quadratic_terms(list(zip(row[a], row[c])),
                                         list(zip(column[a], column[c]))))
            labels.append(f"neuron {a} of hidden layer {layer}" if relu_after[layer - 1] else
                          f"(W{layer} W{layer}^T{plus} - W{layer + 1}^T W{layer + 1})[{a},{c}]")
    return LazyLaws(ring, terms), terms, labels


def _program_candidate_sizes(layout: evaluator.Layout) -> tuple[int, int]:
    """(laws, terms) of :func:`_program_candidates`, from the sizes alone."""
    relu_after = []
    for kind, *_ in layout.layers:
        if kind == "linear":
            relu_after.append(False)
        else:
            relu_after[-1] = True
    laws = terms = 0
    for layer in range(1, len(layout.linears)):
        (n_in, n, bias), (_, n_next, _) = layout.linears[layer - 1], layout.linears[layer]
        pairs = n if relu_after[layer - 1] else n * (n + 1) // 2
        laws, terms = laws + pairs, terms + pairs * (n_in + bias + n_next)
    return laws, terms


def _program_labels(layout: evaluator.Layout) -> tuple[str, ...]:
    """``"paths x0→2→y1"`` per component: from input x0 (or ``b{l}``, the
    source the bias of linear layer l opens) through neuron 2 of the ReLU
    met, to output y1; phi_c sums the products of the weights along them."""
    texts = []
    for c in range(layout.components):
        k, column = layout.component(c)
        src, neurons = layout.column(column)
        kind, i = layout.sources[src]
        start = f"x{i}" if kind == 0 else f"b{i}"
        texts.append("paths " + "→".join([start, *map(str, neurons), f"y{k}"]))
    return _gradient_labels(texts)


def from_program(program, *, max_memory: int | None = None) -> Model:
    """The model of a program of layers (:mod:`exactcl.layers.program`).

    A program that a short name gives (``program.family``) is the built-in
    model of that name, :func:`linear` or :func:`relu`, so its results are
    theirs. Any other program has phi as :mod:`exactcl.kernel.evaluator` defines
    it, expanded on first access of ``phi`` or ``generators`` (refused
    before expansion, with its estimate, when too large: ``max_memory`` as
    for :func:`linear`), and the candidate laws of every pair of
    consecutive linear layers: the balancedness entries when they are
    directly adjacent, one per neuron when a ReLU separates them (biases
    included in both).

    Examples
    --------
    >>> from exactcl.layers.program import Linear, ReLU, net
    >>> from_program(net(Linear(3, 4), ReLU(), Linear(4, 2))).name
    'relu:3,4,2'
    >>> m = from_program(net(Linear(2, 3), ReLU(), Linear(3, 2, bias=True), Linear(2, 1)))
    >>> m
    Model('net:Linear(2,3),ReLU,Linear(3,2,bias),Linear(2,1)', D=16, generators=7, candidate_laws=6)
    >>> m.candidate_labels[0], m.candidate_labels[-1]
    ('neuron 0 of hidden layer 1', '(W2 W2^T + b2 b2^T - W3^T W3)[1,1]')
    >>> m.generator_labels[0], m.generator_labels[-1]
    ('∇φ1, φ1 = paths x0→0→y0', '∇φ7, φ7 = paths b2→y0')
    >>> from_program("relu:3,4,2")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'program' must be an exactcl Program (see exactcl.net), not 'relu:3,4,2'.
    """
    from ..layers.program import Program  # (not at import: a built-in model needs no layers)
    if not isinstance(program, Program):
        raise bad_argument("program", "an exactcl Program (see exactcl.net)", program)
    if program.blocks:
        from .blocks import block_model
        return block_model(program, max_memory=max_memory)
    family, widths = program.family, program.widths
    if family == "linear":
        return linear(widths, max_memory=max_memory)
    if family is not None:
        return relu(widths, bias=family == "relu-bias", max_memory=max_memory)
    name, layout = program.name, program.layout
    _check_parameters(name, layout.D)
    _check_build(name, layout.D, *_program_candidate_sizes(layout))
    ring = Ring(layout.parameters)
    candidates, candidate_terms, labels = _program_candidates(program, ring)
    terms = _program_terms(layout) + sum(len(t) for t in candidate_terms)

    def expand() -> tuple[tuple[fmpq_mpoly, ...], tuple[VectorField, ...]]:
        _check_size(name, layout.D, layout.components, terms, max_memory)
        phi = tuple(evaluator.expand(layout, ring.gens, ring.constant(1)))
        return phi, tuple(gradient(ring, p) for p in phi)

    return Model(name, ring, None, None, candidates, tuple(labels),
                 lambda: _program_labels(layout), program=program, expand=expand)


def as_model(model, *, max_memory: int | None = None) -> Model:
    """``model`` as a :class:`Model`: a Model itself, the model of a
    :class:`~exactcl.layers.program.Program`, or of any object that says which
    model it is by a method ``__exactcl_model__(max_memory)`` (such as what
    :func:`exactcl.from_torch` returns).

    >>> from exactcl.layers.program import Linear, net
    >>> as_model(net(Linear(2, 2), Linear(2, 2))).name
    'linear:2,2,2'
    >>> as_model("linear:2,2,2")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'model' must be an exactcl Model, Program or the result of exactcl.from_torch, not 'linear:2,2,2'.
    """
    if isinstance(model, Model):
        return model
    from ..layers.program import Program
    if isinstance(model, Program):
        model = from_program(model, max_memory=max_memory)
    elif callable(getattr(type(model), "__exactcl_model__", None)):
        model = model.__exactcl_model__(max_memory=max_memory)
    if not isinstance(model, Model):
        raise bad_argument("model", "an exactcl Model, Program or the result of "
                           "exactcl.from_torch", model)
    return model


def with_constants(model: Model, constants: dict[str, object], name: str) -> Model:
    """The model of the flow that moves only the parameters not in
    ``constants``, the others held at the given rationals: phi with those
    values substituted, a polynomial in the moved parameters (expanded, so
    refused with its estimate when too large, as ``model.phi`` is).

    The gradients of the substituted components span, at each point, what
    the gradients in the moved parameters of the model's output span, so the
    count of this model is the count of that flow at those values.

    >>> m = with_constants(linear([1, 1, 1]), {"W1_0_0": 2}, "frozen")
    >>> m.parameters, [p.str() for p in m.phi]
    (('W2_0_0',), ['2*W2_0_0'])
    """
    phi = model.phi
    if phi is None:
        raise InputError(f"Model {model.name} is given by its fields, not phi: its parameters "
                         f"cannot be held constant.")
    unknown = sorted(set(constants) - set(model.parameters))
    if unknown:
        raise InputError(f"Argument 'constants' names {unknown[0]!r}, which is not a parameter "
                         f"of {model.name}.")
    kept = [v for v in model.parameters if v not in constants]
    if not kept:
        raise InputError(f"Argument 'constants' holds every parameter of {model.name}: nothing "
                         f"moves.")
    ring = Ring(tuple(kept))
    where = {v: k for k, v in enumerate(kept)}
    value = {model.ring.index[v]: to_rational(c, f"constants[{v!r}]")
             for v, c in constants.items()}
    out = []
    for p in phi:
        terms: dict = {}
        for mono, c in poly_terms(p):
            moved = []
            for var, e in mono:
                if var in value:
                    c *= value[var] ** e
                else:
                    moved.append((where[model.parameters[var]], e))
            terms[tuple(moved)] = terms.get(tuple(moved), 0) + c
        if any(c and mono for mono, c in terms.items()):  # a constant moves nothing
            out.append(poly_from_terms(ring, terms.items()))
    if not out:
        out = [ring.zero()]
    return from_polynomials(ring, out, name)


def product(D: int, *, max_memory: int | None = None) -> Model:
    """phi(t) = t1 t2 ... tD; candidate laws t_i^2 - t_1^2 (``max_memory``
    as for :func:`linear`).

    >>> m = product(3)
    >>> m.parameters, [str(h) for h in m.candidates]
    (('t1', 't2', 't3'), ['-t1^2 + t2^2', '-t1^2 + t3^2'])
    """
    if isinstance(D, bool) or not isinstance(D, int) or D < 1:
        raise bad_argument("D", "a positive int", D)
    _check_size(f"product:{D}", D, 1, D + 1 + 2 * D, max_memory)
    ring = Ring(tuple(f"t{i}" for i in range(1, D + 1)))
    g = ring.gens
    phi = ring.constant(1)
    for t in g:
        phi *= t
    gen = gradient(ring, phi, range(D))
    candidates = tuple(g[i] ** 2 - g[0] ** 2 for i in range(1, D))
    labels = tuple(f"t{i + 1}^2 - t1^2" for i in range(1, D))
    factors = " ".join(f"t{i}" for i in range(1, D + 1)) if D <= 6 else f"t1 t2 … t{D}"
    return Model(f"product:{D}", ring, (gen,), (phi,), candidates, labels,
                 _gradient_labels([factors]))


def from_polynomials(ring: Ring, phi: Sequence[fmpq_mpoly], name: str = "custom") -> Model:
    """A model given by the components of phi, as polynomials on ``ring``."""
    if len(phi) == 0:
        raise bad_argument("phi", "a non-empty list of polynomials", list(phi))
    generators = tuple(gradient(ring, p) for p in phi)
    return Model(name, ring, generators, tuple(phi),
                 generator_labels=_gradient_labels([p.str() for p in phi]))


def from_fields(ring: Ring, fields: Sequence[VectorField], name: str = "custom") -> Model:
    """A model given directly by polynomial vector fields (not only gradients)."""
    if len(fields) == 0:
        raise bad_argument("fields", "a non-empty list of vector fields", list(fields))
    for k, f in enumerate(fields):
        if f.ring != ring:
            raise InputError(f"Field {k} lives on another ring than {ring.names!r}.")
    return Model(name, ring, tuple(fields), None,
                 generator_labels=tuple(f"field {k}" for k in range(1, len(fields) + 1)))
