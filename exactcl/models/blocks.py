"""Models of block programs (residual, convolutional and attention layers):
phi expanded on first use, and the candidate laws the symmetries of the
layers give.

**Candidate laws.** Two parametrised layers l, l+1 of the same sequence
(the same residual block, or the top level), the output of l feeding l+1
directly or through a ReLU (an activation letting positive diagonal
rescalings pass), admit a group of rescalings of the units
between them: any invertible G on the channels (dense neurons) when
directly adjacent, positive diagonal G across a ReLU. A convolution
mixes positions with its kernel and channels with its weights, so G acts
on channels; a dense layer after a convolution reads channel c at every
position. Each group gives the quadratic laws of its Lie algebra (Noether
for the symmetric part): per unit or pair of units (a, b),

    <in_a, in_b> + b_a b_b - <out_a, out_b>,

with in_a the weights into unit a (a kernel row: every input channel and
offset) and out_a those reading it (every output and offset or
position).

A skip connection ties a block's output to its input: no rescaling of a
block's own units passes it. The residual stream as a whole does rescale,
though, when a parametrised layer writes it and a later one reads it: G on
the stream's units (positive diagonal when a ReLU acts on the stream, any
invertible G otherwise) multiplies the writer's rows and those of each
block's last layer, and divides the columns of each block's first layer
and of the reader, since G (x + f(x)) = G x + (G f G^-1)(G x). Its laws
have the same form, in the writer and the blocks' last layers against the
blocks' first layers and the reader (a block whose branch does not begin
and end with a parametrised layer ends the stream).

Each layer type says its part through its role
(:mod:`exactcl.layers.base`, found by the layer's kind in
:mod:`exactcl.layers.registry`): a parametrised layer (dense, convolution)
has units and readers, an activation passing positive diagonal rescalings
(ReLU, max pooling) makes G diagonal, a fixed linear map acting alike on
every channel (average pooling) lets any G pass, a block (residual) holds
a sequence of its own, any other layer ends every rescaling, and a layer
that is a model by itself (attention) gives its own candidate laws
(:mod:`exactcl.layers.attention`).
"""

from __future__ import annotations

from ..kernel.blocks import BlockLayout, expand
from ..kernel.fields import gradient
from ..kernel.rings import Ring
from ..layers.base import (
    ALONE,
    BLOCK,
    NORMALISATION,
    PARAMETRISED,
    PASSES_LINEAR,
    PASSES_RESCALING,
    tensor_entries,
)
from ..layers.registry import layer_type

__all__ = ["block_candidates", "block_model", "unit_grading"]

#: Generator labels show a component's polynomial up to this many characters.
LABEL_POLY_CHARS = 60


def _units(lay: BlockLayout, layer: tuple, number: int) -> list[list[int]]:
    """Per output unit (neuron or channel) of parametrised layer ``number``,
    the parameters of its incoming weights and bias (an attention layer's
    own rule in a network)."""
    if _role(layer) == ALONE:
        return layer_type(layer[0]).network_units(lay, layer)
    rows, cols, o = tensor_entries(lay, layer_type(layer[0]).weights + str(number))
    units = [[o + i * cols + j for j in range(cols)] for i in range(rows)]
    bias = f"b{number}"
    if any(name == bias for name, *_ in lay.tensors):
        _, _, ob = tensor_entries(lay, bias)
        for i in range(rows):
            units[i].append(ob + i)
    return units


def _readers(lay: BlockLayout, layer: tuple, number: int, channels: int) -> list[list[int]]:
    """Per unit of the layer before, the weights of parametrised layer
    ``number`` that read it (its type's rule)."""
    rule = layer_type(layer[0])
    if rule.role == ALONE:
        return rule.network_readers(lay, layer)
    return rule.readers(tensor_entries(lay, rule.weights + str(number)), layer, channels)


def _role(layer) -> str:
    return layer_type(layer[0]).role


def _alone(lay: BlockLayout):
    """The layer type of a program that is one model by itself, else None."""
    rule = layer_type(lay.layers[0][0])
    return rule if rule.role == ALONE and len(lay.layers) == 1 else None


def _inside(lay: BlockLayout) -> list[tuple]:
    """The layers of a network that would be models by themselves alone
    (attention), nested ones included."""
    if _alone(lay) is not None:
        return []
    found, stack = [], [lay.layers]
    while stack:
        for layer in stack.pop():
            if _role(layer) == ALONE:
                found.append(layer)
            elif _role(layer) == BLOCK:
                stack.append(layer_type(layer[0]).inner(layer))
    return found


