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
point without expansion is :mod:`exactcl.evaluator`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from .errors import InputError
from .evaluator import Layout, check_layers

__all__ = ["Linear", "Program", "ReLU", "from_family", "net", "parse_net"]


def _size(layer: str, what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"Argument {what!r} of {layer} must be a positive int, not {value!r}.")
    return value


@dataclass(frozen=True)
class Linear:
    """A dense layer x -> W x (+ b): W has ``out_features`` rows and
    ``in_features`` columns.

    >>> Linear(3, 0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'out_features' of Linear(3, 0) must be a positive int, not 0.
    """

    in_features: int
    out_features: int
    bias: bool = False

    def __post_init__(self) -> None:
        text = f"Linear({self.in_features!r}, {self.out_features!r})"
        _size(text, "in_features", self.in_features)
        _size(text, "out_features", self.out_features)
        if not isinstance(self.bias, bool):
            raise InputError(f"Argument 'bias' of {text} must be a bool, not {self.bias!r}.")

    def __repr__(self) -> str:
        extra = ", bias=True" if self.bias else ""
        return f"Linear({self.in_features}, {self.out_features}{extra})"

    def canonical(self) -> list:
        return ["linear", self.in_features, self.out_features, self.bias]

    def spec(self) -> str:
        return f"Linear({self.in_features},{self.out_features}{',bias' if self.bias else ''})"


@dataclass(frozen=True)
class ReLU:
    """A ReLU on a fixed activation pattern: phi keeps one indicator per
    neuron (the path-lifting), see :mod:`exactcl.evaluator`."""

    def __repr__(self) -> str:
        return "ReLU()"

    def canonical(self) -> list:
        return ["relu"]

    def spec(self) -> str:
        return "ReLU"


Layer = Linear | ReLU


@dataclass(frozen=True, eq=False)
class Program:
    """A model as a composition of layers (build it with :func:`net`)."""

    layers: tuple[Layer, ...]

    @cached_property
    def layout(self) -> Layout:
        return Layout(self.canonical())

    def canonical(self) -> list[list]:
        """The layers as certificates store them."""
        return [layer.canonical() for layer in self.layers]

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


def net(*layers: Layer) -> Program:
    """The program applying ``layers`` in order (input first).

    >>> net("relu")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'layers' must be exactcl layers such as Linear(3, 4) or ReLU(), not 'relu' (layer 1, a str).
    """
    if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
        layers = tuple(layers[0])
    for n, layer in enumerate(layers, 1):
        if not isinstance(layer, (Linear, ReLU)):
            if layer is Linear or layer is ReLU:
                call = "ReLU()" if layer is ReLU else "Linear(n_in, n_out)"
                what = f"the class {layer.__name__} (layer {n}; write {call})"
            else:
                what = f"{layer!r} (layer {n}, a {type(layer).__name__})"
            raise InputError(f"Argument 'layers' must be exactcl layers such as Linear(3, 4) "
                             f"or ReLU(), not {what}.")
    try:
        check_layers([layer.canonical() for layer in layers])
    except ValueError as err:
        raise InputError(f"Argument 'layers' is not a network: {err}.") from None
    return Program(tuple(layers))


def from_family(family: str, widths: tuple[int, ...] | list[int]) -> Program:
    """The program of a short name: ``linear`` (no activation), ``relu``
    (a ReLU after every hidden layer) or ``relu-bias`` (and a bias on every
    hidden layer).

    >>> from_family("relu-bias", [2, 3, 1])
    net(Linear(2, 3, bias=True), ReLU(), Linear(3, 1))
    """
    L = len(widths) - 1
    layers: list[Layer] = []
    for li in range(L):
        hidden = li < L - 1
        layers.append(Linear(widths[li], widths[li + 1], bias=family == "relu-bias" and hidden))
        if family != "linear" and hidden:
            layers.append(ReLU())
    return net(*layers)


_LAYER = re.compile(r"^(linear)\((\s*[^,()]+\s*),(\s*[^,()]+\s*)(?:,\s*(bias)\s*)?\)$|^(relu)(?:\(\))?$",
                    re.IGNORECASE)


def _split_layers(body: str) -> list[str]:
    """The layers of a spec body: split at the commas outside parentheses
    (an empty piece stays, to be refused with its place)."""
    pieces, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch in "()":
            depth = max(depth + (1 if ch == "(" else -1), 0)
        elif ch == "," and depth == 0:
            pieces.append(body[start:i])
            start = i + 1
    return pieces + [body[start:]]


def parse_net(body: str, spec: str, where: str = "SPEC") -> Program:
    """The program of a ``net:`` spec body, ``Linear(3,4),ReLU,Linear(4,2)``
    (``spec`` is the whole spec and ``where`` the argument, for messages).

    >>> parse_net("Linear(3,4),ReLU,Linear(4,2,bias)", "net:...")
    net(Linear(3, 4), ReLU(), Linear(4, 2, bias=True))
    >>> parse_net("Linear(3,4),Conv(2)", "net:Linear(3,4),Conv(2)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' has an unknown layer 2, 'Conv(2)': expected Linear(n_in,n_out), Linear(n_in,n_out,bias) or ReLU, in 'net:Linear(3,4),Conv(2)'.
    >>> parse_net("Linear(0,3)", "net:Linear(0,3)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' layer 1, 'Linear(0,3)', must have positive int sizes (n_in, n_out), not (0, 3), in 'net:Linear(0,3)'.
    """
    pieces = _split_layers(body) if body.strip() else []
    layers: list[Layer] = []
    for n, piece in enumerate(pieces, 1):
        text = piece.strip()
        m = _LAYER.match(text.replace(" ", ""))
        if m is None:
            raise InputError(f"Argument {where!r} has an unknown layer {n}, {text!r}: expected "
                             f"Linear(n_in,n_out), Linear(n_in,n_out,bias) or ReLU, in {spec!r}.")
        if m.group(5):
            layers.append(ReLU())
            continue
        parts = [m.group(2).strip(), m.group(3).strip()]
        sizes = [int(p) if re.fullmatch(r"[+-]?[0-9]+", p) else None for p in parts]
        if None in sizes or min(sizes) < 1:
            raise InputError(f"Argument {where!r} layer {n}, {text!r}, must have positive int "
                             f"sizes (n_in, n_out), not ({parts[0]}, {parts[1]}), in {spec!r}.")
        layers.append(Linear(sizes[0], sizes[1], bias=bool(m.group(4))))
    if not layers:
        raise InputError(f"Argument {where!r} must list layers after 'net:', not {spec!r}.")
    try:
        check_layers([layer.canonical() for layer in layers])
    except ValueError as err:
        raise InputError(f"Argument {where!r} is not a network: {err}, in {spec!r}.") from None
    return Program(tuple(layers))
