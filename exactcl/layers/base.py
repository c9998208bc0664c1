"""What every layer type shares: the messages about its arguments, the spec
arguments as its parser sees them, and the contract a layer type fulfils.

**The contract.** A layer type is a subclass of :class:`Layer` (a frozen
dataclass of its arguments, checked when built) and gives, beside its
class:

* its **canonical kind** (``kinds``: the tag its canonical layers start
  with, ``["linear", 3, 4, False]``), ``canonical(size)``, ``spec()`` and
  ``__repr__``, and the shape its output has (``output_shape``), from which
  the canonical form of the layers after it is filled in
  (:func:`canonical_layers`: a convolution's input size), and whether the
  chain evaluator of dense layers and ReLUs runs it (``chain``);
* its **spec syntax**: the heads it answers to (``spec_heads``, lower
  case), its entry in the help text of spec errors (``spec_help``), and
  ``from_spec``, which builds the layer from a :class:`SpecCall` or refuses
  it with the call's messages;
* its **exact forward rule** (``forward``, on its canonical layer, for
  :mod:`exactcl.layers.forward`);
* its **role for candidate laws** (``role``, one of :data:`ROLES`) and the
  rules that role asks for (:mod:`exactcl.models.blocks`);
* its **torch translation**: the ``torch.nn`` classes (``torch_modules``),
  functions (``torch_functions``, ``"F.relu"`` or ``"torch.relu"``) and
  tensor methods (``torch_methods``) it reads, and the class methods
  reading them given the capture reader (:mod:`exactcl.torch.capture`);
  nothing of torch is imported here: it comes in through the reader.

A layer type is then one line of :mod:`exactcl.layers.registry`; its
semantics over jets, which certificates rest on, is in :mod:`exactcl.kernel`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from ..kernel.errors import InputError, ResourceError, clip_text, count_text, show_value
from ..kernel.reading import MAX_LAYERS
from ..limits import MAX_PARAMETERS

__all__ = ["ALONE", "BARRIER", "BLOCK", "NORMALISATION", "PARAMETRISED", "PASSES_LINEAR", "PASSES_RESCALING",
           "ROLES", "Layer", "SpecCall", "canonical_layers", "check_bool", "check_layer_count",
           "check_layer_objects", "check_pair", "check_parameters", "check_size", "clip_text",
           "show_value", "split_layers", "spec_int", "spec_sizes", "tensor_entries",
           "tree_sizes"]

#: Roles of a layer type for candidate laws (:mod:`exactcl.models.blocks`).
#: A parametrised layer has units (neurons, channels), weights into them and
#: weights of the next parametrised layer reading them; two in a row admit
#: the rescalings of the units between them.
PARAMETRISED = "parametrised"
#: An activation that lets positive diagonal rescalings of its units pass.
PASSES_RESCALING = "passes positive rescalings"
#: A fixed linear map acting alike on every unit (channel), positions mixed
#: within each: it commutes with every invertible map of the units, so the
#: layers on either side rescale as if adjacent (average pooling).
PASSES_LINEAR = "passes invertible maps of units"
#: A block holding a sequence of layers of its own (a residual block).
BLOCK = "block"
#: A model by itself, with candidate laws of its own (attention).
ALONE = "alone"
#: A layer no rescaling passes: the units before and after it are unrelated.
BARRIER = "barrier"
#: A normalisation (LayerNorm): invariant under moves of its input (scale
#: when eps = 0, translation by a multiple of 1), which give laws of the
#: dense layer before it; with affine parameters its units (gamma_j,
#: beta_j) rescale against the next parametrised layer (positive diagonal).
NORMALISATION = "normalisation"
ROLES = (PARAMETRISED, PASSES_RESCALING, BLOCK, ALONE, BARRIER, PASSES_LINEAR, NORMALISATION)


def check_size(layer: str, what: str, value: object) -> int:
    """``value``, argument ``what`` of ``layer``, refused unless a positive int.

    >>> check_size("Linear(3, 0)", "out_features", 0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'out_features' of Linear(3, 0) must be a positive int, not 0.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"Argument {what!r} of {layer} must be a positive int, not "
                         f"{show_value(value)}.")
    return value


