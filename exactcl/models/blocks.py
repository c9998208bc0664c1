"""Models of block programs (residual, convolutional and attention layers):
phi expanded on first use, and the candidate laws the symmetries of the
layers give.

**Candidate laws.** Two parametrised layers l, l+1 of the same sequence
(the same residual block, or the top level), the output of l feeding l+1
directly or through a ReLU, admit a group of rescalings of the units
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

Attention head h has, for any invertible G_h, H_h, the symmetry
Q_h -> G_h Q_h, K_h -> G_h^-T K_h (and likewise V_h, O_h with H_h), which
gives (Q_h Q_h^T - K_h K_h^T)[a, b] and (V_h V_h^T - O_h O_h^T)[a, b],
a <= b (Marcotte, Peyre, Gribonval, ICML 2025). Softmax-free attention
is also unchanged by A_h -> c A_h, B_h -> B_h / c, which gives one more
law per head, |Q_h|^2 + |K_h|^2 - |V_h|^2 - |O_h|^2.
"""

from __future__ import annotations

from ..kernel.blocks import BlockLayout, expand
from ..kernel.fields import gradient
from ..kernel.rings import Ring

__all__ = ["block_candidates", "block_model", "unit_grading"]

#: Generator labels show a component's polynomial up to this many characters.
LABEL_POLY_CHARS = 60


def _tensor_index(lay: BlockLayout, prefix: str) -> int:
    return next(t for t, (name, *_) in enumerate(lay.tensors) if name == prefix)


def _entries(lay: BlockLayout, prefix: str) -> tuple[int, int, int]:
    """(rows, cols, offset) of the tensor named ``prefix``."""
    _, rows, cols, o = lay.tensors[_tensor_index(lay, prefix)]
    return rows, cols, o


def _units(lay: BlockLayout, layer: tuple, number: int) -> list[list[int]]:
    """Per output unit (neuron or channel) of parametrised layer ``number``,
    the parameters of its incoming weights and bias."""
    prefix = ("W" if layer[0] == "linear" else "K") + str(number)
    rows, cols, o = _entries(lay, prefix)
    units = [[o + i * cols + j for j in range(cols)] for i in range(rows)]
    bias = f"b{number}"
    if any(name == bias for name, *_ in lay.tensors):
        _, _, ob = _entries(lay, bias)
        for i in range(rows):
            units[i].append(ob + i)
    return units


def _readers(lay: BlockLayout, layer: tuple, number: int, channels: int) -> list[list[int]]:
    """Per unit of the layer before, the weights of parametrised layer
    ``number`` that read it (every output and offset, or position)."""
    prefix = ("W" if layer[0] == "linear" else "K") + str(number)
    rows, cols, o = _entries(lay, prefix)
    if layer[0] == "conv":
        offsets = cols // layer[1]
        return [[o + r * cols + c * offsets + t for r in range(rows) for t in range(offsets)]
                for c in range(channels)]
    per = cols // channels  # positions of a flattened convolution (1 after a dense layer)
    return [[o + r * cols + c * per + q for r in range(rows) for q in range(per)]
            for c in range(channels)]


def _symmetries(lay: BlockLayout) -> list[tuple[list[list[int]], list[list[int]], bool, str]]:
    """The rescalings of the program's units: per pair of layers (or head
    factor), (incoming parameters per unit, reading parameters per unit,
    diagonal only, what the units are), as the module notes say."""
    out = []
    if lay.attention is not None:
        _, kind, d, heads, k, _ = lay.attention
        for h in range(heads):
            for first, second in (("Q", "K"), ("V", "O")):
                _, _, o1 = _entries(lay, f"{first}{h}")
                _, _, o2 = _entries(lay, f"{second}{h}")
                out.append(([[o1 + a * d + j for j in range(d)] for a in range(k)],
                            [[o2 + a * d + j for j in range(d)] for a in range(k)], False,
                            f"{first}{h}"))
        return out
    counter = [0]

    def walk(layers):
        previous = None  # (layer, number, relu between)
        stream = None  # the residual stream a layer writes: see _stream
        for layer in layers:
            kind = layer[0]
            if kind in ("linear", "conv"):
                counter[0] += 1
                number = counter[0]
                if previous is not None:
                    before, n_before, relu = previous
                    units = _units(lay, before, n_before)
                    out.append((units, _readers(lay, layer, number, len(units)), relu,
                                f"{'channel' if before[0] == 'conv' else 'neuron'}:"
                                f"{n_before}:{number}"))
                if stream is not None and stream["blocks"]:
                    readers = _readers(lay, layer, number, len(stream["plus"]))
                    out.append((stream["plus"], [m + r for m, r in zip(stream["minus"], readers)],
                                stream["relu"], f"stream:{stream['writer']}:{number}"))
                previous = (layer, number, False)
                units = _units(lay, layer, number)
                stream = {"writer": number, "plus": units, "minus": [[] for _ in units],
                          "relu": False, "blocks": 0}
            elif kind == "relu":
                if previous is not None:
                    previous = (previous[0], previous[1], True)
                if stream is not None:
                    stream["relu"] = True
            else:
                first = counter[0] + 1
                walk(layer[1])
                stream = _stream(stream, layer[1], first, counter[0])
                previous = None

    def _stream(stream, branch, first, last):
        """The stream after the residual block x + branch(x): its first layer
        reads the stream and its last writes it (any other branch ends it)."""
        ends = ("linear", "conv")
        if stream is None or branch[0][0] not in ends or branch[-1][0] not in ends:
            return None
        readers = _readers(lay, branch[0], first, len(stream["plus"]))
        units = _units(lay, branch[-1], last)
        return {**stream, "plus": [p + u for p, u in zip(stream["plus"], units)],
                "minus": [m + r for m, r in zip(stream["minus"], readers)],
                "blocks": stream["blocks"] + 1}

    walk(lay.layers)
    return out


