"""Pooling over windows fixed by the shape: AvgPool1d, AvgPool2d,
MaxPool1d, MaxPool2d (specs ``AvgPool1d(k[,stride=s])``,
``MaxPool2d(kxk[,stride=s])``, the stride the kernel by default, as in
torch) and AdaptiveAvgPool1d, AdaptiveAvgPool2d whose output size divides
the input's (specs ``AdaptiveAvgPool1d(n)``, ``AdaptiveAvgPool2d(hxw)``:
global average pooling is ``AdaptiveAvgPool2d(1)``).

Their canonical forms are ``["avgpool", channels, kernel, stride, size]``
and ``["maxpool", channels, kernel, stride, size]`` (kernel, stride and
the input's size lists of 1 or 2 ints; channels and size filled in from
the layer before, which must give channels x positions); an adaptive
average pooling is the average pooling of kernel = stride = size /
output. Their exact forward rules are the rational mean and the max (the
pattern recorded), their roles for candidate laws: an average pooling is
the same linear map on every channel, so it commutes with any invertible
map of the channels (``PASSES_LINEAR``); a max pooling commutes with
positive diagonal rescalings of them (``PASSES_RESCALING``). Their torch
translations read ``nn.AvgPool1d/2d``, ``nn.MaxPool1d/2d``,
``nn.AdaptiveAvgPool1d/2d`` and the functions ``F.avg_pool1d/2d``,
``F.max_pool1d/2d``, ``F.adaptive_avg_pool1d/2d``, with no padding,
dilation 1, ``ceil_mode=False``, no indices returned and no divisor
override.

>>> from exactcl.layers.program import Conv2d, Linear, ReLU, net
>>> prog = net(Conv2d(1, 2, 3, size=(6, 6)), ReLU(), MaxPool2d(2), Linear(8, 1))
>>> prog.spec
'net:Conv2d(1,2,3x3,size=6x6),ReLU,MaxPool2d(2x2),Linear(8,1)'
>>> prog.canonical()[2]
['maxpool', 2, [2, 2], [2, 2], [4, 4]]
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import prod

from ..kernel.blocks import MAX_POSITIONS
from ..kernel.errors import InputError, ResourceError
from ..kernel.layers.pooling import out_size, window_index
from .base import (
    PASSES_LINEAR,
    PASSES_RESCALING,
    Layer,
    SpecCall,
    check_pair,
    show_value,
    spec_sizes,
)

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "MaxPool1d",
           "MaxPool2d"]


def _text(values) -> str:
    return "x".join(map(str, values))


def _article(name: str) -> str:
    return "an" if name[0] in "AEIOU" else "a"


def _spatial(shape) -> tuple[int | None, tuple[int, ...] | None]:
    """(channels, spatial size) of the layers before, None for what they do not give."""
    if shape is None:
        return None, None
    return shape[0], (tuple(shape[1]) if shape[1] is not None else None)


@dataclass(frozen=True)
class _Pool(Layer):
    """What the windowed poolings share: ``dims`` axes of positions, a
    kernel and a stride (the kernel's when not given)."""

    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] | None = None

    dims = 1
    label = "AvgPool1d"
    kernel_text = "k"

    def __post_init__(self) -> None:
        text = f"{self.label}({show_value(self.kernel_size)})"
        kernel = check_pair(text, "kernel_size", self.kernel_size, self.dims)
        stride = kernel if self.stride is None else check_pair(text, "stride", self.stride,
                                                               self.dims)
        for name, values in (("kernel_size", kernel), ("stride", stride)):
            if max(values) > MAX_POSITIONS:  # an input has at most as many positions
                raise ResourceError(f"Argument {name!r} of {text} is "
                                    f"{show_value(self._one(values))}; the limit is "
                                    f"{MAX_POSITIONS:,}.")
        object.__setattr__(self, "kernel_size", kernel)
        object.__setattr__(self, "stride", stride)

    def _one(self, values: tuple[int, ...]):
        return values[0] if self.dims == 1 else values

    def __repr__(self) -> str:
        extra = f", stride={self._one(self.stride)}" if self.stride != self.kernel_size else ""
        return f"{self.label}({self._one(self.kernel_size)}{extra})"

    def spec(self) -> str:
        extra = f",stride={_text(self.stride)}" if self.stride != self.kernel_size else ""
        return f"{self.label}({_text(self.kernel_size)}{extra})"

    def canonical(self, size=None) -> list:
        return self.canonical_at(None)

    def canonical_at(self, shape) -> list:
        """The canonical layer after layers giving ``shape``: channels and
        size from them (None when they give no channels x positions, which
        the network check refuses)."""
        channels, size = _spatial(shape)
        return [self.kinds[0], channels, list(self.kernel_size), list(self.stride),
                list(size) if size is not None else None]

    def output_shape(self, shape):
        channels, size = _spatial(shape)
        if size is None or len(size) != self.dims:
            return shape  # refused by the network check
        return (channels, out_size(size, self.kernel_size, self.stride))

    @classmethod
    def from_spec(cls, call: SpecCall) -> _Pool:
        """``MaxPool1d(2)``, ``AvgPool2d(2x2,stride=1)`` (one int for both axes)."""
        plain, keys = call.plain, call.keys
        usage = f"must be {cls.label}({cls.kernel_text}[,stride=s])"
        if len(plain) != 1 or any(k.lower() != "stride" for k in keys):
            raise call.fail(usage)
        values = {}
        for label, raw in (("kernel", plain[0]),) + tuple((k.lower(), v) for k, v in keys.items()):
            got = spec_sizes(raw)
            if got is None or min(got) < 1 or len(got) > cls.dims:
                raise call.fail(f"must have a positive {label} of {cls.dims} "
                                f"{'int' if cls.dims == 1 else 'ints (or one for both)'}, not "
                                f"{raw!r}")
            values[label] = got if len(got) > 1 else got[0]
        return cls(values["kernel"], values.get("stride"))

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def _from_torch(cls, reader, node, x, kernel, stride, options: dict):
        """The pooling torch's ``kernel`` and ``stride`` make on ``x``, refused
        unless every one of ``options`` (name -> value) has the value exactcl
        reads (padding 0, ceil_mode False, and dilation 1, no indices, no
        divisor override where the call has them)."""
        dims, name = cls.dims, cls.label

        def sizes(value):
            return (value,) * dims if isinstance(value, int) else tuple(value)
        supported = f"{_article(name)} {name} with " + ", ".join(_SUPPORTED[o] for o in options)
        for option, value in options.items():
            sized = option in ("padding", "dilation") and isinstance(value, (int, tuple, list))
            if (sizes(value) if sized else value) != _WANTED[option](dims):
                raise reader.refuse(node, supported,
                                    f"is {_article(name)} {name} with {option}={value!r}")
        kernel = sizes(kernel)
        stride = kernel if stride is None or len(sizes(stride)) == 0 else sizes(stride)
        size = _torch_input(reader, node, x, name, dims, kernel)
        layer = cls(kernel[0] if dims == 1 else kernel, stride[0] if dims == 1 else stride)
        outs = out_size(size, layer.kernel_size, layer.stride)
        return reader.append(node, x, layer, (x.shape[0],) + outs,
                             cost=x.shape[0] * prod(outs) * prod(kernel))