def check_pair(layer: str, what: str, value: object, dims: int) -> tuple[int, ...]:
    """A size of a convolution: one positive int, or ``dims`` of them."""
    values = (value,) * dims if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(values, (tuple, list)) or len(values) != dims
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values)):
        want = "a positive int" if dims == 1 else "a positive int or a pair of them"
        raise InputError(f"Argument {what!r} of {layer} must be {want}, not {show_value(value)}.")
    return tuple(values)


def check_bool(layer: str, what: str, value: object) -> None:
    """Refuse an argument ``what`` of ``layer`` that is not a bool."""
    if not isinstance(value, bool):
        raise InputError(f"Argument {what!r} of {layer} must be a bool, not {show_value(value)}.")


def check_parameters(layer: str, arguments: str, D: int, detail: str = "") -> None:
    """Refuse a layer whose own parameters pass MAX_PARAMETERS."""
    if D > MAX_PARAMETERS:
        raise ResourceError(f"Arguments {arguments} of {layer} give {count_text(D)} parameters"
                            f"{detail}; the limit is {MAX_PARAMETERS:,}.")


# -- spec arguments ----------------------------------------------------------------------

def split_layers(body: str) -> list[str]:
    """The pieces of a spec body: split at the commas outside parentheses
    (an empty piece stays, to be refused with its place).

    >>> split_layers("Linear(3,4),ReLU,,Residual(Linear(4,4))")
    ['Linear(3,4)', 'ReLU', '', 'Residual(Linear(4,4))']
    """
    pieces, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch in "()":
            depth = max(depth + (1 if ch == "(" else -1), 0)
        elif ch == "," and depth == 0:
            pieces.append(body[start:i])
            start = i + 1
    return pieces + [body[start:]]


def spec_int(text: str) -> int | None:
    """The int a spec argument writes, None when it writes no int."""
    # check_spec_text has refused every integer of more than MAX_INT_DIGITS digits
    return int(text) if re.fullmatch(r"[0-9]+", text) else None


def spec_sizes(text: str) -> tuple[int, ...] | None:
    """``3`` or ``3x5`` as (3,) or (3, 5), None for anything else."""
    parts = [spec_int(p) for p in text.lower().split("x")]
    return None if None in parts or len(parts) > 2 else tuple(parts)


@dataclass(frozen=True)
class SpecCall:
    """One layer of a ``net:`` spec as its layer type's parser sees it:
    ``Conv1d(1, 8, 3, length=16)`` has the head ``conv1d`` and the body
    ``1,8,3,length=16`` (spaces removed).

    ``n`` is its place (``"2"``, ``"3.1"`` inside a residual block), ``spec``
    the whole spec and ``where`` the argument (both for messages), ``depth``
    the residual blocks around it, ``expected`` the help text of every layer
    type, and ``parse(text, n, depth)`` parses a layer inside this one.
    """

    text: str
    head: str
    body: str | None
    n: str
    spec: str
    where: str
    depth: int
    expected: str
    parse: Callable[[str, str, int], Layer]

    @property
    def args(self) -> list[str]:
        return split_layers(self.body) if self.body else []

    @property
    def plain(self) -> list[str]:
        """The arguments without ``=``."""
        return [a for a in self.args if "=" not in a]

    @property
    def keys(self) -> dict[str, str]:
        """The ``key=value`` arguments, keys as written."""
        return dict(a.split("=", 1) for a in self.args if "=" in a)

    def fail(self, why: str) -> InputError:
        """The error refusing this layer, saying ``why``."""
        return InputError(f"Argument {self.where!r} layer {self.n}, {clip_text(self.text)!r}, "
                          f"{why}, in {clip_text(self.spec)!r}.")

    def unknown(self) -> InputError:
        """The error refusing this layer as no layer of the spec language."""
        return InputError(f"Argument {self.where!r} has an unknown layer {self.n}, "
                          f"{clip_text(self.text)!r}: expected {self.expected}, in "
                          f"{clip_text(self.spec)!r}.")


# -- the contract ------------------------------------------------------------------------