def _symmetries(lay: BlockLayout) -> list[tuple[list[list[int]], list[list[int]], bool, str]]:
    """The rescalings of the program's units: per pair of layers (or head
    factor), (incoming parameters per unit, reading parameters per unit,
    diagonal only, the label of the law of units a, b as a format string),
    as the module notes say."""
    return _walk(lay)[0]


def _moves(lay: BlockLayout, layer: tuple, number: int, scale: bool, translation: bool,
           groups: int = 1, per_feature: bool = False) -> list:
    """The laws of a dense layer (or convolution) whose output a
    normalisation reads: moves of that output the normalisation ignores.
    Its translation h -> h + t 1 (t may depend on the input) gives the
    column sums of its weight and the sum of its bias (linear: ``(indices,
    label)``); with ``scale`` (eps = 0), h -> c h gives the sum of the
    squares of all its parameters (quadratic: ``(pairs added, [], label)``).
    With ``per_feature`` (a batch normalisation: a constant per feature over
    the batch is removed), each entry of its bias is a law."""
    rows, cols, o = tensor_entries(lay, layer_type(layer[0]).weights + str(number))
    has_bias = any(name == f"b{number}" for name, *_ in lay.tensors)
    ob = tensor_entries(lay, f"b{number}")[2] if has_bias else None
    m = rows // groups
    out: list = []
    if per_feature and has_bias:
        out += [([ob + i], f"b{number}_{i} (the batch normalisation removes it)")
                for i in range(rows)]
    for g in range(groups):  # a group's rows: all of them for one group
        part = range(g * m, (g + 1) * m)
        where = (f" (row {g})" if per_feature else f" (group {g})") if groups > 1 else ""
        if translation:
            out += [([o + i * cols + j for i in part], f"sum of column {j} of W{number}{where}")
                    for j in range(cols)]
            if has_bias:
                out.append(([ob + i for i in part], f"sum of b{number}{where}"))
        params = [o + i * cols + j for i in part for j in range(cols)]
        params += [ob + i for i in part] if has_bias else []
        label = f"scale of layer {number}{where}"
        # with eps > 0 the scale law of eps = 0 is broken at order eps: still a candidate,
        # so that the count says so when its check rejects it
        out.append(([(v, v) for v in params], [], label if scale else
                    f"{label} (a law at eps = 0, broken at order eps)"))
    return out


def _stream_moves(lay: BlockLayout, layer: tuple, number: int) -> list:
    """The laws of the last layer of a residual block x + f(x) that a
    normalisation reads after the attention (docs/design.md, normalisation
    after the attention): f's output moved by a multiple of 1 per token is
    ignored, so a dense layer's column sums and bias sum are laws, and for
    the attention (O_h -> O_h + r 1^T) each row sum of each O_h (a column
    sum of torch's out_proj.weight) and the sum of b_o. No scale law: the
    residual's x is not scaled by any parameter."""
    if _role(layer) != ALONE:
        return [law for law in _moves(lay, layer, number, False, True) if len(law) == 2]
    out: list = []
    heads = layer[3]
    for h in range(heads):
        rows, cols, o = tensor_entries(lay, f"O{h}")
        out += [([o + a * cols + c for c in range(cols)],
                 f"sum of row {a} of O{h} (the normalisation ignores it)") for a in range(rows)]
    if any(name == "bo" for name, *_ in lay.tensors):
        rows, _, o = tensor_entries(lay, "bo")
        out.append(([o + c for c in range(rows)], "sum of bo (the normalisation ignores it)"))
    return out


def _scaled_block(lay: BlockLayout, norm: tuple, numbers: range, eps_zero: bool) -> list:
    """The scale law of a normalisation after the attention that reads
    y + f(y), y the affine output of the normalisation before it and f a
    ReLU MLP (dense layers and ReLUs; docs/design.md): its gamma, beta and
    the biases of f scaled by c scale y + f(y) by c, which a normalisation
    with eps = 0 ignores, so the sum of their squares is a law (with eps > 0
    a candidate broken at order eps, which its check then rejects)."""
    params: list = []
    for prefix in (f"G{norm[1]}", f"b{norm[1]}") + tuple(f"b{n}" for n in numbers):
        if any(name == prefix for name, *_ in lay.tensors):
            rows, cols, o = tensor_entries(lay, prefix)
            params += range(o, o + rows * cols)
    label = f"scale of normalisation {norm[1]}'s output and the biases of layers " \
            f"{numbers.start}-{numbers.stop - 1}"
    return [([(v, v) for v in params], [], label if eps_zero else
             f"{label} (a law at eps = 0, broken at order eps)")]


