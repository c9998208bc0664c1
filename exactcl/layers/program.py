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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from math import prod

from ..kernel.blocks import (
    MAX_LAYERS,
    MAX_NESTING,
    MAX_POSITIONS,
    MAX_TOKENS,
    BlockLayout,
    check_blocks,
    count_text,
    size_problem,
)
from ..kernel.errors import InputError, ResourceError
from ..kernel.evaluator import Layout, check_layers
from ..limits import MAX_INT_DIGITS, MAX_PARAMETERS, MAX_SPEC_CHARS

__all__ = ["Attention", "Conv1d", "Conv2d", "Linear", "LinearAttention", "Program", "ReLU",
           "Residual", "check_spec_text", "from_family", "net", "parse_net"]

#: Quoted text (a layer, a spec) in messages is cut to this many characters.
QUOTE_CHARS = 100


def show_value(value: object) -> str:
    """repr of a value for messages, but an int of more than 40 digits (which
    Python may refuse to print) or a list of more than 20 items as its size.

    >>> show_value((3, 10**5000)), show_value([1] * 10**6)
    ('(3, about 10^5000)', 'a list of 1,000,000 items')
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return count_text(value)
    if isinstance(value, (list, tuple)):
        if len(value) > 20:
            return f"a {type(value).__name__} of {len(value):,} items"
        inner = ", ".join(map(show_value, value))
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def clip_text(text: str) -> str:
    """``text`` for a message, cut to QUOTE_CHARS characters."""
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS - 1] + "\u2026"


def _size(layer: str, what: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"Argument {what!r} of {layer} must be a positive int, not "
                         f"{show_value(value)}.")
    return value


def _check_parameters(layer: str, arguments: str, D: int, detail: str = "") -> None:
    """Refuse a layer whose own parameters pass MAX_PARAMETERS."""
    if D > MAX_PARAMETERS:
        raise ResourceError(f"Arguments {arguments} of {layer} give {count_text(D)} parameters"
                            f"{detail}; the limit is {MAX_PARAMETERS:,}.")


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
        text = f"Linear({show_value(self.in_features)}, {show_value(self.out_features)})"
        _size(text, "in_features", self.in_features)
        _size(text, "out_features", self.out_features)
        if not isinstance(self.bias, bool):
            raise InputError(f"Argument 'bias' of {text} must be a bool, not "
                             f"{show_value(self.bias)}.")
        _check_parameters(text, "'in_features' and 'out_features'",
                          self.in_features * self.out_features + self.bias * self.out_features)

    def __repr__(self) -> str:
        extra = ", bias=True" if self.bias else ""
        return f"Linear({self.in_features}, {self.out_features}{extra})"

    def canonical(self, size=None) -> list:
        return ["linear", self.in_features, self.out_features, self.bias]

    def spec(self) -> str:
        return f"Linear({self.in_features},{self.out_features}{',bias' if self.bias else ''})"


@dataclass(frozen=True)
class ReLU:
    """A ReLU on a fixed activation pattern: phi keeps one indicator per
    neuron (the path-lifting), see :mod:`exactcl.kernel.evaluator`."""

    def __repr__(self) -> str:
        return "ReLU()"

    def canonical(self, size=None) -> list:
        return ["relu"]

    def spec(self) -> str:
        return "ReLU"


def _pair(layer: str, what: str, value: object, dims: int) -> tuple[int, ...]:
    """A size of a convolution: one positive int, or ``dims`` of them."""
    values = (value,) * dims if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(values, (tuple, list)) or len(values) != dims
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values)):
        want = "a positive int" if dims == 1 else "a positive int or a pair of them"
        raise InputError(f"Argument {what!r} of {layer} must be {want}, not {show_value(value)}.")
    return tuple(values)


@dataclass(frozen=True)
class _Conv:
    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    bias: bool = False
    size: int | tuple[int, ...] | None = None

    dims = 1
    label = "Conv1d"
    size_name = "size"

    def __post_init__(self) -> None:
        text = (f"{self.label}({show_value(self.in_channels)}, {show_value(self.out_channels)}, "
                f"{show_value(self.kernel_size)})")
        _size(text, "in_channels", self.in_channels)
        _size(text, "out_channels", self.out_channels)
        object.__setattr__(self, "kernel_size", _pair(text, "kernel_size", self.kernel_size,
                                                      self.dims))
        object.__setattr__(self, "stride", _pair(text, "stride", self.stride, self.dims))
        if self.size is not None:
            object.__setattr__(self, "size", _pair(text, self.size_name, self.size, self.dims))
        if not isinstance(self.bias, bool):
            raise InputError(f"Argument 'bias' of {text} must be a bool, not "
                             f"{show_value(self.bias)}.")
        if max(self.stride) > MAX_POSITIONS:  # an input has at most as many positions
            raise ResourceError(f"Argument 'stride' of {text} is "
                                f"{show_value(self._one(self.stride))}; the limit is "
                                f"{MAX_POSITIONS:,}.")
        if self.size is not None and prod(self.size) > MAX_POSITIONS:
            raise ResourceError(f"Argument {self.size_name!r} of {text} gives an input of "
                                f"{count_text(prod(self.size))} positions; the limit is "
                                f"{MAX_POSITIONS:,}.")
        _check_parameters(text, "'in_channels', 'out_channels' and 'kernel_size'",
                          self.in_channels * self.out_channels * prod(self.kernel_size)
                          + self.bias * self.out_channels)

    def _one(self, values: tuple[int, ...]):
        return values[0] if self.dims == 1 else values

    def __repr__(self) -> str:
        extra = ""
        if self.stride != (1,) * self.dims:
            extra += f", stride={self._one(self.stride)}"
        if self.bias:
            extra += ", bias=True"
        if self.size is not None:
            extra += f", {self.size_name}={self._one(self.size)}"
        return (f"{self.label}({self.in_channels}, {self.out_channels}, "
                f"{self._one(self.kernel_size)}{extra})")

    def canonical(self, size: tuple[int, ...] | None = None) -> list:
        size = self.size if size is None else size
        return ["conv", self.in_channels, self.out_channels, list(self.kernel_size),
                list(self.stride), self.bias, list(size) if size is not None else None]

    def spec(self) -> str:
        def text(values):
            return "x".join(map(str, values))
        out = f"{self.label}({self.in_channels},{self.out_channels},{text(self.kernel_size)}"
        if self.stride != (1,) * self.dims:
            out += f",stride={text(self.stride)}"
        if self.bias:
            out += ",bias"
        if self.size is not None:
            out += f",{self.size_name}={text(self.size)}"
        return out + ")"


class Conv1d(_Conv):
    """A 1-D convolution with weight sharing and valid padding: channels x
    positions in, the kernel ``K{l}_{o}_{i}_{t}`` (out channel, in
    channel, offset), one bias per output channel. The first convolution
    of a program names its input ``length``.

    >>> Conv1d(1, 8, 3, length=16)
    Conv1d(1, 8, 3, length=16)
    >>> Conv1d(1, 8, 0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'kernel_size' of Conv1d(1, 8, 0) must be a positive int, not 0.
    """

    size_name = "length"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = False, length: int | None = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, bias, length)


class Conv2d(_Conv):
    """A 2-D convolution (kernel ``K{l}_{o}_{i}_{r}_{c}``); the first of a
    program names its input ``size`` (height, width).

    >>> Conv2d(1, 2, 2, size=(3, 3))
    Conv2d(1, 2, (2, 2), size=(3, 3))
    """

    dims = 2
    label = "Conv2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 bias: bool = False, size=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, bias, size)


@dataclass(frozen=True, init=False)
class Residual:
    """x -> x + block(x): the block must give its input's shape.

    >>> Residual(Linear(4, 4), ReLU(), Linear(4, 4))
    Residual(Linear(4, 4), ReLU(), Linear(4, 4))
    """

    layers: tuple

    def __init__(self, *layers) -> None:
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        _check_layer_count(layers, "Argument 'layers' of Residual")
        _check_layer_objects(layers, "Residual")
        depth, count = _tree_sizes(layers)
        if depth + 1 > MAX_NESTING:
            raise InputError(f"Argument 'layers' of Residual nests residual blocks {depth + 1} "
                             f"deep; the limit is {MAX_NESTING}.")
        if count + 1 > MAX_LAYERS:
            raise ResourceError(f"Argument 'layers' of Residual makes a block of {count + 1:,} "
                                f"layers (itself and those of nested blocks included); the limit "
                                f"is {MAX_LAYERS:,}.")
        object.__setattr__(self, "layers", tuple(layers))

    def __repr__(self) -> str:
        return "Residual(" + ", ".join(map(repr, self.layers)) + ")"

    def canonical(self, size=None) -> list:
        return ["residual", _canonical(self.layers)]

    def spec(self) -> str:
        return "Residual(" + ",".join(layer.spec() for layer in self.layers) + ")"


@dataclass(frozen=True)
class Attention:
    """Multi-head attention as a model of its own: per head h,
    Q_h, K_h, V_h, O_h of shape ``head_dim`` x ``d`` (``Q{h}_{a}_{b}``...),
    A_h = Q_h^T K_h and B_h = V_h^T O_h. ``kind`` is ``"softmax"``
    (softmax attention through its Taylor terms of orders 1 and 3 on
    ``tokens`` tokens), ``"factors"`` (phi = (A_h, B_h)_h) or ``"linear"``
    (softmax-free attention, see :class:`LinearAttention`); the default
    head dimension is d / heads. See :mod:`exactcl.kernel.blocks`.

    >>> Attention(8, 4).head_dim
    2
    >>> Attention(8, 3)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'heads' of Attention(8, 3) must divide the model dimension d = 8 when head_dim is not given, not 3.
    """

    d: int
    heads: int = 1
    head_dim: int | None = None
    tokens: int = 3
    kind: str = "softmax"

    def __post_init__(self) -> None:
        text = f"{type(self).__name__}({show_value(self.d)}, {show_value(self.heads)})"
        _size(text, "d", self.d)
        _size(text, "heads", self.heads)
        _size(text, "tokens", self.tokens)
        if self.head_dim is None:
            if self.d % self.heads:
                raise InputError(f"Argument 'heads' of {text} must divide the model dimension "
                                 f"d = {show_value(self.d)} when head_dim is not given, not "
                                 f"{show_value(self.heads)}.")
            object.__setattr__(self, "head_dim", self.d // self.heads)
        _size(text, "head_dim", self.head_dim)
        if self.tokens > MAX_TOKENS:
            raise ResourceError(f"Argument 'tokens' of {text} is {count_text(self.tokens)}; the "
                                f"limit is {MAX_TOKENS}.")
        _check_parameters(text, "'d', 'heads' and 'head_dim'",
                          4 * self.heads * self.head_dim * self.d, " (4 x heads x head_dim x d)")
        from ..kernel.blocks import ATTENTION_KINDS
        if self.kind not in ATTENTION_KINDS:
            raise InputError(f"Argument 'kind' of {text} must be one of "
                             f"{', '.join(ATTENTION_KINDS)}, not {show_value(self.kind)}.")

    def __repr__(self) -> str:
        extra = "" if self.tokens == 3 else f", tokens={self.tokens}"
        if type(self) is Attention and self.kind != "softmax":
            extra += f", kind={self.kind!r}"
        return f"{type(self).__name__}({self.d}, {self.heads}, {self.head_dim}{extra})"

    def canonical(self, size=None) -> list:
        return ["attention", self.kind, self.d, self.heads, self.head_dim, self.tokens]

    def spec(self) -> str:
        extra = "" if self.tokens == 3 else f",tokens={self.tokens}"
        if type(self) is Attention and self.kind != "softmax":
            extra += f",{self.kind}"
        return f"{type(self).__name__}({self.d},{self.heads},{self.head_dim}{extra})"


class LinearAttention(Attention):
    """Softmax-free attention, g(X) = sum_h X A_h X^T X B_h: polynomial end
    to end, a model of its own.

    >>> LinearAttention(4, 2)
    LinearAttention(4, 2, 2)
    """

    def __init__(self, d: int, heads: int = 1, head_dim: int | None = None,
                 tokens: int = 3) -> None:
        super().__init__(d, heads, head_dim, tokens, "linear")


Layer = Linear | ReLU | Conv1d | Conv2d | Residual | Attention
_LAYER_TYPES = (Linear, ReLU, _Conv, Residual, Attention)


_CALLS = {"ReLU": "ReLU()", "Linear": "Linear(n_in, n_out)",
          "Conv1d": "Conv1d(c_in, c_out, k)", "Conv2d": "Conv2d(c_in, c_out, k)",
          "Residual": "Residual(layers...)", "Attention": "Attention(d, heads)",
          "LinearAttention": "LinearAttention(d, heads)"}


def _check_layer_objects(layers, where: str) -> None:
    for n, layer in enumerate(layers, 1):
        if not isinstance(layer, _LAYER_TYPES):
            if isinstance(layer, type) and issubclass(layer, _LAYER_TYPES):
                call = _CALLS.get(layer.__name__, f"{layer.__name__}(...)")
                what = f"the class {layer.__name__} (layer {n}; write {call})"
            else:
                what = f"{layer!r} (layer {n}, a {type(layer).__name__})"
            raise InputError(f"Argument 'layers' of {where} must be exactcl layers such as "
                             f"Linear(3, 4) or ReLU(), not {what}.")


def _check_layer_count(layers, where: str) -> None:
    """Refuse more than MAX_LAYERS layers before any is looked at (``where``
    names the argument)."""
    if len(layers) > MAX_LAYERS:
        raise ResourceError(f"{where} has {len(layers):,} layers; the limit is {MAX_LAYERS:,}.")


def _tree_sizes(layers) -> tuple[int, int]:
    """(nesting depth of residual blocks, number of layers, those of residual
    blocks included) of checked layers: each Residual was refused when built
    if it nests deeper than MAX_NESTING, so this recursion is that shallow."""
    depth, count = 0, len(layers)
    for layer in layers:
        if isinstance(layer, Residual):
            inner_depth, inner_count = _tree_sizes(layer.layers)
            depth, count = max(depth, inner_depth + 1), count + inner_count
    return depth, count


def _canonical(layers, shape=None) -> list[list]:
    """The canonical layers, with each convolution's input size filled in from
    the layers before it (a size a layer names is kept, and checked)."""
    out = []
    for layer in layers:
        if isinstance(layer, _Conv):
            size = layer.size
            if size is None and shape is not None and shape[1] is not None:
                size = shape[1]
            if size is None:
                raise InputError(f"Argument '{layer.size_name}' of {layer!r} is needed: the "
                                 f"first convolution of a program must name its input's "
                                 f"{layer.size_name}.")
            out.append(layer.canonical(size))
            shape = (layer.out_channels, tuple((s - k) // t + 1 for s, k, t in
                                               zip(size, layer.kernel_size, layer.stride)))
        elif isinstance(layer, Linear):
            out.append(layer.canonical())
            shape = (layer.out_features, None)
        elif isinstance(layer, Residual):
            out.append(["residual", _canonical(layer.layers, shape)])
        else:
            out.append(layer.canonical())
    return out


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
        """Whether the program has residual, convolutional or attention layers."""
        return any(not isinstance(layer, (Linear, ReLU)) for layer in self.layers)

    def canonical(self) -> list[list]:
        """The layers as certificates store them."""
        return _canonical(self.layers)

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
    _check_layer_count(prog.layers, where)
    count = _tree_sizes(prog.layers)[1]
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
    _check_layer_count(layers, "Argument 'layers' of net")
    _check_layer_objects(layers, "net")
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


_SPEC_LAYERS = ("Linear(n_in,n_out[,bias]), ReLU, Conv1d(c_in,c_out,k[,stride=s][,bias]"
                "[,length=n]), Conv2d(c_in,c_out,kxk[,stride=s][,bias][,size=hxw]), "
                "Residual(layers...), Attention(d,heads[,head_dim][,tokens=n][,factors|linear]) "
                "or LinearAttention(d,heads[,head_dim][,tokens=n])")


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


def _spec_int(text: str) -> int | None:
    # check_spec_text has refused every integer of more than MAX_INT_DIGITS digits
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


_LONG_INT = re.compile(rf"(?<![0-9])0*([1-9][0-9]{{{MAX_INT_DIGITS},}})")


def check_spec_text(text: str, where: str = "SPEC", spec: str | None = None) -> None:
    """Refuse, before anything parses it, a spec ``text`` of more than
    MAX_SPEC_CHARS characters or holding an integer of more than
    MAX_INT_DIGITS digits (``spec``, the whole spec, is quoted).

    >>> check_spec_text("relu:2,12345678901234567890,2", "SPEC")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' has an integer of 20 digits; the limit is 18, in 'relu:2,12345678901234567890,2'.
    """
    spec = text if spec is None else spec
    if len(text) > MAX_SPEC_CHARS:
        raise InputError(f"Argument {where!r} has {len(text):,} characters; the limit is "
                         f"{MAX_SPEC_CHARS:,}, in {clip_text(spec)!r}.")
    long = _LONG_INT.search(text)
    if long is not None:
        raise InputError(f"Argument {where!r} has an integer of {len(long.group(1)):,} digits; "
                         f"the limit is {MAX_INT_DIGITS}, in {clip_text(spec)!r}.")


def _spec_sizes(text: str) -> tuple[int, ...] | None:
    parts = [_spec_int(p) for p in text.lower().split("x")]
    return None if None in parts or len(parts) > 2 else tuple(parts)


def _parse_layer(text: str, n: str, spec: str, where: str, layers: list[int],
                 depth: int = 0) -> Layer:
    """The layer of spec ``text``, layer ``n``; ``layers`` counts the layers
    parsed (one item), ``depth`` the residual blocks around this one."""
    def fail(why: str) -> InputError:
        return InputError(f"Argument {where!r} layer {n}, {clip_text(text)!r}, {why}, in "
                          f"{clip_text(spec)!r}.")

    layers[0] += 1
    if layers[0] > MAX_LAYERS:
        raise ResourceError(f"Argument {where!r} has more than {MAX_LAYERS:,} layers (those of "
                            f"residual blocks included); the limit is {MAX_LAYERS:,}, in "
                            f"{clip_text(spec)!r}.")
    m = re.fullmatch(r"([A-Za-z0-9]+)(?:\((.*)\))?", text.replace(" ", ""), re.DOTALL)
    if m is None:
        raise InputError(f"Argument {where!r} has an unknown layer {n}, {clip_text(text)!r}: "
                         f"expected {_SPEC_LAYERS}, in {clip_text(spec)!r}.")
    name, body = m.group(1).lower(), m.group(2)
    if name == "relu" and not body:
        return ReLU()
    if name == "residual":
        if not body:
            raise fail("must list the layers of its block")
        if depth >= MAX_NESTING:
            raise fail(f"nests residual blocks {depth + 1} deep; the limit is {MAX_NESTING}")
        return Residual(*[_parse_layer(piece.strip(), f"{n}.{k}", spec, where, layers, depth + 1)
                          for k, piece in enumerate(_split_layers(body), 1)])
    args = _split_layers(body) if body else []
    plain = [a for a in args if "=" not in a]
    keys = dict(a.split("=", 1) for a in args if "=" in a)
    if name == "linear":
        if len(plain) not in (2, 3) or keys or (len(plain) == 3 and plain[2].lower() != "bias"):
            raise InputError(f"Argument {where!r} has an unknown layer {n}, {clip_text(text)!r}: "
                             f"expected {_SPEC_LAYERS}, in {clip_text(spec)!r}.")
        sizes = [_spec_int(p) for p in plain[:2]]
        if None in sizes or min(sizes) < 1:
            raise fail(f"must have positive int sizes (n_in, n_out), not ({plain[0]}, {plain[1]})")
        return Linear(sizes[0], sizes[1], bias=len(plain) == 3)
    if name in ("conv1d", "conv2d"):
        dims = 1 if name == "conv1d" else 2
        flags = [a.lower() for a in plain[3:]]
        size_key = "length" if dims == 1 else "size"
        unknown = [k for k in keys if k.lower() not in ("stride", size_key)]
        if len(plain) < 3 or any(f != "bias" for f in flags) or unknown:
            raise fail(f"must be {'Conv1d(c_in,c_out,k' if dims == 1 else 'Conv2d(c_in,c_out,kxk'}"
                       f"[,stride=s][,bias][,{size_key}=...])")
        values = {}
        for label, raw in (("c_in", plain[0]), ("c_out", plain[1]), ("kernel", plain[2])) + tuple(
                (k.lower(), v) for k, v in keys.items()):
            got = _spec_sizes(raw)
            if got is None or min(got) < 1 or (label in ("c_in", "c_out") and len(got) != 1):
                raise fail(f"must have a positive int {label}, not {raw!r}")
            values[label] = got if len(got) > 1 else got[0]
        if values.get("stride") == 0:
            raise fail("must have a positive stride, not 0")
        kwargs = {"stride": values.get("stride", 1), "bias": bool(flags)}
        kwargs["length" if dims == 1 else "size"] = values.get(size_key)
        cls = Conv1d if dims == 1 else Conv2d
        return cls(values["c_in"], values["c_out"], values["kernel"], **kwargs)
    if name in ("attention", "linearattention"):
        flags = [a.lower() for a in plain if _spec_int(a) is None]
        sizes = [_spec_int(a) for a in plain if _spec_int(a) is not None]
        kinds = ("factors", "linear", "softmax") if name == "attention" else ()
        unknown = [k for k in keys if k.lower() != "tokens"]
        if not 1 <= len(sizes) <= 3 or len(flags) > 1 or any(f not in kinds for f in flags) or unknown:
            raise fail(f"must be {'Attention' if kinds else 'LinearAttention'}(d,heads[,head_dim]"
                       f"[,tokens=n]{'[,factors|linear]' if kinds else ''})")
        tokens = _spec_int(keys.get("tokens", "3"))
        if tokens is None or tokens < 1:
            raise fail(f"must have a positive int tokens, not {keys.get('tokens')!r}")
        d, heads, head = (sizes + [1, None])[:3] if len(sizes) == 1 else (sizes + [None])[:3]
        if name == "linearattention":
            return LinearAttention(d, heads, head, tokens)
        return Attention(d, heads, head, tokens, flags[0] if flags else "softmax")
    raise InputError(f"Argument {where!r} has an unknown layer {n}, {clip_text(text)!r}: expected "
                     f"{_SPEC_LAYERS}, in {clip_text(spec)!r}.")


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
    >>> parse_net("Linear(3,4),Conv(2)", "net:Linear(3,4),Conv(2)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' has an unknown layer 2, 'Conv(2)': expected Linear(n_in,n_out[,bias]), ReLU, Conv1d(c_in,c_out,k[,stride=s][,bias][,length=n]), Conv2d(c_in,c_out,kxk[,stride=s][,bias][,size=hxw]), Residual(layers...), Attention(d,heads[,head_dim][,tokens=n][,factors|linear]) or LinearAttention(d,heads[,head_dim][,tokens=n]), in 'net:Linear(3,4),Conv(2)'.
    >>> parse_net("Linear(0,3)", "net:Linear(0,3)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' layer 1, 'Linear(0,3)', must have positive int sizes (n_in, n_out), not (0, 3), in 'net:Linear(0,3)'.
    >>> parse_net("Conv1d(1,2,5,length=4)", "net:Conv1d(1,2,5,length=4)")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' is not a network: layer 1 (conv) has kernel 5 larger than its input (size 4), in 'net:Conv1d(1,2,5,length=4)'.
    """
    check_spec_text(body, where, spec)
    pieces = _split_layers(body) if body.strip() else []
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