def block_candidates(lay: BlockLayout, ring: Ring) -> tuple[list, list, list[str]]:
    """The candidate laws of a block program: polynomials, sparse terms, labels."""
    from .base import quadratic_law
    candidates, terms, labels = [], [], []

    def add(plus, minus, label):
        h, t = quadratic_law(ring, plus, minus)
        candidates.append(h)
        terms.append(t)
        labels.append(label)

    for units, readers, relu, what in _symmetries(lay):
        pairs = ([(a, a) for a in range(len(units))] if relu else
                 [(a, b) for a in range(len(units)) for b in range(a, len(units))])
        for a, b in pairs:
            if lay.attention is not None:
                first, second = what, {"Q": "K", "V": "O"}[what[0]] + what[1:]
                label = f"({first} {first}^T - {second} {second}^T)[{a},{b}]"
            elif what.startswith("stream:"):
                _, writer, head = what.split(":")
                label = (f"residual stream unit {a} from layer {writer} to {head}" if relu else
                         f"residual stream balancedness from layer {writer} to {head} [{a},{b}]")
            elif relu:
                unit, n_before, _ = what.split(":")
                label = f"{unit} {a} of layer {n_before}"
            else:
                _, n_before, number = what.split(":")
                label = f"balancedness of layers {n_before}, {number} [{a},{b}]"
            add(list(zip(units[a], units[b])), list(zip(readers[a], readers[b])), label)
    if lay.attention is not None and lay.attention[1] == "linear":
        _, _, d, heads, k, _ = lay.attention
        for h in range(heads):
            plus, minus = [], []
            for letter, side in (("Q", plus), ("K", plus), ("V", minus), ("O", minus)):
                _, _, o = _entries(lay, f"{letter}{h}")
                side += [(o + i, o + i) for i in range(k * d)]
            add(plus, minus, f"scaling of head {h}: |Q{h}|^2 + |K{h}|^2 - |V{h}|^2 - |O{h}|^2")
    return candidates, terms, labels


def candidate_sizes(lay: BlockLayout) -> tuple[int, int]:
    """(laws, terms) of :func:`block_candidates`, from the lengths of the
    units alone (at most, for pairs of units of different lengths)."""
    laws = terms = 0
    for units, readers, relu, _ in _symmetries(lay):
        n = len(units)
        widest = max((len(u) + len(r) for u, r in zip(units, readers)), default=0)
        pairs = n if relu else n * (n + 1) // 2
        laws, terms = laws + pairs, terms + pairs * widest
    if lay.attention is not None and lay.attention[1] == "linear":
        _, _, d, heads, k, _ = lay.attention
        laws, terms = laws + heads, terms + heads * 4 * k * d
    return laws, terms


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
    masks = [0] * lay.D
    weights = []
    bit = 0
    for units, readers, _, _ in _symmetries(lay):
        for into, read in zip(units, readers):
            for v in into + read:
                masks[v] |= 1 << bit
            bit += 1
            if lay.attention is not None and lay.attention[1] == "factors":
                weights.append([int(masks[v] >> (bit - 1) & 1) for v in range(lay.D)])
    if lay.attention is not None:
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

    return Model(name, ring, None, None, tuple(candidates), tuple(labels), generator_labels,
                 program=program, expand=expand_model, candidate_terms=candidate_terms)
