"""Reading a torch module: what its forward computes, node by node, with the
identity of every parameter it reads.

A module is traced with ``torch.fx`` (symbolic tracing: the graph of what
``forward`` does, recorded without running it on data). The torch layers
exactcl knows are kept whole as graph nodes (``call_module``); every other
module, a user's subclass of ``nn.Linear`` or ``nn.Sequential`` included,
is traced through, so its own ``forward`` is what is read. ``torch.export``
would give the same graph for these modules, but it runs the module on
example data, specialises shapes and lowers layers to ATen operations,
which would lose the layer structure the program is made of; ``torch.fx``
keeps it and needs no data.

Every node is translated or refused, never skipped. The torch layers,
functions and methods of exactcl's layer types are read by the layer
type's own module (:mod:`exactcl.layers.registry` lists them; this
reader gives them its messages, parameters and steps); the rest is read
here:

* layer types: ``nn.Linear`` and ``F.linear``, ``nn.Conv1d`` /
  ``nn.Conv2d`` and ``F.conv1d`` / ``F.conv2d`` (zero padding, ``'same'``
  and ``'valid'`` included, any stride, dilation and groups) on the
  module's own parameters, ``nn.ReLU``,
  ``F.relu`` / ``torch.relu`` / ``x.relu()`` (in place or not),
  ``nn.MultiheadAttention`` (self-attention, with or without biases, as a
  model by itself or called as ``attn(x, x, x)[0]`` among ``nn.Linear``
  layers applied to each token, ReLUs and residual additions),
  ``nn.TransformerEncoderLayer`` (post-norm, ReLU: read as its forward,
  :mod:`exactcl.torch.transformer`), ``nn.Embedding`` as the
  first layer (one token per example), ``nn.BatchNorm1d`` in training mode
  over the examples of a batch (read with ``batch_size``: every other layer
  then acts on each example), ``nn.BatchNorm2d`` in training mode over the
  examples and positions of a batch of images (read with ``batch_size`` on
  an example shape (C, H, W): every other layer reads one image);
* generic: ``nn.Flatten`` / ``torch.flatten(x, 1)`` / ``x.flatten(1)``
  (all but the batch), ``x.view(x.size(0), -1)`` (or ``reshape``),
  ``nn.Identity``, ``x.contiguous()``, ``nn.Dropout`` in eval mode (or
  with p = 0) and ``F.dropout`` with ``training=False``;
* ``a + b`` (``torch.add``, ``+=``): a residual connection, when one of
  a and b is a value and the other is that value carried further by
  layers (``x + f(x)``).

Parameters are tensors, not names: a parameter read by two layers (a
``nn.Linear`` called twice, tied weights) is refused naming every node
that reads it, since exactcl's programs give each layer parameters of its
own; a parameter with ``requires_grad=False`` is frozen: training does not
move it, so it is a constant of the model, held at the value it has when
the module is read (:func:`exactcl.from_torch`), as is an embedding's row
``padding_idx``; a parameter ``forward`` never reads, a parametrised layer
(``weight_norm``, ``torch.nn.utils.parametrize``), and any module or
parameter hook (which may change the output or the gradient) are refused
by name.

Sizes are bounded before anything is allocated: the example input, and
the patches of every convolution (:data:`MAX_INPUT_ENTRIES`,
:data:`MAX_PATCH_ENTRIES`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from math import prod

from ..kernel.errors import InputError
from ..layers import registry
from ..layers.base import ALONE, PARAMETRISED, PASSES_RESCALING
from ..layers.conv import MAX_PATCH_ENTRIES
from ..layers.registry import torch_functions, torch_methods, torch_modules
from ..layers.residual import Residual
from ..layers.smooth import READ_ACTIVATIONS, UNREAD_ACTIVATIONS
from .transformer import NOT_YET, read_encoder_layer

__all__ = ["MAX_INPUT_ENTRIES", "MAX_PATCH_ENTRIES", "Capture", "capture"]

#: Largest example input, in entries (3 x 128 x 128 is 49,152).
MAX_INPUT_ENTRIES = 2**16


#: torch layers exactcl does not read, with what it reads instead and why.
_NOT_READ = {
    "PReLU": ("a fixed negative slope, nn.LeakyReLU(negative_slope)",
              "whose negative slope is a learnable parameter "
              "(num_parameters={sub.num_parameters})"),
    **{name: (f"one of the activations it reads: {READ_ACTIVATIONS}", what)
       for name, (what, _) in UNREAD_ACTIVATIONS.items()},
}
#: torch functions of the activations exactcl does not read -> what they are.
_NOT_READ_FUNCTIONS = {
    "F.prelu": "whose negative slope is a learnable parameter",
    **{fn: what for what, fns in UNREAD_ACTIVATIONS.values() for fn in fns},
}


@dataclass(frozen=True, eq=False)
class Step:
    """One layer of the program: the fx node that made it, where in the
    module it is, the exactcl layer (a residual's inner steps in ``inner``),
    the parameters it reads as (role, tensor, torch name), and its
    multiply-adds per input."""

    node: str
    where: str
    layer: object
    reads: tuple = ()
    inner: tuple = ()
    cost: int = 0


@dataclass(frozen=True, eq=False)
class Value:
    """A tensor of the forward: the program's steps from the input to it,
    and its shape without the batch."""

    steps: tuple
    shape: tuple


@dataclass(frozen=True, eq=False)
class _Tensor:
    """A tensor read from the module by name (``get_attr``)."""

    tensor: object
    name: str


@dataclass(frozen=True)
class _Batch:
    """The batch size (``x.size(0)``, ``x.shape[0]``)."""


@dataclass(frozen=True, eq=False)
class _Shape:
    """``x.shape`` of a value."""

    value: Value


@dataclass(frozen=True, eq=False)
class _Pair:
    """The (output, weights) pair of a call (``nn.MultiheadAttention``)."""

    value: Value


@dataclass
class Capture:
    """What :func:`capture` read: the steps, in order, and how each node
    was read (``nodes``: fx node name, module path, what it became)."""

    steps: tuple
    nodes: list = field(default_factory=list)
    logit_scale: float = 1.0
    frozen: tuple = ()
    frozen_rows: tuple = ()  # (torch name, row): an embedding's padding_idx
    #: an attention read with batch_first=False (a TransformerEncoderLayer's, on
    #: one sequence): the module is called on each example (tokens, d) unbatched
    unbatched: bool = False

    def flat(self, steps=None):
        """Every step in program order (residual blocks opened)."""
        for s in self.steps if steps is None else steps:
            yield s
            yield from self.flat(s.inner)

    @property
    def cost(self) -> int:
        """Multiply-adds of one exact forward pass."""
        return sum(s.cost for s in self.flat())


def _where(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if node.op == "call_module":
        return str(node.target) or "(the module itself)"
    return next(reversed(stack)) if stack else "(the module itself)"


class _Reader:
    """The state of one reading: the values of the nodes read so far, the
    nodes' records, and what the layer types' translations use (their
    messages, parameters, arguments and steps; :class:`exactcl.layers.base.Layer`)."""

    def __init__(self, torch, module, shape) -> None:
        self.torch, self.nn, self.module, self.shape = torch, torch.nn, module, shape
        self.F = torch.nn.functional
        self.names = _parameter_names(module)
        self.nodes: list = []
        self.logit_scale = 1.0
        self.frozen_rows: list = []
        #: N when the module is read on a batch (a BatchNorm1d in training mode).
        self.batch_size: int | None = None
        #: paths of attentions read with batch_first=False, on one sequence (those
        #: of a TransformerEncoderLayer, :mod:`exactcl.torch.transformer`)
        self.unbatched: set = set()
        self.modules = {getattr(torch.nn, name): t for name, t in torch_modules().items()
                        if hasattr(torch.nn, name)}
        self.functions = [(self._function(name), t) for name, t in torch_functions().items()]

    def _function(self, name: str):
        """The torch function ``"F.name"`` or ``"torch.name"`` names."""
        where, _, attr = name.partition(".")
        return getattr(self.F if where == "F" else self.torch, attr, None)

    # -- messages ------------------------------------------------------------------------

    def refuse(self, node, expected: str, found: str) -> InputError:
        return InputError(f"Argument 'module' has a node exactcl cannot translate: "
                          f"{node.name} (in {_where(node)}) {found}; exactcl expected "
                          f"{expected}.")

    def unknown_module(self, node, sub) -> InputError:
        kind = type(sub)
        extra = (" (a parametrised layer: weight_norm or torch.nn.utils.parametrize)"
                 if "parametriz" in kind.__module__ or kind.__name__.startswith("Parametrized")
                 else "")
        qualified = (f"torch.nn.{kind.__qualname__}" if kind.__module__.startswith("torch.nn.modules")
                     else f"{kind.__module__}.{kind.__qualname__}")
        return self.refuse(node, f"one of {_expected_modules()}", f"is a {qualified}{extra}")

    def unknown_function(self, node, fn) -> InputError:
        return self.refuse(node, _expected_functions(), f"calls {_function_name(fn)}")

    def unknown_method(self, node) -> InputError:
        return self.refuse(node, _expected_methods(),
                           f"calls the tensor method {node.target!r}")

    def where(self, node) -> str:
        """Where in the module ``node`` is, for messages."""
        return _where(node)

    def value(self, node, arg, what: str = "its input") -> Value:
        got = self.env.get(arg) if hasattr(arg, "op") else None
        if not isinstance(got, Value):
            raise self.refuse(node, f"{what} to be a tensor computed from the input",
                              f"reads {_describe(arg, got)}")
        return got

    # -- the graph -----------------------------------------------------------------------

    def read(self, graph) -> Capture:
        self.env: dict = {}
        result = None
        for node in graph.nodes:
            if node.op == "placeholder":
                if any(isinstance(v, Value) for v in self.env.values()):
                    raise self.refuse(node, "a forward of one input",
                                      f"is a second input, {node.target!r}")
                self.env[node] = Value((), self.shape)
            elif node.op == "get_attr":
                self.env[node] = self.attribute(node)
            elif node.op == "call_module":
                self.env[node] = self.call_module(node)
            elif node.op == "call_function":
                self.env[node] = self.call_function(node)
            elif node.op == "call_method":
                self.env[node] = self.call_method(node)
            elif node.op == "output":
                out = node.args[0]
                result = self.value(node, out, "the output")
            else:  # pragma: no cover - fx has no other node kinds
                raise self.refuse(node, "a node of a traced forward", f"is a {node.op}")
        if not result.steps:
            raise InputError("Argument 'module' computes no layer from its input (its output "
                             "is its input).")
        token = getattr(self, "per_token", None)
        if token is not None and self.batch_size is None and not any(s.layer.crosses_tokens
                                         for s in Capture(result.steps).flat()):
            raise self.refuse(token, "its input to be a vector (torch applies a Linear or a "
                              "LayerNorm to the last dimension; exactcl reads that per token "
                              "only in a network "
                              "with a MultiheadAttention: flatten first)",
                              "is applied to each row of a matrix in a network without attention")
        return Capture(result.steps, self.nodes, self.logit_scale, (), tuple(self.frozen_rows),
                       bool(self.unbatched))

    def attribute(self, node):
        obj = self.module
        for part in str(node.target).split("."):
            obj = getattr(obj, part)
        if isinstance(obj, self.torch.Tensor):
            return _Tensor(obj, str(node.target))
        raise self.refuse(node, "a parameter of the module", f"reads {type(obj).__name__} "
                          f"{node.target!r}")

    def shape_error(self, node, x: Value, want: str, layer: str) -> None:
        """Refuse an example input the first layer cannot take."""
        if not x.steps:
            raise InputError(f"Argument 'example_input_shape' must be {want} for the {layer} "
                             f"at {_where(node)} (node {node.name}), the first layer, not "
                             f"{self.shape}.")

    def record(self, node, what: str) -> None:
        self.nodes.append((node.name, _where(node), what))

    def append(self, node, x: Value, layer, shape: tuple, reads: tuple = (),
               cost: int = 0) -> Value:
        """``x`` carried further by ``layer``, giving a tensor of ``shape``:
        ``layer`` reads the parameters ``reads`` (role, tensor, torch name)."""
        self.record(node, repr(layer))
        return Value(x.steps + (Step(node.name, _where(node), layer, reads, cost=cost),), shape)

    def pair(self, value: Value) -> _Pair:
        """The (output, weights) pair of a call whose output is ``value``."""
        return _Pair(value)

    # -- modules -------------------------------------------------------------------------

    def call_module(self, node):
        nn = self.nn
        sub = self.module.get_submodule(node.target)
        kind = type(sub)
        layer = self.modules.get(kind)
        if layer is not None:
            return layer.from_torch_module(self, node, sub)
        if kind is nn.TransformerEncoderLayer:
            return read_encoder_layer(self, node, sub)
        x = self.single_input(node, sub)
        if kind is nn.Identity:
            self.record(node, "identity")
            return x
        if kind is nn.Dropout:
            if sub.training and sub.p > 0:
                raise self.refuse(node, "dropout in eval mode (call module.eval()) or p=0",
                                  f"is a Dropout(p={sub.p}) in training mode, which drops "
                                  f"units at random")
            self.record(node, "identity (dropout in eval mode)")
            return x
        if kind.__name__ in _NOT_READ and kind.__module__.startswith("torch.nn"):
            expected, why = _NOT_READ[kind.__name__]
            raise self.refuse(node, expected, f"is a {kind.__name__}, {why.format(sub=sub)}")
        if kind is nn.Flatten:
            if sub.start_dim != 1 or sub.end_dim != -1:
                raise self.refuse(node, "a Flatten of every dimension but the batch",
                                  f"flattens dimensions {sub.start_dim}..{sub.end_dim}")
            return self.flatten(node, x)
        raise self.unknown_module(node, sub)

    def single_input(self, node, sub) -> Value:
        """The one tensor the module ``sub`` is called on at ``node``."""
        if len(node.args) != 1 or node.kwargs:
            raise self.refuse(node, f"the {type(sub).__name__} called on one tensor",
                              f"calls it with {len(node.args)} arguments and keywords "
                              f"{sorted(node.kwargs)}")
        return self.value(node, node.args[0])

    def own(self, node, sub, roles):
        """The parameters ``roles`` of a layer module, each a real parameter
        of it (not a tensor a hook or a parametrisation recomputes)."""
        path = str(node.target)
        out = []
        for role in roles:
            got = getattr(sub, role, None)
            if got is None:
                out.append(None)
                continue
            if role not in sub._parameters:
                raise self.refuse(node, f"{role} to be a parameter of the layer",
                                  f"has a {role} that is recomputed at every call (a "
                                  f"parametrisation such as the old weight_norm)")
            out.append(_Tensor(got, f"{path}.{role}" if path else role))
        return out

    # -- parameters ----------------------------------------------------------------------

    def param(self, node, arg, role: str):
        if arg is None:
            return None
        got = self.env.get(arg) if hasattr(arg, "op") else None
        if not isinstance(got, _Tensor) or not isinstance(got.tensor, self.nn.Parameter):
            raise self.refuse(node, f"the {role} to be a parameter of the module",
                              f"takes as {role} {_describe(arg, got)}")
        return got

    def canonical(self, tensor, name: str) -> str:
        """The name ``module.named_parameters()`` gives a parameter (the first
        of its aliases), which the parameter map and the laws use."""
        return self.names.get(id(tensor), [name])[0]

    def reads(self, weight, bias) -> tuple:
        out = (("weight", weight.tensor, self.canonical(weight.tensor, weight.name)),)
        if bias is not None:
            out += (("bias", bias.tensor, self.canonical(bias.tensor, bias.name)),)
        return out

    def freeze_row(self, name: str, row: int) -> None:
        """Row ``row`` of ``name`` is frozen (an embedding's padding_idx)."""
        self.frozen_rows.append((name, row))

    def bind(self, node, names, defaults) -> dict:
        """Arguments of a call by name, defaults filled in; unknown keywords refused."""
        return _bind(node, names, defaults, self)

    # -- generic steps -------------------------------------------------------------------

    def flatten(self, node, x: Value) -> Value:
        self.record(node, "flatten (the order exactcl reads a convolution's output in)")
        return Value(x.steps, (prod(x.shape),))

    def add(self, node, a, b) -> Value:
        x, y = self.value(node, a, "a residual's terms"), self.value(node, b, "a residual's terms")
        short, long = (x, y) if len(x.steps) <= len(y.steps) else (y, x)
        n = len(short.steps)
        if ([s.node for s in long.steps[:n]] != [s.node for s in short.steps]
                or n == len(long.steps)):
            raise self.refuse(node, "a residual connection x + f(x), f made of layers",
                              "adds two tensors neither of which is the other carried "
                              "further by layers")
        if short.shape != long.shape:
            raise self.refuse(node, "a residual connection between tensors of one shape",
                              f"adds shapes {short.shape} and {long.shape}")
        inner = long.steps[n:]
        layer = Residual(*[s.layer for s in inner])
        self.record(node, "Residual (x + f(x))")
        return Value(short.steps + (Step(node.name, _where(node), layer, inner=inner),),
                     short.shape)

    # -- functions and methods -----------------------------------------------------------

    def call_function(self, node):
        torch, F = self.torch, self.F
        fn, args, kwargs = node.target, node.args, dict(node.kwargs)
        if fn in (operator.add, operator.iadd, torch.add) and len(args) == 2 and not kwargs:
            return self.add(node, *args)
        layer = next((t for f, t in self.functions if f is fn), None)
        if layer is not None:
            return layer.from_torch_function(self, node, fn)
        if fn is torch.flatten:
            bound = _bind(node, ("input", "start_dim", "end_dim"),
                          {"start_dim": 0, "end_dim": -1}, self)
            return self.flatten_call(node, bound)
        if fn is F.dropout:
            bound = _bind(node, ("input", "p", "training", "inplace"),
                          {"p": 0.5, "training": True, "inplace": False}, self)
            if bound["training"] and bound["p"] > 0:
                raise self.refuse(node, "dropout with training=False or p=0",
                                  f"drops units at random (p={bound['p']}, training=True)")
            self.record(node, "identity (dropout off)")
            return self.value(node, bound["input"])
        if fn is getattr and len(args) == 2 and args[1] == "shape":
            return _Shape(self.value(node, args[0]))
        if fn is operator.getitem and len(args) == 2:
            got = self.env.get(args[0]) if hasattr(args[0], "op") else None
            if isinstance(got, _Shape) and args[1] == 0:
                return _Batch()
            if isinstance(got, _Pair) and args[1] == 0:
                return got.value
            raise self.refuse(node, "the batch size x.shape[0] or attention's output attn(...)[0]",
                              f"indexes {_describe(args[0], got)} with {args[1]!r}")
        unread = next((what for name, what in _NOT_READ_FUNCTIONS.items()
                       if self._function(name) is fn), None)
        if unread is not None:
            raise self.refuse(node, f"one of the activations it reads: {READ_ACTIVATIONS}",
                              f"calls {_function_name(fn)}, {unread}")
        raise self.unknown_function(node, fn)

    def flatten_call(self, node, bound) -> Value:
        x = self.value(node, bound["input"])
        if bound["start_dim"] != 1 or bound["end_dim"] not in (-1, len(x.shape)):
            raise self.refuse(node, "a flatten of every dimension but the batch (start_dim=1)",
                              f"flattens dimensions {bound['start_dim']}..{bound['end_dim']}")
        return self.flatten(node, x)

    def call_method(self, node):
        name, args = node.target, node.args
        x = self.value(node, args[0])
        layer = torch_methods().get(name)
        if layer is not None:
            return layer.from_torch_method(self, node, x)
        if name == "contiguous" and len(args) == 1:
            return x
        if name == "size" and len(args) == 2 and args[1] == 0:
            return _Batch()
        if name == "add" and len(args) == 2 and not node.kwargs:
            return self.add(node, args[0], args[1])
        if name == "flatten":
            bound = _bind(node, ("input", "start_dim", "end_dim"),
                          {"start_dim": 0, "end_dim": -1}, self)
            return self.flatten_call(node, bound)
        if name in ("view", "reshape"):
            sizes = list(args[1:])
            if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
                sizes = list(sizes[0])
            first = self.env.get(sizes[0]) if sizes and hasattr(sizes[0], "op") else None
            if len(sizes) == 2 and isinstance(first, _Batch) and sizes[1] in (-1, prod(x.shape)):
                return self.flatten(node, x)
            if len(sizes) == 2 and sizes[0] == -1 and sizes[1] == prod(x.shape):
                return self.flatten(node, x)
            raise self.refuse(node, f"{name}(x.size(0), -1), a flatten of all but the batch",
                              f"calls {name} with sizes {_sizes_text(sizes, self)}")
        raise self.unknown_method(node)


def _expected_modules() -> str:
    """The torch modules the reader takes: the layer types' (parametrised
    layers first), the generic ones, then the models by themselves."""
    order = sorted(registry.LAYER_TYPES, key=lambda t: {PARAMETRISED: 0, ALONE: 2}.get(t.role, 1))
    layers = [name for t in order if t.role != ALONE for name in t.torch_modules]
    alone = [name for t in order if t.role == ALONE for name in t.torch_modules]
    return ", ".join(layers + ["Flatten", "Identity", "Dropout"] + alone)


def _texts(attribute: str, names: str) -> list[str]:
    """How each layer type names its torch functions or methods in a
    refusal (activations first), the empty ones left out."""
    out = []
    for t in sorted(registry.LAYER_TYPES, key=lambda t: t.role != PASSES_RESCALING):
        text = getattr(t, attribute)
        text = text if text is not None else next(iter(getattr(t, names)), "")
        if text:
            out.append(text)
    return out


def _expected_functions() -> str:
    return ("a layer, " + ", ".join(_texts("torch_function_text", "torch_functions"))
            + ", torch.flatten or a residual +")


def _expected_methods() -> str:
    return (", ".join(_texts("torch_method_text", "torch_methods")
                      + ["flatten", "view/reshape(x.size(0), -1), add"]) + " or contiguous")


def _bind(node, names, defaults, reader) -> dict:
    """Arguments of a call by name, defaults filled in; unknown keywords refused."""
    bound = dict(defaults)
    if len(node.args) > len(names):
        raise reader.refuse(node, f"at most {len(names)} arguments",
                            f"passes {len(node.args)}")
    bound.update(zip(names, node.args))
    for key, value in node.kwargs.items():
        if key not in names:
            raise reader.refuse(node, f"the arguments {', '.join(names)}", f"passes {key}=")
        bound[key] = value
    if "input" not in bound:
        raise reader.refuse(node, "an input tensor", "passes none")
    return bound


def _sizes_text(sizes, reader) -> str:
    return "(" + ", ".join("x.size(0)" if isinstance(reader.env.get(s) if hasattr(s, "op")
                                                     else None, _Batch) else repr(s)
                           for s in sizes) + ")"


def _describe(arg, got) -> str:
    if isinstance(got, _Tensor):
        return f"the tensor {got.name!r}" + ("" if type(got.tensor).__name__ == "Parameter"
                                             else " (not a parameter)")
    if hasattr(arg, "op"):
        return f"node {arg.name}"
    return f"the constant {arg!r}"


def _function_name(fn) -> str:
    """``torch.tanh``, ``operator.mul``, ``torch.nn.functional.gelu``."""
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    if "_VariableFunctionsClass" in name or module in ("torch._C._nn", "torch._C"):
        return f"torch.{getattr(fn, '__name__', name)}"
    module = "operator" if module == "_operator" else module
    return f"{module}.{name}" if module else name


def _parameter_names(module) -> dict:
    """id of each parameter -> its names (the first is the one
    ``named_parameters()`` gives, then its aliases)."""
    names: dict = {}
    for name, p in module.named_parameters(remove_duplicate=False):
        names.setdefault(id(p), []).append(name)
    return names


def _check_hooks(torch, module) -> None:
    from torch.nn.modules import module as mm
    for kind in ("_global_forward_hooks", "_global_forward_pre_hooks",
                 "_global_backward_hooks", "_global_backward_pre_hooks"):
        if getattr(mm, kind, None):
            raise InputError(f"Argument 'module' runs under a global module hook "
                             f"({kind.strip('_').replace('_', ' ')}), which may change its "
                             f"output or gradients; remove it to count the module's laws.")
    for path, sub in module.named_modules():
        for kind in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks",
                     "_backward_pre_hooks"):
            if getattr(sub, kind, None):
                where = path or "(the module itself)"
                raise InputError(f"Argument 'module' has a {kind.strip('_').replace('_', ' ')[:-1]} "
                                 f"on {where} ({type(sub).__name__}), which may change its "
                                 f"output or gradients (weight_norm and other hooks); remove "
                                 f"it to count the module's laws.")
    for name, p in module.named_parameters():
        if getattr(p, "_backward_hooks", None) or getattr(p, "_post_accumulate_grad_hooks",
                                                           None):
            raise InputError(f"Argument 'module' has a gradient hook on the parameter "
                             f"{name!r}, which changes the flow; remove it to count the "
                             f"module's laws.")


def capture(torch, module, shape: tuple[int, ...], batch_size: int | None = None) -> Capture:
    """Trace ``module`` and read its graph (see the module's docstring);
    ``batch_size`` N reads it on a batch of N examples of ``shape`` (a
    vector), the model of a network with a batch normalisation in training
    mode; on images (``shape`` (C, H, W), a BatchNorm2d) every layer but the
    normalisation reads one example of ``shape``, the normalisation the
    batch."""
    import torch.fx as fx
    nn = torch.nn
    if prod(shape) > MAX_INPUT_ENTRIES:
        raise InputError(f"Argument 'example_input_shape' has {prod(shape)} entries, more than "
                         f"the {MAX_INPUT_ENTRIES} exactcl reads; not {shape}.")
    _check_hooks(torch, module)
    for path, sub in module.named_modules():
        why = NOT_YET.get(type(sub).__name__) if type(sub).__module__.startswith("torch.") \
            else None
        if why is not None:
            raise InputError(f"Argument 'module' holds a torch.nn.{type(sub).__name__} at "
                             f"{path or '(the module itself)'}, which exactcl cannot read: "
                             f"{why}.")

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname) -> bool:
            # torch's own layers stay whole (and are translated or refused by
            # their type); a user's module, subclasses included, is traced through
            return type(m).__module__.startswith("torch.") and type(m) is not nn.Sequential

    if batch_size is not None and len(shape) != 3:  # images: one example per layer but BN2d
        if len(shape) != 1:
            raise InputError(f"Argument 'example_input_shape' must be the shape of one example "
                             f"with batch_size, a vector (a BatchNorm1d) or an image (C, H, W) "
                             f"(a BatchNorm2d), not {shape}.")
        shape = (batch_size,) + tuple(shape)
    reader = _Reader(torch, module, shape)
    reader.batch_size = batch_size
    alone = reader.modules.get(type(module))  # a torch layer given by itself
    graph = alone.torch_graph(fx, module) if alone is not None else None
    if type(module) is nn.TransformerEncoderLayer:  # read at one node, as inside a module
        graph = fx.Graph()
        graph.output(graph.create_node("call_module", "", (graph.placeholder("x"),), {},
                                       name="encoder_layer"))
    if graph is None:
        try:
            graph = Tracer().trace(module)
        except Exception as err:  # user code: any error means "cannot be read"
            first = (str(err).strip().splitlines() or [type(err).__name__])[0]
            raise InputError(f"Argument 'module' cannot be traced by torch.fx, so exactcl "
                             f"cannot read what its forward computes: {type(err).__name__}: "
                             f"{first[:200]}") from None
    got = reader.read(graph)
    if batch_size is not None and not any(type(s.layer).__name__ in ("BatchNorm1d", "BatchNorm2d")
                                          for s in got.flat()):
        raise InputError(f"Argument 'batch_size' is for a module with a BatchNorm1d or "
                         f"BatchNorm2d in training "
                         f"mode (one example's output then depends on the batch); this module "
                         f"has none, so its laws do not depend on a batch: leave it out, not "
                         f"batch_size={batch_size}.")
    _check_parameters(module, got, reader.names)
    return got