#: What a torch pooling's options must be, as refusals say it, and the value read.
_SUPPORTED = {"padding": "padding 0", "dilation": "dilation 1", "ceil_mode": "ceil_mode=False",
              "return_indices": "return_indices=False", "divisor_override": "divisor_override=None"}
_WANTED = {"padding": lambda dims: (0,) * dims, "dilation": lambda dims: (1,) * dims,
           "ceil_mode": lambda dims: False, "return_indices": lambda dims: False,
           "divisor_override": lambda dims: None}


def _torch_input(reader, node, x, name: str, dims: int, kernel) -> tuple[int, ...]:
    """The spatial size of ``x``, refused unless channels x positions with
    ``dims`` axes, each no shorter than the window."""
    if len(x.shape) != dims + 1:
        want = "(channels, length)" if dims == 1 else "(channels, height, width)"
        reader.shape_error(node, x, want, name)
        raise reader.refuse(node, f"its input of shape {want}",
                            f"gets its input of shape {x.shape}")
    size = tuple(x.shape[1:])
    if any(k > s for k, s in zip(kernel, size)):
        raise reader.refuse(node, f"a window no larger than the input {size}",
                            f"has kernel {tuple(kernel)}")
    return size


class _AvgPool(_Pool):
    """An average pooling: each output the exact mean of its window."""

    kinds = ("avgpool",)
    role = PASSES_LINEAR

    @staticmethod
    def forward(layer, run, a: list, shape):
        """``out[c, o]`` the mean of channel c over window o, an exact rational."""
        return _pooled(layer, a, lambda values, c, o: sum(values) * Fraction(1, len(values)))

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        # count_include_pad only matters with padding, which is refused
        options = {"padding": sub.padding, "ceil_mode": sub.ceil_mode}
        if cls.dims == 2:
            options["divisor_override"] = sub.divisor_override
        return cls._from_torch(reader, node, reader.single_input(node, sub), sub.kernel_size,
                               sub.stride, options)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        names = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                 "divisor_override")[:6 if cls.dims == 1 else 7]
        bound = reader.bind(node, names, {"stride": None, "padding": 0, "ceil_mode": False,
                                          "count_include_pad": True, "divisor_override": None})
        if "kernel_size" not in bound:
            raise reader.refuse(node, "a kernel_size", "passes none")
        options = {"padding": bound["padding"], "ceil_mode": bound["ceil_mode"]}
        if cls.dims == 2:
            options["divisor_override"] = bound["divisor_override"]
        return cls._from_torch(reader, node, reader.value(node, bound["input"]),
                               bound["kernel_size"], bound["stride"], options)