def _earlier_biases(lay: BlockLayout, numbers: list) -> list:
    """The laws of the parametrised layers ``numbers`` before the one a
    batch normalisation reads, joined to it by linear maps only (dense
    layers, convolutions with padding 0 after the first, layers that pass
    units linearly): each entry of their biases, a constant per feature (or
    channel) of every example that the layers after it keep constant and the
    centring removes (docs/design.md, batch normalisation)."""
    out: list = []
    for n in numbers:
        if any(name == f"b{n}" for name, *_ in lay.tensors):
            rows, _, ob = tensor_entries(lay, f"b{n}")
            out += [([ob + i], f"b{n}_{i} (the batch normalisation removes it)")
                    for i in range(rows)]
    return out


def _row_sums(lay: BlockLayout, layer: tuple, number: int, groups: int = 1) -> list:
    """The laws of a dense layer reading a normalisation without affine
    parameters: its input is orthogonal to 1 on each group, so W -> W + v
    1_g^T keeps the model and each row sum of W over a group is a law
    (linear: ``(indices, label)``)."""
    rows, cols, o = tensor_entries(lay, layer_type(layer[0]).weights + str(number))
    m = cols // groups
    return [([o + i * cols + j for j in range(g * m, (g + 1) * m)],
             f"sum of row {i} of W{number}" + (f" (group {g})" if groups > 1 else ""))
            for g in range(groups) for i in range(rows)]