def _check_parameters(module, got: Capture, names: dict) -> None:
    """Each parameter read once, by a layer, and every parameter read; the
    frozen ones are recorded."""
    seen: dict = {}
    for step in got.flat():
        for _, tensor, _ in step.reads:
            seen.setdefault(id(tensor), []).append(step.node)
    for pid, nodes in seen.items():
        if len(nodes) > 1:
            aliases = names.get(pid, ["?"])
            also = f" (also registered as {', '.join(aliases[1:])})" if len(aliases) > 1 else ""
            raise InputError(f"Argument 'module' uses the parameter {aliases[0]!r}{also} "
                             f"{len(nodes)} times (nodes {', '.join(nodes)}): exactcl's programs "
                             f"give each layer parameters of its own, so shared weights cannot "
                             f"be counted yet.")
    for name, p in module.named_parameters():
        if id(p) not in seen:
            raise InputError(f"Argument 'module' has the parameter {name!r}, which its forward "
                             f"never reads (each of its entries would be a law of its own); "
                             f"remove it or read it.")
    got.frozen = tuple(name for name, p in module.named_parameters() if not p.requires_grad)
    if len(got.frozen) == len(list(module.parameters())):
        raise InputError("Argument 'module' has every parameter frozen (requires_grad=False): "
                         "training moves nothing, so there is no flow to count.")