class _MaxPool(_Pool):
    """A max pooling on a fixed activation pattern (one indicator per
    output unit and window element, :mod:`exactcl.kernel.layers.pooling`)."""

    kinds = ("maxpool",)
    role = PASSES_RESCALING

    @staticmethod
    def forward(layer, run, a: list, shape):
        """``out[c, o]`` the max of channel c over window o; the pattern is
        recorded in the kernel's order of the indicators (channel, window
        element, output position): 1 for the element the max takes (the
        first of equal ones), 0 for the others."""
        _, channels, kernel, stride, size = layer
        K, n_out = prod(kernel), prod(out_size(size, kernel, stride))
        pattern = [0] * (channels * K * n_out)

        def take(values, c, o):
            best = max(range(K), key=lambda k: (values[k], -k))
            pattern[(c * K + best) * n_out + o] = 1
            return values[best]
        got = _pooled(layer, a, take)
        run.patterns.append(pattern)
        return got

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        options = {"padding": sub.padding, "dilation": sub.dilation, "ceil_mode": sub.ceil_mode,
                   "return_indices": sub.return_indices}
        return cls._from_torch(reader, node, reader.single_input(node, sub), sub.kernel_size,
                               sub.stride, options)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "kernel_size", "stride", "padding", "dilation",
                                   "ceil_mode", "return_indices"),
                            {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False,
                             "return_indices": False})
        if "kernel_size" not in bound:
            raise reader.refuse(node, "a kernel_size", "passes none")
        options = {name: bound[name] for name in ("padding", "dilation", "ceil_mode",
                                                  "return_indices")}
        return cls._from_torch(reader, node, reader.value(node, bound["input"]),
                               bound["kernel_size"], bound["stride"], options)


def _pooled(layer, a: list, reduce) -> tuple[list, tuple]:
    """(output, its shape) of the canonical pooling ``layer`` on ``a``, each
    window's values (in the kernel's order of its elements) reduced by
    ``reduce(values, c, o)``."""
    _, channels, kernel, stride, size = layer
    if len(a) != channels * prod(size):
        raise ValueError(f"a {layer[0]} takes {channels} x {prod(size)} inputs, not {len(a)}")
    index, K = window_index(channels, kernel, stride, size), prod(kernel)
    outs = out_size(size, kernel, stride)
    n_out = prod(outs)
    # entry (c K + k) n_out + o of the index: element k of window o of channel c
    out = [reduce([a[index[(c * K + k) * n_out + o]] for k in range(K)], c, o)
           for c in range(channels) for o in range(n_out)]
    return out, (channels, outs)


class AvgPool1d(_AvgPool):
    """A 1-D average pooling: ``kernel_size`` positions per window, every
    ``stride`` (the kernel size by default) positions, no padding.

    >>> AvgPool1d(2), AvgPool1d(3, stride=1).spec()
    (AvgPool1d(2), 'AvgPool1d(3,stride=1)')
    >>> AvgPool1d(0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'kernel_size' of AvgPool1d(0) must be a positive int, not 0.
    """

    spec_heads = ("avgpool1d",)
    spec_help = "AvgPool1d(k[,stride=s])"
    example = "AvgPool1d(k)"
    torch_modules = ("AvgPool1d",)
    torch_functions = ("F.avg_pool1d",)
    torch_function_text = "F.avg_pool1d/2d"

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__(kernel_size, stride)