class Layer:
    """What a layer type gives (see the module's docstring); the defaults are
    those of a layer that keeps its input's shape, has no parameter and
    no torch translation.

    Rules on canonical layers (``forward`` and those of its role) are
    static: :mod:`exactcl.layers.registry` finds the type by the layer's
    kind. Its role asks for: ``weights``, ``unit_name`` and ``readers``
    (PARAMETRISED), ``inner`` (BLOCK), ``symmetries``, ``extra_laws``,
    ``extra_sizes`` and ``gradings`` (ALONE).
    """

    #: The kinds of its canonical layers (the first is the one it builds).
    kinds: ClassVar[tuple[str, ...]] = ()
    #: The heads of its layers in a ``net:`` spec, lower case.
    spec_heads: ClassVar[tuple[str, ...]] = ()
    #: Its syntax in the help text of spec errors.
    spec_help: ClassVar[str] = ""
    #: How to build one, for the message refusing the class given as a layer
    #: (read from the class itself, not inherited).
    example: ClassVar[str] = ""
    #: Whether the chain evaluator (:mod:`exactcl.kernel.evaluator`) runs it;
    #: a program with another layer is a block program.
    chain: ClassVar[bool] = False
    #: Its role for candidate laws: one of ROLES.
    role: ClassVar[str] = BARRIER
    #: The argument naming its input's size, when it has one (``length``).
    size_name: ClassVar[str | None] = None
    #: A parametrised layer's units, for the labels of its laws.
    unit_name: ClassVar[str] = "unit"
    #: A parametrised layer's weight tensor: its name without the layer number.
    weights: ClassVar[str] = ""
    #: Whether it mixes the tokens of a network on tokens (attention, a batch
    #: normalisation over a batch's examples): ``forward_tokens`` runs it.
    crosses_tokens: ClassVar[bool] = False
    #: The ``torch.nn`` classes it reads (their names; the class itself, not
    #: a subclass, which is traced through).
    torch_modules: ClassVar[tuple[str, ...]] = ()
    #: The torch functions it reads: ``"F.name"`` (torch.nn.functional) or
    #: ``"torch.name"``.
    torch_functions: ClassVar[tuple[str, ...]] = ()
    #: The tensor methods it reads.
    torch_methods: ClassVar[tuple[str, ...]] = ()
    #: How the refusal of an unknown function or method names its own
    #: (default: the first of each).
    torch_function_text: ClassVar[str | None] = None
    torch_method_text: ClassVar[str | None] = None

    # -- spec and canonical form -----------------------------------------------------

    @classmethod
    def from_spec(cls, call: SpecCall) -> Layer:
        """The layer ``call`` writes, or the call's error."""
        raise call.unknown()

    def canonical(self, size=None) -> list:
        raise NotImplementedError

    def spec(self) -> str:
        raise NotImplementedError

    def canonical_at(self, shape) -> list:
        """The canonical layer after layers giving ``shape``: (channels,
        spatial size or None) or None at the program's input."""
        return self.canonical()

    def output_shape(self, shape):
        """The shape of its output, given that of its input (see canonical_at)."""
        return shape

    @property
    def children(self) -> tuple:
        """The layers it holds (those of a block)."""
        return ()

    def without_size(self) -> Layer:
        """The same layer with its input's size left to the layers before it."""
        return self

    # -- rules on canonical layers ---------------------------------------------------

    @staticmethod
    def forward(layer, run, a: list, shape):
        """(output, its shape) of the canonical ``layer`` on the flattened
        activation ``a`` of shape ``shape`` ((channels, spatial size), or None
        for a vector), exactly. ``run`` (:mod:`exactcl.layers.forward`) gives
        ``value(name)`` of a parameter, the number of the last parametrised
        layer (``layer``), the ReLU ``patterns``, ``logit_scale`` and
        ``sequence(layers, a, shape)`` for the layers of a block."""
        raise ValueError(f"no layer {layer[0]!r} inside a network")

    @staticmethod
    def inner(layer) -> list:
        """A block's rule: the canonical layers it holds."""
        return []

    @staticmethod
    def readers(entries: tuple[int, int, int], layer, channels: int) -> list[list[int]]:
        """A parametrised layer's rule: per unit of the layer before it
        (``channels`` of them), the indices of its weights reading that unit,
        given its weight tensor's (rows, cols, offset) in the layout."""
        raise NotImplementedError

    @staticmethod
    def symmetries(lay) -> list:
        """A model by itself's rule: its rescalings as (units, readers,
        diagonal only, label of the law of units a, b as a format string)."""
        raise NotImplementedError

    @staticmethod
    def extra_laws(lay) -> list:
        """A model by itself's rule: its other candidate laws, as (pairs of
        parameters added, pairs subtracted, label)."""
        return []

    @staticmethod
    def extra_sizes(lay) -> tuple[int, int]:
        """(laws, terms) of :meth:`extra_laws`, from the sizes alone."""
        return 0, 0

    @staticmethod
    def linear_laws(lay) -> list:
        """The last layer's rule: candidate laws linear in the parameters, as
        (parameter indices summed, label); a head's translation symmetry."""
        return []

    @staticmethod
    def gradings(lay) -> tuple[bool, bool]:
        """A model by itself's rule: (whether each unit is a weight of a
        grading of its generators, whether total degree is)."""
        return False, False

    # -- torch translation -----------------------------------------------------------
    # ``reader`` (:mod:`exactcl.torch.capture`) gives the values of nodes
    # (``value``, ``single_input``), parameters (``own``, ``param``, ``reads``,
    # ``canonical``), call arguments (``bind``), refusals (``refuse``,
    # ``shape_error``, ``unknown_*``, ``where``) and steps (``append``, ``pair``).

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        """The value a call of the torch module ``sub`` at fx ``node`` gives."""
        raise reader.unknown_module(node, sub)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        """The value a call of the torch function ``fn`` at ``node`` gives."""
        raise reader.unknown_function(node, fn)

    @classmethod
    def from_torch_method(cls, reader, node, x):
        """The value a call of a tensor method at ``node`` on the value ``x`` gives."""
        raise reader.unknown_method(node)

    @classmethod
    def torch_graph(cls, fx, module):
        """The fx graph of its torch module given by itself, None to trace it."""
        return None


