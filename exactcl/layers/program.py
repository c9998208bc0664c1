"""Models as programs of layers, written like a network definition.

>>> from exactcl import net, Linear, ReLU
>>> prog = net(Linear(3, 4), ReLU(), Linear(4, 2))
>>> prog
net(Linear(3, 4), ReLU(), Linear(4, 2))
>>> prog.name, prog.D, prog.components
('relu:3,4,2', 20, 24)
>>> net(Linear(3, 4), Linear(5, 2))
Traceback (most recent call last):
...
exactcl.errors.InputError: Argument 'layers' is not a network: layer 2 (linear) takes 5 inputs but the layer before it has 4 outputs.

The same program in the spec language of the command line and sweeps is
``net:Linear(3,4),ReLU,Linear(4,2)`` (``Linear(4,2,bias)`` for a layer
with a bias); the short names ``linear:``, ``relu:`` and ``relu-bias:``
name the usual programs (:func:`from_family`). What phi a program defines,
how its parameters are named and ordered and how it is evaluated at a
point without expansion is :mod:`exactcl.kernel.evaluator`.

Nothing here knows a layer type: each is defined in its family's module
(:mod:`~exactcl.layers.dense`, :mod:`~exactcl.layers.activations`,
:mod:`~exactcl.layers.conv`, :mod:`~exactcl.layers.residual`,
:mod:`~exactcl.layers.attention`) and found through
:mod:`exactcl.layers.registry`, by its spec head when a spec is parsed; its
class is re-exported here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from ..kernel.blocks import (
    MAX_LAYERS,
    BlockLayout,
    check_blocks,
    size_problem,
)
from ..kernel.errors import InputError, ResourceError
from ..kernel.evaluator import Layout, check_layers
from ..limits import MAX_PARAMETERS, check_spec_text
from .activations import ReLU
from .attention import Attention, LinearAttention
from .base import (
    Layer,
    SpecCall,
    canonical_layers,
    check_layer_count,
    check_layer_objects,
    clip_text,
    show_value,
    split_layers,
    tree_sizes,
)
from .conv import Conv1d, Conv2d
from .dense import Linear
from .registry import by_head, spec_help
from .residual import Residual

__all__ = ["Attention", "Conv1d", "Conv2d", "Layer", "Linear", "LinearAttention", "Program",
           "ReLU", "Residual", "check_spec_text", "clip_text", "from_family", "net", "parse_layers",
           "parse_net", "show_value"]


@dataclass(frozen=True, eq=False)
class Program:
    """A model as a composition of layers (build it with :func:`net`)."""

    layers: tuple[Layer, ...]

    @cached_property
    def layout(self) -> Layout | BlockLayout:
        """The chain evaluator's :class:`~exactcl.kernel.evaluator.Layout` for dense
        layers and ReLUs, else the :class:`~exactcl.kernel.blocks.BlockLayout`."""
        checked = _checked(self, "Argument 'layers' of Program", "Argument 'layers'")
        return BlockLayout(checked) if self.blocks else Layout(checked)

    @property
    def blocks(self) -> bool:
        """Whether the program has a layer the chain evaluator does not run
        (residual, convolutional, attention: see each layer type's ``chain``)."""
        return any(not layer.chain for layer in self.layers)

    def canonical(self) -> list[list]:
        """The layers as certificates store them."""
        return canonical_layers(self.layers)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Program) and self.layers == other.layers

    def __hash__(self) -> int:
        return hash(self.layers)

    @property
    def D(self) -> int:
        return self.layout.D

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.layout.parameters

    @property
    def components(self) -> int:
        """The number of components of phi (of generator fields)."""
        return self.layout.components

    @property
    def widths(self) -> tuple[int, ...]:
        """Input width and every dense layer's output width (chains only)."""
        if self.blocks:
            return ()
        lin = self.layout.linears
        return (lin[0][0],) + tuple(n_out for _, n_out, _ in lin)

    @property
    def family(self) -> str | None:
        """``"linear"``, ``"relu"`` or ``"relu-bias"`` when the program is
        the one that short name gives for its widths, else None."""
        for family in ("linear", "relu", "relu-bias"):
            if len(self.widths) >= 2 and from_family(family, self.widths) == self:
                return family
        return None

    @property
    def name(self) -> str:
        """The short name when there is one, else the ``net:`` spec."""
        family = self.family
        if family is not None:
            return f"{family}:" + ",".join(map(str, self.widths))
        return self.spec

    @property
    def spec(self) -> str:
        return "net:" + ",".join(layer.spec() for layer in self.layers)

    def __repr__(self) -> str:
        return "net(" + ", ".join(map(repr, self.layers)) + ")"