class AvgPool2d(_AvgPool):
    """A 2-D average pooling (windows of ``kernel_size``, one int for both axes).

    >>> AvgPool2d(2).canonical(), AvgPool2d((2, 3), stride=1)
    (['avgpool', None, [2, 2], [2, 2], None], AvgPool2d((2, 3), stride=(1, 1)))
    """

    dims = 2
    label = "AvgPool2d"
    kernel_text = "kxk"
    spec_heads = ("avgpool2d",)
    spec_help = "AvgPool2d(kxk[,stride=s])"
    example = "AvgPool2d(k)"
    torch_modules = ("AvgPool2d",)
    torch_functions = ("F.avg_pool2d",)
    torch_function_text = ""

    def __init__(self, kernel_size, stride=None) -> None:
        super().__init__(kernel_size, stride)


class MaxPool1d(_MaxPool):
    """A 1-D max pooling on a fixed activation pattern.

    >>> MaxPool1d(2, stride=1)
    MaxPool1d(2, stride=1)
    """

    label = "MaxPool1d"
    spec_heads = ("maxpool1d",)
    spec_help = "MaxPool1d(k[,stride=s])"
    example = "MaxPool1d(k)"
    torch_modules = ("MaxPool1d",)
    torch_functions = ("F.max_pool1d",)
    torch_function_text = "F.max_pool1d/2d"

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__(kernel_size, stride)


class MaxPool2d(_MaxPool):
    """A 2-D max pooling on a fixed activation pattern.

    >>> MaxPool2d(2).spec(), MaxPool2d(2, stride=1).spec()
    ('MaxPool2d(2x2)', 'MaxPool2d(2x2,stride=1x1)')
    """

    dims = 2
    label = "MaxPool2d"
    kernel_text = "kxk"
    spec_heads = ("maxpool2d",)
    spec_help = "MaxPool2d(kxk[,stride=s])"
    example = "MaxPool2d(k)"
    torch_modules = ("MaxPool2d",)
    torch_functions = ("F.max_pool2d",)
    torch_function_text = ""

    def __init__(self, kernel_size, stride=None) -> None:
        super().__init__(kernel_size, stride)