def _walk(lay: BlockLayout) -> tuple[list, list]:
    """(:func:`_symmetries`, the laws normalisations give by :func:`_moves`)."""
    alone = _alone(lay)
    if alone is not None:
        return alone.symmetries(lay), []
    out: list = []
    moves: list = []
    counter = [0]

    def walk(layers):
        previous = None  # (layer, number, rescaling passes diagonal only)
        stream = None  # the residual stream a layer writes: see _stream
        centred = 0  # groups of a normalisation without affine parameters just before
        run: list = []  # parametrised layers joined by linear maps only, up to here
        writer = None  # (layer, number) of the last layer of a residual block just before
        affine_norm = None  # (layer, number) of an affine normalisation after the attention
        scaled = None  # (that normalisation, numbers of a ReLU MLP block y + f(y) after it)
        for layer in layers:
            role = _role(layer)
            if role == ALONE:  # attention in a network: its head laws, then as a dense layer
                out.extend(layer_type(layer[0]).symmetries(lay, layer))
            joined = run  # the run a normalisation here reads the end of
            if role != PASSES_LINEAR:
                run = run if role == PARAMETRISED else []
            if role in (PARAMETRISED, ALONE):
                counter[0] += 1
                number = counter[0]
                run = run + [number] if role == PARAMETRISED else []
                if centred:  # it reads a vector orthogonal to 1: W -> W + v 1^T
                    moves.extend(_row_sums(lay, layer, number, centred))
                if previous is not None:
                    out.append(between(previous, layer, number))
                if stream is not None and stream["blocks"]:
                    out.append(through(stream, layer, number))
                previous = (layer, number, False)
                units = _units(lay, layer, number)
                stream = {"writer": number, "plus": units, "minus": [[] for _ in units],
                          "relu": False, "blocks": 0}
            elif role == PASSES_RESCALING:
                if previous is not None:
                    previous = (previous[0], previous[1], True)
                if stream is not None:
                    stream["relu"] = True
            elif role == PASSES_LINEAR:
                pass  # it commutes with every map of the units: previous and stream go on
            elif role == NORMALISATION:
                norm = layer_type(layer[0])
                eps_zero, affine, groups = norm.options(layer)
                if previous is not None and not previous[2]:  # the dense layer it reads
                    moves.extend(_moves(lay, previous[0], previous[1], eps_zero,
                                        norm.translation, groups,
                                        getattr(norm, "translation_per_feature", False)))
                    if getattr(norm, "translation_per_feature", False):
                        moves.extend(_earlier_biases(lay, joined[:-1]))
                elif (previous is None and writer is not None and lay.tokens is not None
                      and layer[0] == "layer_norm"):
                    moves.extend(_stream_moves(lay, *writer))  # after the attention
                if scaled is not None and lay.tokens is not None:
                    moves.extend(_scaled_block(lay, scaled[0], scaled[1], eps_zero))
                previous = stream = writer = scaled = affine_norm = None
                if affine:  # its units rescale against the next layer, diagonally
                    counter[0] += 1
                    previous = (layer, counter[0], True)
                    affine_norm = (layer, counter[0])
                centred = groups if norm.translation and not affine else 0
                continue
            elif role == BLOCK:
                first = counter[0] + 1
                branch = layer_type(layer[0]).inner(layer)
                walk(branch)
                mlp = all(_role(inner) in (PARAMETRISED, PASSES_RESCALING) for inner in branch)
                scaled = ((affine_norm, range(first, counter[0] + 1))
                          if affine_norm is not None and mlp else None)
                affine_norm = None
                stream = _stream(stream, branch, first, counter[0])
                previous = None
                writer = ((branch[-1], counter[0]) if _role(branch[-1]) in (PARAMETRISED, ALONE)
                          else None)
                centred = 0
                continue
            else:
                previous = stream = None
            centred = 0
            writer = affine_norm = scaled = None

    def between(previous, layer, number):
        """Units of the layer before, rescaled against ``layer``'s readers."""
        before, n_before, diagonal = previous
        units = _units(lay, before, n_before)
        unit = layer_type(before[0]).unit_name
        label = (f"{unit} {{a}} of layer {n_before}" if diagonal else
                 f"balancedness of layers {n_before}, {number} [{{a}},{{b}}]")
        return units, _readers(lay, layer, number, len(units)), diagonal, label

    def through(stream, layer, number):
        """The residual stream's units, read by ``layer``."""
        readers = _readers(lay, layer, number, len(stream["plus"]))
        writer = stream["writer"]
        label = (f"residual stream unit {{a}} from layer {writer} to {number}" if stream["relu"]
                 else f"residual stream balancedness from layer {writer} to {number} [{{a}},{{b}}]")
        return (stream["plus"], [m + r for m, r in zip(stream["minus"], readers)],
                stream["relu"], label)

    def _stream(stream, branch, first, last):
        """The stream after the residual block x + branch(x): its first layer
        reads the stream and its last writes it (any other branch ends it)."""
        if (stream is None or _role(branch[0]) not in (PARAMETRISED, ALONE)
                or _role(branch[-1]) not in (PARAMETRISED, ALONE)):
            return None
        readers = _readers(lay, branch[0], first, len(stream["plus"]))
        units = _units(lay, branch[-1], last)
        return {**stream, "plus": [p + u for p, u in zip(stream["plus"], units)],
                "minus": [m + r for m, r in zip(stream["minus"], readers)],
                "blocks": stream["blocks"] + 1}

    walk(lay.layers)
    return out, moves


def block_candidates(lay: BlockLayout, ring: Ring) -> tuple[list, list, list[str]]:
    """The candidate laws of a block program: polynomials, sparse terms, labels."""
    from .base import LazyLaws, quadratic_terms
    terms, labels = [], []

    def add(plus, minus, label):
        terms.append(quadratic_terms(plus, minus))
        labels.append(label)

    for units, readers, diagonal, label in _symmetries(lay):
        pairs = ([(a, a) for a in range(len(units))] if diagonal else
                 [(a, b) for a in range(len(units)) for b in range(a, len(units))])
        for a, b in pairs:
            add(list(zip(units[a], units[b])), list(zip(readers[a], readers[b])),
                label.format(a=a, b=b))
    alone = _alone(lay)
    for plus, minus, label in alone.extra_laws(lay) if alone is not None else ():
        add(plus, minus, label)
    for law in _walk(lay)[1]:
        if len(law) == 3:
            add(*law)
        else:
            terms.append([(((v, 1),), 1) for v in law[0]])
            labels.append(law[1])
    for variables, label in _linear_laws(lay):
        terms.append([(((v, 1),), 1) for v in variables])
        labels.append(label)
    return LazyLaws(ring, terms), terms, labels