# -- what programs and blocks share ------------------------------------------------------

def canonical_layers(layers, shape=None) -> list[list]:
    """The canonical layers, with each convolution's input size filled in from
    the layers before it (a size a layer names is kept, and checked)."""
    out = []
    for layer in layers:
        out.append(layer.canonical_at(shape))
        shape = layer.output_shape(shape)
    return out


def check_layer_objects(layers, where: str) -> None:
    """Refuse anything in ``layers`` that is not a layer (a layer's class
    too, saying how to build one)."""
    for n, layer in enumerate(layers, 1):
        if not isinstance(layer, Layer):
            if isinstance(layer, type) and issubclass(layer, Layer):
                call = vars(layer).get("example") or f"{layer.__name__}(...)"
                what = f"the class {layer.__name__} (layer {n}; write {call})"
            else:
                what = f"{layer!r} (layer {n}, a {type(layer).__name__})"
            raise InputError(f"Argument 'layers' of {where} must be exactcl layers such as "
                             f"Linear(3, 4) or ReLU(), not {what}.")


def check_layer_count(layers, where: str) -> None:
    """Refuse more than MAX_LAYERS layers before any is looked at (``where``
    names the argument)."""
    if len(layers) > MAX_LAYERS:
        raise ResourceError(f"{where} has {len(layers):,} layers; the limit is {MAX_LAYERS:,}.")


def tree_sizes(layers) -> tuple[int, int]:
    """(nesting depth of blocks, number of layers, those of blocks included)
    of checked layers: each block was refused when built if it nests deeper
    than MAX_NESTING, so this recursion is that shallow."""
    depth, count = 0, len(layers)
    for layer in layers:
        if layer.role == BLOCK:
            inner_depth, inner_count = tree_sizes(layer.children)
            depth, count = max(depth, inner_depth + 1), count + inner_count
    return depth, count


def tensor_entries(lay, prefix: str) -> tuple[int, int, int]:
    """(rows, cols, offset) of the tensor named ``prefix`` of a
    :class:`~exactcl.kernel.blocks.BlockLayout`."""
    _, rows, cols, o = next(t for t in lay.tensors if t[0] == prefix)
    return rows, cols, o