@dataclass(frozen=True)
class _AdaptiveAvgPool(Layer):
    """An adaptive average pooling whose output size divides the input's:
    the average pooling of kernel = stride = size / output, fixed by the
    shape of the layer before."""

    output_size: int | tuple[int, ...]

    dims = 1
    label = "AdaptiveAvgPool1d"
    size_text = "n"
    kinds = ("avgpool",)
    role = PASSES_LINEAR

    def __post_init__(self) -> None:
        text = f"{self.label}({show_value(self.output_size)})"
        out = check_pair(text, "output_size", self.output_size, self.dims)
        if max(out) > MAX_POSITIONS:
            raise ResourceError(f"Argument 'output_size' of {text} is "
                                f"{show_value(self._one(out))}; the limit is {MAX_POSITIONS:,}.")
        object.__setattr__(self, "output_size", out)

    def _one(self, values: tuple[int, ...]):
        return values[0] if self.dims == 1 else values

    def __repr__(self) -> str:
        return f"{self.label}({self._one(self.output_size)})"

    def spec(self) -> str:
        return f"{self.label}({_text(self.output_size)})"

    def window(self, size: tuple[int, ...]) -> tuple[int, ...]:
        """The kernel (and stride) on an input of ``size``: size / output,
        refused unless the output size divides it.

        >>> AdaptiveAvgPool2d(1).window((4, 6)), AdaptiveAvgPool1d(2).window((6,))
        ((4, 6), (3,))
        >>> AdaptiveAvgPool1d(4).window((6,))
        Traceback (most recent call last):
        ...
        exactcl.errors.InputError: Argument 'output_size' of AdaptiveAvgPool1d(4) must divide the size of its input, 6 (exactcl pools windows fixed by the shape: kernel = stride = size / output), not 4.
        """
        if len(size) != self.dims:
            raise InputError(f"Argument 'output_size' of {self!r} must have one size per axis "
                             f"of its input's positions, {_text(size)}, not {self.dims}.")
        if any(s % n for s, n in zip(size, self.output_size)):
            raise InputError(f"Argument 'output_size' of {self!r} must divide the size of its "
                             f"input, {_text(size)} (exactcl pools windows fixed by the shape: "
                             f"kernel = stride = size / output), not {_text(self.output_size)}.")
        return tuple(s // n for s, n in zip(size, self.output_size))

    def canonical(self, size=None) -> list:
        return self.canonical_at(None)

    def canonical_at(self, shape) -> list:
        channels, size = _spatial(shape)
        if size is None:  # no channels x positions before: refused by the network check
            return ["avgpool", channels, None, None, None]
        kernel = list(self.window(size))
        return ["avgpool", channels, kernel, kernel, list(size)]

    def output_shape(self, shape):
        channels, size = _spatial(shape)
        return shape if size is None else (channels, self.output_size)

    @classmethod
    def from_spec(cls, call: SpecCall) -> _AdaptiveAvgPool:
        """``AdaptiveAvgPool1d(2)``, ``AdaptiveAvgPool2d(1)`` (one int for both axes)."""
        got = spec_sizes(call.body or "")
        if len(call.args) != 1 or got is None or min(got) < 1 or len(got) > cls.dims:
            raise call.fail(f"must be {cls.label}({cls.size_text}) with a positive output size")
        return cls(got if len(got) > 1 else got[0])

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        return cls._from_torch(reader, node, reader.single_input(node, sub), sub.output_size)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "output_size"), {})
        if "output_size" not in bound:
            raise reader.refuse(node, "an output_size", "passes none")
        return cls._from_torch(reader, node, reader.value(node, bound["input"]),
                               bound["output_size"])

    @classmethod
    def _from_torch(cls, reader, node, x, output_size):
        dims, name = cls.dims, cls.label
        out = (output_size,) * dims if isinstance(output_size, int) else tuple(output_size)
        supported = (f"{_article(name)} {name} whose output size divides its input's (windows "
                     f"fixed by the shape)")
        if len(out) != dims or any(not isinstance(n, int) or n < 1 for n in out):
            raise reader.refuse(node, supported, f"has output_size {output_size!r}")
        size = _torch_input(reader, node, x, name, dims, (1,) * dims)
        if any(s % n for s, n in zip(size, out)):
            raise reader.refuse(node, supported,
                                f"pools an input of size {size} to output_size {output_size!r}")
        layer = cls(out[0] if dims == 1 else out)
        return reader.append(node, x, layer, (x.shape[0],) + out, cost=x.shape[0] * prod(size))


class AdaptiveAvgPool1d(_AdaptiveAvgPool):
    """A 1-D adaptive average pooling to ``output_size`` positions, which must
    divide the input's length.

    >>> AdaptiveAvgPool1d(1), AdaptiveAvgPool1d(2).spec()
    (AdaptiveAvgPool1d(1), 'AdaptiveAvgPool1d(2)')
    """

    spec_heads = ("adaptiveavgpool1d",)
    spec_help = "AdaptiveAvgPool1d(n)"
    example = "AdaptiveAvgPool1d(n)"
    torch_modules = ("AdaptiveAvgPool1d",)
    torch_functions = ("F.adaptive_avg_pool1d",)
    torch_function_text = "F.adaptive_avg_pool1d/2d"

    def __init__(self, output_size: int) -> None:
        super().__init__(output_size)


class AdaptiveAvgPool2d(_AdaptiveAvgPool):
    """A 2-D adaptive average pooling to ``output_size`` (one int for both
    axes), which must divide the input's size; ``AdaptiveAvgPool2d(1)`` is
    global average pooling.

    >>> AdaptiveAvgPool2d(1).spec(), AdaptiveAvgPool2d((2, 3))
    ('AdaptiveAvgPool2d(1x1)', AdaptiveAvgPool2d((2, 3)))
    """

    dims = 2
    label = "AdaptiveAvgPool2d"
    size_text = "hxw"
    spec_heads = ("adaptiveavgpool2d",)
    spec_help = "AdaptiveAvgPool2d(hxw)"
    example = "AdaptiveAvgPool2d(n)"
    torch_modules = ("AdaptiveAvgPool2d",)
    torch_functions = ("F.adaptive_avg_pool2d",)
    torch_function_text = ""

    def __init__(self, output_size) -> None:
        super().__init__(output_size)