def _linear_laws(lay: BlockLayout) -> list[tuple[list[int], str]]:
    """Laws linear in the parameters: an attention layer's key bias, a head's
    translation."""
    out = [law for layer in _inside(lay) for law in layer_type(layer[0]).linear_laws(lay, layer)]
    return out + layer_type(lay.layers[-1][0]).linear_laws(lay)


def candidate_sizes(lay: BlockLayout) -> tuple[int, int]:
    """(laws, terms) of :func:`block_candidates`, from the lengths of the
    units alone (at most, for pairs of units of different lengths)."""
    laws = terms = 0
    for units, readers, diagonal, _ in _symmetries(lay):
        n = len(units)
        widest = max((len(u) + len(r) for u, r in zip(units, readers)), default=0)
        pairs = n if diagonal else n * (n + 1) // 2
        laws, terms = laws + pairs, terms + pairs * widest
    alone = _alone(lay)
    extra_laws, extra_terms = alone.extra_sizes(lay) if alone is not None else (0, 0)
    linear = _linear_laws(lay)
    moves = _walk(lay)[1]
    return (laws + extra_laws + len(linear) + len(moves),
            terms + extra_terms + sum(len(v) for v, _ in linear) + sum(len(m[0]) for m in moves))


def unit_grading(lay: BlockLayout) -> tuple[list[list[int]], list[int]]:
    """Gradings for which every generator is homogeneous (see
    :func:`exactcl.engine.search._grading`): (integer weight vectors, per
    parameter the bit mask of the sign characters that negate it).

    * **Sign flips of units.** A term of phi holds one incoming and one
      reading parameter of a unit when its path crosses the unit, none
      otherwise, so flipping the signs of both sets keeps every term: each
      unit gives a sign character.
    * **Weights.** Attention's components are homogeneous (total degree); a
      head factor's terms hold only one unit's parameters, so with phi =
      (A_h, B_h) each unit also gives a weight (1 on its parameters). Other
      block programs get none: a linear residual block x + W x mixes degrees.

    >>> from exactcl.layers.program import Linear, ReLU, Residual, net
    >>> unit_grading(net(Residual(Linear(1, 1), ReLU(), Linear(1, 1))).layout)
    ([], [1, 1])
    """
    alone = _alone(lay)
    unit_weights, total = alone.gradings(lay) if alone is not None else (False, False)
    masks = [0] * lay.D
    weights = []
    bit = 0
    for units, readers, _, _ in _symmetries(lay):
        for into, read in zip(units, readers):
            for v in into + read:
                masks[v] |= 1 << bit
            bit += 1
            if unit_weights:
                weights.append([int(masks[v] >> (bit - 1) & 1) for v in range(lay.D)])
    if total:
        weights.append([1] * lay.D)
    return weights, masks


def block_model(program, *, max_memory: int | None = None):
    """The :class:`~exactcl.models.builtin.Model` of a block program: phi expanded on
    first use (:func:`exactcl.kernel.blocks.expand`), candidate laws from the
    layers' symmetries.

    >>> from exactcl.layers.program import Linear, ReLU, Residual, net
    >>> m = block_model(net(Linear(2, 2), Residual(Linear(2, 3), ReLU(), Linear(3, 2))))
    >>> m.D, m.candidate_labels
    (16, ('neuron 0 of layer 2', 'neuron 1 of layer 2', 'neuron 2 of layer 2'))
    """
    from .base import Model, _check_build, _check_parameters, _check_size, _gradient_labels
    name, layout = program.name, program.layout
    _check_parameters(name, layout.D)
    _check_build(name, layout.D, *candidate_sizes(layout))
    ring = Ring(layout.parameters)
    candidates, candidate_terms, labels = block_candidates(layout, ring)
    terms = layout.phi_terms() * (layout.phi_degree() + 1) + sum(len(t) for t in candidate_terms)
    phi_box: list = []

    def expand_model():
        _check_size(name, layout.D, layout.components, terms, max_memory)
        phi = tuple(expand(layout, ring.gens, ring.constant(1)))
        phi_box.append(phi)
        return phi, tuple(gradient(ring, p) for p in phi)

    def generator_labels():
        phi = phi_box[0] if phi_box else expand_model()[0]
        return _gradient_labels([p.str() if len(p.str()) <= LABEL_POLY_CHARS else
                                 f"a coefficient of the output ({len(p)} terms)" for p in phi])

    return Model(name, ring, None, None, candidates, tuple(labels), generator_labels,
                 program=program, expand=expand_model)