def _checked(prog: Program, where: str, network: str) -> tuple[tuple, ...]:
    """The checked canonical layers of ``prog``, refused when more than
    MAX_LAYERS or too large to lay out (:func:`exactcl.kernel.blocks.size_problem`;
    ``where`` names the argument) or not a network (``network`` names it),
    before any name is built."""
    check_layer_count(prog.layers, where)
    count = tree_sizes(prog.layers)[1]
    if count > MAX_LAYERS:
        raise ResourceError(f"{where} has {count:,} layers (those of residual blocks included); "
                            f"the limit is {MAX_LAYERS:,}.")
    canonical = prog.canonical()
    try:
        checked = check_blocks(canonical) if prog.blocks else check_layers(canonical)
    except ValueError as err:
        raise InputError(f"{network} is not a network: {err}.") from None
    problem = size_problem(checked, MAX_PARAMETERS)
    if problem is not None:
        raise ResourceError(f"{where} is too large: {problem}.")
    return checked


def net(*layers: Layer) -> Program:
    """The program applying ``layers`` in order (input first).

    >>> net("relu")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'layers' of net must be exactcl layers such as Linear(3, 4) or ReLU(), not 'relu' (layer 1, a str).
    >>> net(Conv1d(1, 2, 3, length=8), ReLU(), Linear(12, 1)).parameters[:2]
    ('K1_0_0_0', 'K1_0_0_1')
    >>> net(Conv1d(32, 32, 1, length=4096), ReLU(), Conv1d(32, 1, 1))
    Traceback (most recent call last):
    ...
    exactcl.errors.ResourceError: Argument 'layers' of net is too large: layer 1 (conv) brings the activations (the entries of the input and of every layer's output) to 262,144; the limit is 131,072.
    """
    if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
        layers = tuple(layers[0])
    check_layer_count(layers, "Argument 'layers' of net")
    check_layer_objects(layers, "net")
    prog = Program(tuple(layers))
    _checked(prog, "Argument 'layers' of net", "Argument 'layers'")
    return prog


def from_family(family: str, widths: tuple[int, ...] | list[int]) -> Program:
    """The program of a short name: ``linear`` (no activation), ``relu``
    (a ReLU after every hidden layer) or ``relu-bias`` (and a bias on every
    hidden layer).

    >>> from_family("relu-bias", [2, 3, 1])
    net(Linear(2, 3, bias=True), ReLU(), Linear(3, 1))
    """
    if len(widths) - 1 > MAX_LAYERS:
        raise ResourceError(f"Argument 'widths' gives {len(widths) - 1:,} layers; the limit is "
                            f"{MAX_LAYERS:,}.")
    L = len(widths) - 1
    layers: list[Layer] = []
    for li in range(L):
        hidden = li < L - 1
        layers.append(Linear(widths[li], widths[li + 1], bias=family == "relu-bias" and hidden))
        if family != "linear" and hidden:
            layers.append(ReLU())
    return net(*layers)


#: The spec syntax of every layer type, for the message refusing an unknown layer.
_SPEC_LAYERS = spec_help()

def _parse_layer(text: str, n: str, spec: str, where: str, layers: list[int],
                 depth: int = 0) -> Layer:
    """The layer of spec ``text``, layer ``n``, parsed by the layer type its
    head names; ``layers`` counts the layers parsed (one item), ``depth``
    the residual blocks around this one."""
    layers[0] += 1
    if layers[0] > MAX_LAYERS:
        raise ResourceError(f"Argument {where!r} has more than {MAX_LAYERS:,} layers (those of "
                            f"residual blocks included); the limit is {MAX_LAYERS:,}, in "
                            f"{clip_text(spec)!r}.")

    def parse(inner: str, place: str, inner_depth: int) -> Layer:
        return _parse_layer(inner, place, spec, where, layers, inner_depth)

    m = re.fullmatch(r"([A-Za-z0-9]+)(?:\((.*)\))?", text.replace(" ", ""), re.DOTALL)
    head, body = (m.group(1).lower(), m.group(2)) if m is not None else ("", None)
    call = SpecCall(text, head, body, n, spec, where, depth, _SPEC_LAYERS, parse)
    layer_type = by_head().get(head) if m is not None else None
    if layer_type is None:
        raise call.unknown()
    return layer_type.from_spec(call)


