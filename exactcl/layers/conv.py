"""Convolutions with weight sharing and valid padding: Conv1d and Conv2d,
their specs ``Conv1d(c_in,c_out,k[,stride=s][,bias][,length=n])`` and
``Conv2d(c_in,c_out,kxk[,stride=s][,bias][,size=hxw])``, their canonical
form ``["conv", c_in, c_out, kernel, stride, bias, size]`` (the input's
size filled in from the layers before), their exact forward rule, their
channels for candidate laws, and their torch translation (``nn.Conv1d``,
``nn.Conv2d``, ``F.conv1d``, ``F.conv2d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..kernel.blocks import MAX_POSITIONS, count_text
from ..kernel.errors import InputError, ResourceError
from .base import (
    PARAMETRISED,
    Layer,
    SpecCall,
    check_bool,
    check_pair,
    check_parameters,
    check_size,
    show_value,
    spec_sizes,
)

__all__ = ["MAX_PATCH_ENTRIES", "Conv1d", "Conv2d"]

#: Largest unfolded input of one convolution read from torch (input channels
#: x kernel entries x output positions); the program's evaluator holds its index.
MAX_PATCH_ENTRIES = 2**22


@dataclass(frozen=True)
class _Conv(Layer):
    """What Conv1d and Conv2d share: ``dims`` axes of positions."""

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    bias: bool = False
    size: int | tuple[int, ...] | None = None

    dims = 1
    label = "Conv1d"
    size_name = "size"
    kernel_text = "k"
    kinds = ("conv",)
    role = PARAMETRISED
    unit_name = "channel"
    weights = "K"

    def __post_init__(self) -> None:
        text = (f"{self.label}({show_value(self.in_channels)}, {show_value(self.out_channels)}, "
                f"{show_value(self.kernel_size)})")
        check_size(text, "in_channels", self.in_channels)
        check_size(text, "out_channels", self.out_channels)
        object.__setattr__(self, "kernel_size", check_pair(text, "kernel_size",
                                                           self.kernel_size, self.dims))
        object.__setattr__(self, "stride", check_pair(text, "stride", self.stride, self.dims))
        if self.size is not None:
            object.__setattr__(self, "size", check_pair(text, self.size_name, self.size,
                                                        self.dims))
        check_bool(text, "bias", self.bias)
        if max(self.stride) > MAX_POSITIONS:  # an input has at most as many positions
            raise ResourceError(f"Argument 'stride' of {text} is "
                                f"{show_value(self._one(self.stride))}; the limit is "
                                f"{MAX_POSITIONS:,}.")
        if self.size is not None and prod(self.size) > MAX_POSITIONS:
            raise ResourceError(f"Argument {self.size_name!r} of {text} gives an input of "
                                f"{count_text(prod(self.size))} positions; the limit is "
                                f"{MAX_POSITIONS:,}.")
        check_parameters(text, "'in_channels', 'out_channels' and 'kernel_size'",
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

    def _input_size(self, shape) -> tuple[int, ...]:
        """The size it names, else that of the layers before it."""
        size = self.size
        if size is None and shape is not None and shape[1] is not None:
            size = shape[1]
        if size is None:
            raise InputError(f"Argument '{self.size_name}' of {self!r} is needed: the "
                             f"first convolution of a program must name its input's "
                             f"{self.size_name}.")
        return size

    def canonical_at(self, shape) -> list:
        return self.canonical(self._input_size(shape))

    def output_shape(self, shape):
        size = self._input_size(shape)
        return (self.out_channels, tuple((s - k) // t + 1 for s, k, t in
                                         zip(size, self.kernel_size, self.stride)))

    def without_size(self) -> _Conv:
        return type(self)(self.in_channels, self.out_channels, self._one(self.kernel_size),
                          self._one(self.stride), self.bias, None)

    @classmethod
    def from_spec(cls, call: SpecCall) -> _Conv:
        """``Conv1d(1,8,3,stride=2,bias,length=16)``; ``Conv2d`` with sizes
        ``3x3`` (or one int for both)."""
        plain, keys = call.plain, call.keys
        flags = [a.lower() for a in plain[3:]]
        unknown = [k for k in keys if k.lower() not in ("stride", cls.size_name)]
        if len(plain) < 3 or any(f != "bias" for f in flags) or unknown:
            raise call.fail(f"must be {cls.label}(c_in,c_out,{cls.kernel_text}[,stride=s][,bias]"
                            f"[,{cls.size_name}=...])")
        values = {}
        for label, raw in (("c_in", plain[0]), ("c_out", plain[1]), ("kernel", plain[2])) + tuple(
                (k.lower(), v) for k, v in keys.items()):
            got = spec_sizes(raw)
            if got is None or min(got) < 1 or (label in ("c_in", "c_out") and len(got) != 1):
                raise call.fail(f"must have a positive int {label}, not {raw!r}")
            values[label] = got if len(got) > 1 else got[0]
        if values.get("stride") == 0:
            raise call.fail("must have a positive stride, not 0")
        return cls(values["c_in"], values["c_out"], values["kernel"],
                   **{"stride": values.get("stride", 1), "bias": bool(flags),
                      cls.size_name: values.get(cls.size_name)})

    # -- rules on canonical layers ---------------------------------------------------

    @staticmethod
    def forward(layer, run, a: list, shape):
        """Valid cross-correlation, ``out[o, q] = sum_{i, t} K{l}_{o}_{i}_{t}
        a[i, q * stride + t] + b{l}_{o}`` (2-D positions and offsets row by row)."""
        _, c_in, c_out, kernel, stride, bias, size = layer
        run.layer += 1
        n = run.layer
        kernel, stride, size = list(kernel), list(stride), list(size)
        if len(a) != c_in * prod(size):
            raise ValueError(f"layer K{n} takes {c_in} x {prod(size)} inputs, not {len(a)}")
        out_size = [(s - k) // t + 1 for s, k, t in zip(size, kernel, stride)]
        if len(size) == 1:
            offsets = [(t,) for t in range(kernel[0])]
            positions = [(q,) for q in range(out_size[0])]
        else:
            offsets = [(r, c) for r in range(kernel[0]) for c in range(kernel[1])]
            positions = [(q, r) for q in range(out_size[0]) for r in range(out_size[1])]

        def flat(pos, t) -> int:
            index = 0
            for axis in range(len(size)):
                index = index * size[axis] + pos[axis] * stride[axis] + t[axis]
            return index

        P = prod(size)
        out = []
        for o in range(c_out):
            weights = [(run.value(f"K{n}_{o}_{i}_{'_'.join(map(str, t))}"), i * P, t)
                       for i in range(c_in) for t in offsets]
            b = run.value(f"b{n}_{o}") if bias else 0
            for pos in positions:
                out.append(sum(w * a[base + flat(pos, t)] for w, base, t in weights) + b)
        return out, (c_out, tuple(out_size))

    @staticmethod
    def readers(entries: tuple[int, int, int], layer, channels: int) -> list[list[int]]:
        """Per input channel (``channels`` of them), the indices of the kernel
        entries reading it, the kernel's (rows, cols, offset) given: every
        output channel and offset."""
        rows, cols, o = entries
        offsets = cols // layer[1]
        return [[o + r * cols + c * offsets + t for r in range(rows) for t in range(offsets)]
                for c in range(channels)]

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        weight, bias = reader.own(node, sub, ("weight", "bias"))
        if sub.padding_mode != "zeros" and any(sub.padding):
            raise reader.refuse(node, "zero padding", f"pads with {sub.padding_mode!r}")
        return cls._from_torch(reader, node, x, weight, bias, sub.stride, sub.padding,
                               sub.dilation, sub.groups)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "weight", "bias", "stride", "padding", "dilation",
                                   "groups"), {"bias": None, "stride": 1, "padding": 0,
                                               "dilation": 1, "groups": 1})
        return cls._from_torch(reader, node, reader.value(node, bound["input"]),
                               reader.param(node, bound["weight"], "weight"),
                               reader.param(node, bound["bias"], "bias"), bound["stride"],
                               bound["padding"], bound["dilation"], bound["groups"])

    @classmethod
    def _from_torch(cls, reader, node, x, weight, bias, stride, padding, dilation, groups):
        """The convolution a torch kernel (out, in, *kernel) and its
        arguments make, on ``x``; refused unless valid (padding 0,
        dilation 1, groups 1) and within the sizes exactcl reads."""
        dims, name = cls.dims, cls.label

        def sizes(value):
            return (value,) * dims if isinstance(value, int) else tuple(value)
        stride, dilation = sizes(stride), sizes(dilation)
        zero = padding == "valid" or (not isinstance(padding, str)
                                      and all(p == 0 for p in sizes(padding)))
        if not zero or any(d != 1 for d in dilation) or groups != 1:
            raise reader.refuse(node, "a valid convolution (padding 0, dilation 1, groups 1)",
                                f"is a {name} with padding {padding}, dilation {dilation}, "
                                f"groups {groups}")
        w = weight.tensor
        if w.dim() != dims + 2:
            raise reader.refuse(node, f"a {name} kernel", f"has weight {tuple(w.shape)}")
        c_out, c_in, *kernel = (int(s) for s in w.shape)
        size = cls._torch_input(reader, node, x, c_in, kernel)
        out = tuple((s - k) // t + 1 for s, k, t in zip(size, kernel, stride))
        patches = c_in * prod(kernel) * prod(out)
        if patches > MAX_PATCH_ENTRIES:
            raise InputError(f"Argument 'example_input_shape' makes the {name} at "
                             f"{reader.where(node)} unfold {patches} input entries, more than "
                             f"the {MAX_PATCH_ENTRIES} exactcl reads; not {reader.shape}.")
        one = (lambda v: v[0]) if dims == 1 else (lambda v: v)
        layer = cls(c_in, c_out, one(tuple(kernel)), one(stride), bias is not None, one(size))
        return reader.append(node, x, layer, (c_out,) + out, reader.reads(weight, bias),
                             cost=patches * c_out)

    @classmethod
    def _torch_input(cls, reader, node, x, c_in: int, kernel: list[int]) -> tuple[int, ...]:
        """The spatial size of ``x``, refused unless ``c_in`` channels of at
        most MAX_POSITIONS positions, each axis no shorter than the kernel."""
        dims, name = cls.dims, cls.label
        if len(x.shape) != dims + 1 or x.shape[0] != c_in:
            want = f"({c_in}, {'length' if dims == 1 else 'height, width'})"
            reader.shape_error(node, x, want, name)
            raise reader.refuse(node, f"its input of shape {want}",
                                f"gets its input of shape {x.shape}")
        size = x.shape[1:]
        if any(k > s for k, s in zip(kernel, size)):
            raise reader.refuse(node, f"a kernel no larger than the input {size}",
                                f"has kernel {tuple(kernel)}")
        if prod(size) > MAX_POSITIONS:
            raise InputError(f"Argument 'example_input_shape' gives the {name} at "
                             f"{reader.where(node)} an input of {prod(size)} positions, more "
                             f"than the {MAX_POSITIONS} exactcl counts on; not {reader.shape}.")
        return size


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
    spec_heads = ("conv1d",)
    spec_help = "Conv1d(c_in,c_out,k[,stride=s][,bias][,length=n])"
    example = "Conv1d(c_in, c_out, k)"
    torch_modules = ("Conv1d",)
    torch_functions = ("torch.conv1d",)
    torch_function_text = "F.conv1d/2d"

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
    kernel_text = "kxk"
    spec_heads = ("conv2d",)
    spec_help = "Conv2d(c_in,c_out,kxk[,stride=s][,bias][,size=hxw])"
    example = "Conv2d(c_in, c_out, k)"
    torch_modules = ("Conv2d",)
    torch_functions = ("torch.conv2d",)
    torch_function_text = ""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 bias: bool = False, size=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, bias, size)