def parse_layers(body: str, spec: str, where: str = "SPEC") -> list[Layer]:
    """The layers of a ``net:`` spec body, each parsed and built but not yet
    checked as a network (:func:`parse_net` checks them).

    >>> parse_layers("Linear(3,4),Residual(ReLU)", "net:...")
    [Linear(3, 4), Residual(ReLU())]
    """
    check_spec_text(body, where, spec)
    pieces = split_layers(body) if body.strip() else []
    if len(pieces) > MAX_LAYERS:
        raise ResourceError(f"Argument {where!r} has {len(pieces):,} layers; the limit is "
                            f"{MAX_LAYERS:,}, in {clip_text(spec)!r}.")
    layers: list[Layer] = []
    parsed = [0]
    for n, piece in enumerate(pieces, 1):
        text = piece.strip()
        try:
            layers.append(_parse_layer(text, str(n), spec, where, parsed))
        except (InputError, ResourceError) as err:
            message = str(err)
            if message.startswith(f"Argument {where!r}"):
                raise
            raise type(err)(f"Argument {where!r} layer {n}, {clip_text(text)!r}: "
                            f"{message}") from None
    if not layers:
        raise InputError(f"Argument {where!r} must list layers after 'net:', not "
                         f"{clip_text(spec)!r}.")
    return layers


def parse_net(body: str, spec: str, where: str = "SPEC") -> Program:
    """The program of a ``net:`` spec body, ``Linear(3,4),ReLU,Linear(4,2)``
    (``spec`` is the whole spec and ``where`` the argument, for messages).

    >>> parse_net("Linear(3,4),ReLU,Linear(4,2,bias)", "net:...")
    net(Linear(3, 4), ReLU(), Linear(4, 2, bias=True))
    >>> parse_net("Conv1d(1,8,3,length=16),ReLU,Conv1d(8,8,3,stride=2,bias)", "net:...")
    net(Conv1d(1, 8, 3, length=16), ReLU(), Conv1d(8, 8, 3, stride=2, bias=True))
    >>> parse_net("Linear(4,4),Residual(Linear(4,4),ReLU,Linear(4,4))", "net:...")
    net(Linear(4, 4), Residual(Linear(4, 4), ReLU(), Linear(4, 4)))
    >>> parse_net("Attention(8,4,tokens=4)", "net:...")
    net(Attention(8, 4, 2, tokens=4))
    >>> parse_net("Linear(3,4),Conv(2)", "net:Linear(3,4),Conv(2)")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' has an unknown layer 2, 'Conv(2)': expected Linear(n_in,n_out[,bias]), ReLU, ..., in 'net:Linear(3,4),Conv(2)'.
    >>> parse_net("Linear(0,3)", "net:Linear(0,3)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' layer 1, 'Linear(0,3)', must have positive int sizes (n_in, n_out), not (0, 3), in 'net:Linear(0,3)'.
    >>> parse_net("Conv1d(1,2,5,length=4)", "net:Conv1d(1,2,5,length=4)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' is not a network: layer 1 (conv) has kernel 5 larger than its input (size 4), in 'net:Conv1d(1,2,5,length=4)'.
    """
    layers = parse_layers(body, spec, where)
    prog = Program(tuple(layers))
    try:
        canonical = prog.canonical()
        checked = check_blocks(canonical) if prog.blocks else check_layers(canonical)
    except InputError as err:
        raise InputError(f"Argument {where!r}: {err}") from None
    except ValueError as err:
        raise InputError(f"Argument {where!r} is not a network: {err}, in "
                         f"{clip_text(spec)!r}.") from None
    problem = size_problem(checked, MAX_PARAMETERS)
    if problem is not None:
        raise ResourceError(f"Argument {where!r} is too large: {problem}, in {clip_text(spec)!r}.")
    return prog
