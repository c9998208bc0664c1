"""Convolutions with weight sharing, zero padding, dilation and groups:
Conv1d and Conv2d, their specs
``Conv1d(c_in,c_out,k[,stride=s][,padding=p][,dilation=d][,groups=g][,bias][,length=n])``
and ``Conv2d(c_in,c_out,kxk[,...][,size=hxw])``, their canonical form
``["conv", c_in, c_out, kernel, stride, bias, size]`` for a valid
convolution and ``[..., size, padding, dilation, groups]`` for any other
(the input's size filled in from the layers before), their exact forward
rule, their channels for candidate laws, and their torch translation
(``nn.Conv1d``, ``nn.Conv2d``, ``F.conv1d``, ``F.conv2d``).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..kernel.blocks import MAX_POSITIONS, count_text
from ..kernel.errors import InputError, ResourceError
from ..kernel.layers.conv import conv_parts, out_size, same_padding
from .base import (
    PARAMETRISED,
    Layer,
    SpecCall,
    check_bool,
    check_pair,
    check_parameters,
    check_size,
    show_value,
    spec_int,
    spec_sizes,
)

__all__ = ["MAX_PATCH_ENTRIES", "Conv1d", "Conv2d"]

#: Largest unfolded input of one convolution read from torch (input channels
#: x kernel entries x output positions); the program's evaluator holds its index.
MAX_PATCH_ENTRIES = 2**22


def _padding_pairs(layer: str, value: object, dims: int, kernel, dilation,
                   stride) -> tuple[tuple[int, int], ...]:
    """The (low, high) zeros added on each axis, from a convolution's
    ``padding``: one int for every axis, one per axis, a (low, high) pair
    per axis, ``'valid'`` (none) or ``'same'`` (torch's: stride 1, low =
    total // 2 of a total dilation (k - 1), high the rest).

    >>> _padding_pairs("Conv2d(1, 1, (2, 3))", "same", 2, (2, 3), (1, 1), (1, 1))
    ((0, 1), (1, 1))
    >>> _padding_pairs("Conv1d(1, 1, 3)", -1, 1, (3,), (1,), (1,))
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'padding' of Conv1d(1, 1, 3) must be a non-negative int, a (low, high) pair of them per axis, 'same' or 'valid', not -1.
    """
    def natural(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    if value == "valid":
        return ((0, 0),) * dims
    if value == "same":
        if stride != (1,) * dims:
            shown = show_value(stride[0] if dims == 1 else stride)
            raise InputError(f"Argument 'padding' of {layer} is 'same', which needs stride 1 (as "
                             f"in torch), not stride {shown}.")
        return same_padding(kernel, dilation)
    if natural(value):
        return ((value, value),) * dims
    if isinstance(value, (tuple, list)) and len(value) == dims:
        if all(natural(v) for v in value):
            return tuple((v, v) for v in value)
        if all(isinstance(v, (tuple, list)) and len(v) == 2 and all(map(natural, v))
               for v in value):
            return tuple((low, high) for low, high in value)
    per_axis = " or one per axis" if dims > 1 else ""
    raise InputError(f"Argument 'padding' of {layer} must be a non-negative int{per_axis}, a "
                     f"(low, high) pair of them per axis, 'same' or 'valid', not "
                     f"{show_value(value)}.")


def _check_padding_mode(layer: str, value: object) -> None:
    """Refuse a ``padding_mode`` other than torch's ``'zeros'``.

    >>> _check_padding_mode("Conv1d(1, 2, 3)", "reflect")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'padding_mode' of Conv1d(1, 2, 3) must be 'zeros' (exactcl pads with zeros only), not 'reflect'.
    """
    if not isinstance(value, str) or value != "zeros":
        raise InputError(f"Argument 'padding_mode' of {layer} must be 'zeros' (exactcl pads with "
                         f"zeros only), not {show_value(value)}.")


@dataclass(frozen=True)
class _Conv(Layer):
    """What Conv1d and Conv2d share: ``dims`` axes of positions; ``padding``
    is kept as a (low, high) pair per axis."""

    in_channels: int
    out_channels: int
    kernel_size: int | tuple[int, ...]
    stride: int | tuple[int, ...] = 1
    bias: bool = False
    size: int | tuple[int, ...] | None = None
    padding: object = 0
    dilation: int | tuple[int, ...] = 1
    groups: int = 1

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
        object.__setattr__(self, "dilation", check_pair(text, "dilation", self.dilation,
                                                        self.dims))
        if self.size is not None:
            object.__setattr__(self, "size", check_pair(text, self.size_name, self.size,
                                                        self.dims))
        check_bool(text, "bias", self.bias)
        check_size(text, "groups", self.groups)
        for what in ("stride", "dilation"):  # an input has at most as many positions
            if max(getattr(self, what)) > MAX_POSITIONS:
                raise ResourceError(f"Argument {what!r} of {text} is "
                                    f"{show_value(self._one(getattr(self, what)))}; the limit is "
                                    f"{MAX_POSITIONS:,}.")
        object.__setattr__(self, "padding", _padding_pairs(
            text, self.padding, self.dims, self.kernel_size, self.dilation, self.stride))
        if max(max(pair) for pair in self.padding) > MAX_POSITIONS:
            raise ResourceError(f"Argument 'padding' of {text} is {self._padding_value()!r}; the "
                                f"limit is {MAX_POSITIONS:,}.")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise InputError(f"Argument 'groups' of {text} must divide in_channels "
                             f"{self.in_channels} and out_channels {self.out_channels}, not "
                             f"{self.groups}.")
        if self.size is not None and prod(self.size) > MAX_POSITIONS:
            raise ResourceError(f"Argument {self.size_name!r} of {text} gives an input of "
                                f"{count_text(prod(self.size))} positions; the limit is "
                                f"{MAX_POSITIONS:,}.")
        check_parameters(text, "'in_channels', 'out_channels' and 'kernel_size'",
                         self.in_channels // self.groups * self.out_channels
                         * prod(self.kernel_size) + self.bias * self.out_channels)

    def _one(self, values: tuple[int, ...]):
        return values[0] if self.dims == 1 else values

    @property
    def valid(self) -> bool:
        """Whether it is a valid convolution: no padding, dilation 1, one group."""
        return (self.padding == ((0, 0),) * self.dims and self.dilation == (1,) * self.dims
                and self.groups == 1)

    def _padding_value(self):
        """``padding`` as written: an int (1-D) or one per axis when every
        axis pads as much on both sides, ``'same'`` when it is torch's
        'same', else the (low, high) pairs."""
        if all(low == high for low, high in self.padding):
            return self._one(tuple(low for low, _ in self.padding))
        if self.stride == (1,) * self.dims and self.padding == same_padding(self.kernel_size,
                                                                           self.dilation):
            return "same"
        return self.padding

    def _options(self) -> list[tuple[str, str, str]]:
        """The options away from their defaults, in order: (name, value as
        Python shows it, value as the spec writes it; "" for a flag)."""
        def text(values):
            return "x".join(map(str, values))
        out = []
        if self.stride != (1,) * self.dims:
            out.append(("stride", str(self._one(self.stride)), text(self.stride)))
        if self.padding != ((0, 0),) * self.dims:
            padding = self._padding_value()
            out.append(("padding", repr(padding), "same" if padding == "same" else text(
                f"{low}" if low == high else f"{low}:{high}" for low, high in self.padding)))
        if self.dilation != (1,) * self.dims:
            out.append(("dilation", str(self._one(self.dilation)), text(self.dilation)))
        if self.groups != 1:
            out.append(("groups", str(self.groups), str(self.groups)))
        if self.bias:
            out.append(("bias", "True", ""))
        if self.size is not None:
            out.append((self.size_name, str(self._one(self.size)), text(self.size)))
        return out

    def __repr__(self) -> str:
        extra = "".join(f", {name}={shown}" for name, shown, _ in self._options())
        return (f"{self.label}({self.in_channels}, {self.out_channels}, "
                f"{self._one(self.kernel_size)}{extra})")

    def canonical(self, size: tuple[int, ...] | None = None) -> list:
        size = self.size if size is None else size
        out = ["conv", self.in_channels, self.out_channels, list(self.kernel_size),
               list(self.stride), self.bias, list(size) if size is not None else None]
        if not self.valid:
            out += [[list(pair) for pair in self.padding], list(self.dilation), self.groups]
        return out

    def spec(self) -> str:
        extra = "".join(f",{name}={value}" if value else f",{name}"
                        for name, _, value in self._options())
        return (f"{self.label}({self.in_channels},{self.out_channels},"
                f"{'x'.join(map(str, self.kernel_size))}{extra})")

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
        return (self.out_channels, out_size(size, self.kernel_size, self.stride, self.padding,
                                            self.dilation))

    def without_size(self) -> _Conv:
        return type(self)(self.in_channels, self.out_channels, self._one(self.kernel_size),
                          self._one(self.stride), self.bias, None, padding=self.padding,
                          dilation=self._one(self.dilation), groups=self.groups)

    @classmethod
    def from_spec(cls, call: SpecCall) -> _Conv:
        """``Conv1d(1,8,3,stride=2,bias,length=16)``; ``Conv2d`` with sizes
        ``3x3`` (or one int for both); ``padding=1`` (``1x2`` per axis,
        ``0:1`` low and high, ``same`` or ``valid``), ``dilation=2``,
        ``groups=2``.

        >>> from exactcl.layers.program import parse_net
        >>> parse_net("Conv1d(1,2,3,padding=same,dilation=2,length=8)", "net:...").layers[0]
        Conv1d(1, 2, 3, padding=2, dilation=2, length=8)
        """
        plain, keys = call.plain, call.keys
        flags = [a.lower() for a in plain[3:]]
        known = ("stride", "padding", "dilation", "groups", cls.size_name)
        unknown = [k for k in keys if k.lower() not in known]
        if len(plain) < 3 or any(f != "bias" for f in flags) or unknown:
            raise call.fail(f"must be {cls.label}(c_in,c_out,{cls.kernel_text}[,stride=s]"
                            f"[,padding=p][,dilation=d][,groups=g][,bias][,{cls.size_name}=...])")
        values: dict = {}
        sized = (("c_in", plain[0]), ("c_out", plain[1]), ("kernel", plain[2])) + tuple(
            (k.lower(), v) for k, v in keys.items() if k.lower() != "padding")
        for label, raw in sized:
            got = spec_sizes(raw)
            if got is None or min(got) < 1 or (label in ("c_in", "c_out", "groups")
                                               and len(got) != 1):
                raise call.fail(f"must have a positive int {label}, not {raw!r}")
            values[label] = got if len(got) > 1 else got[0]
        if values.get("stride") == 0:
            raise call.fail("must have a positive stride, not 0")
        padding = {k.lower(): v for k, v in keys.items()}.get("padding")
        if padding is not None:
            padding = cls._spec_padding(call, padding)
        return cls(values["c_in"], values["c_out"], values["kernel"],
                   **{"stride": values.get("stride", 1), "bias": bool(flags),
                      cls.size_name: values.get(cls.size_name),
                      "padding": 0 if padding is None else padding,
                      "dilation": values.get("dilation", 1), "groups": values.get("groups", 1)})

    @classmethod
    def _spec_padding(cls, call: SpecCall, raw: str):
        """``same``, ``valid``, or per axis ``p`` or ``low:high`` joined by x."""
        if raw.lower() in ("same", "valid"):
            return raw.lower()
        axes = raw.lower().split("x")
        pairs = [[spec_int(v) for v in axis.split(":")] for axis in axes]
        if len(axes) > cls.dims or any(len(p) > 2 or None in p for p in pairs):
            per_axis = "one per axis, " if cls.dims > 1 else ""
            raise call.fail(f"must have padding a non-negative int, {per_axis}low:high, same or "
                            f"valid, not {raw!r}")
        pairs = [(p[0], p[-1]) for p in pairs] * (cls.dims if len(pairs) == 1 else 1)
        return tuple(pairs)

    # -- rules on canonical layers ---------------------------------------------------

    @staticmethod
    def forward(layer, run, a: list, shape):
        """Cross-correlation with zero padding and dilation, ``out[o, q] =
        sum_{i, t} K{l}_{o}_{i}_{t} a[g c_in / groups + i, q * stride +
        t * dilation - low] + b{l}_{o}``, g the group of o, an entry outside
        the input being 0 (2-D positions and offsets row by row)."""
        c_in, c_out, kernel, stride, bias, size, padding, dilation, groups = conv_parts(layer)
        run.layer += 1
        n = run.layer
        if len(a) != c_in * prod(size):
            raise ValueError(f"layer K{n} takes {c_in} x {prod(size)} inputs, not {len(a)}")
        out = out_size(size, kernel, stride, padding, dilation)
        if len(size) == 1:
            offsets = [(t,) for t in range(kernel[0])]
            positions = [(q,) for q in range(out[0])]
        else:
            offsets = [(r, c) for r in range(kernel[0]) for c in range(kernel[1])]
            positions = [(q, r) for q in range(out[0]) for r in range(out[1])]

        def flat(pos, t) -> int | None:
            """The input position ``pos`` reads at offset ``t``, None in the padding."""
            index = 0
            for axis in range(len(size)):
                at = pos[axis] * stride[axis] + t[axis] * dilation[axis] - padding[axis][0]
                if not 0 <= at < size[axis]:
                    return None
                index = index * size[axis] + at
            return index

        P = prod(size)
        c_group, out_group = c_in // groups, c_out // groups
        values = []
        for o in range(c_out):
            first = o // out_group * c_group
            weights = [(run.value(f"K{n}_{o}_{i}_{'_'.join(map(str, t))}"), (first + i) * P, t)
                       for i in range(c_group) for t in offsets]
            b = run.value(f"b{n}_{o}") if bias else 0
            for pos in positions:
                values.append(sum(w * a[base + at] for w, base, t in weights
                                  if (at := flat(pos, t)) is not None) + b)
        return values, (c_out, tuple(out))

    @staticmethod
    def readers(entries: tuple[int, int, int], layer, channels: int) -> list[list[int]]:
        """Per input channel (``channels`` of them), the indices of the kernel
        entries reading it, the kernel's (rows, cols, offset) given: every
        output channel of its group and every offset."""
        rows, cols, o = entries
        groups = conv_parts(layer)[8]
        c_group, out_group = layer[1] // groups, rows // groups
        offsets = cols // c_group
        return [[o + r * cols + (c % c_group) * offsets + t
                 for r in range(c // c_group * out_group, (c // c_group + 1) * out_group)
                 for t in range(offsets)]
                for c in range(channels)]

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        weight, bias = reader.own(node, sub, ("weight", "bias"))
        pads = sub.padding != "valid" and any(sub.padding)
        if sub.padding_mode != "zeros" and pads:
            raise reader.refuse(node, "zero padding (padding_mode='zeros')",
                                f"pads with padding_mode={sub.padding_mode!r}")
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
        """The convolution a torch kernel (out, in / groups, *kernel) and its
        arguments make, on ``x``: zero padding (an int, one per axis,
        ``'same'`` or ``'valid'``), dilation and groups read as torch means
        them; refused unless within the sizes exactcl reads."""
        dims, name = cls.dims, cls.label

        def sizes(value, what: str, least: int):
            got = (value,) * dims if isinstance(value, int) else value
            if (not isinstance(got, (tuple, list)) or len(got) != dims
                    or any(isinstance(v, bool) or not isinstance(v, int) or v < least
                           for v in got)):
                kind = "positive" if least else "non-negative"
                also = ", 'same' or 'valid'" if what == "padding" else ""
                raise reader.refuse(node, f"{what} a {kind} int or {dims} of them{also}",
                                    f"is a {name} with {what} {value!r}")
            return tuple(got)
        stride, dilation = sizes(stride, "stride", 1), sizes(dilation, "dilation", 1)
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise reader.refuse(node, "groups a positive int", f"is a {name} with groups "
                                                                f"{groups!r}")
        if padding == "same" and stride != (1,) * dims:
            raise reader.refuse(node, "padding='same' with stride 1 (as torch requires)",
                                f"is a {name} with stride {stride}")
        if padding == "valid":
            padding = 0
        elif padding != "same":
            padding = sizes(padding, "padding", 0)
        w = weight.tensor
        if w.dim() != dims + 2:
            raise reader.refuse(node, f"a {name} kernel", f"has weight {tuple(w.shape)}")
        c_out, c_group, *kernel = (int(s) for s in w.shape)
        c_in = c_group * groups
        if c_out % groups:
            raise reader.refuse(node, f"groups ({groups}) dividing the {c_out} output channels",
                                f"is a {name} with groups {groups}")
        pairs = (same_padding(kernel, dilation) if padding == "same" else
                 tuple((p, p) for p in ((padding,) * dims if isinstance(padding, int)
                                        else padding)))
        size = cls._torch_input(reader, node, x, c_in, kernel, pairs, dilation)
        out = out_size(size, kernel, stride, pairs, dilation)
        patches = c_in * prod(kernel) * prod(out)
        if patches > MAX_PATCH_ENTRIES:
            raise InputError(f"Argument 'example_input_shape' makes the {name} at "
                             f"{reader.where(node)} unfold {patches} input entries, more than "
                             f"the {MAX_PATCH_ENTRIES} exactcl reads; not {reader.shape}.")
        one = (lambda v: v[0]) if dims == 1 else (lambda v: v)
        try:
            layer = cls(c_in, c_out, one(tuple(kernel)), one(stride), bias is not None, one(size),
                        padding=pairs, dilation=one(dilation), groups=groups)
        except (InputError, ResourceError) as err:
            raise reader.refuse(node, "a convolution exactcl can hold",
                                f"is a {name} refused: {err}") from None
        return reader.append(node, x, layer, (c_out,) + out, reader.reads(weight, bias),
                             cost=patches * c_out // groups)

    @classmethod
    def _torch_input(cls, reader, node, x, c_in: int, kernel: list[int], padding,
                     dilation) -> tuple[int, ...]:
        """The spatial size of ``x``, refused unless ``c_in`` channels of at
        most MAX_POSITIONS positions (padded), each axis (padded) no shorter
        than the kernel (dilated)."""
        dims, name = cls.dims, cls.label
        if len(x.shape) != dims + 1 or x.shape[0] != c_in:
            want = f"({c_in}, {'length' if dims == 1 else 'height, width'})"
            reader.shape_error(node, x, want, name)
            raise reader.refuse(node, f"its input of shape {want}",
                                f"gets its input of shape {x.shape}")
        size = x.shape[1:]
        padded = tuple(s + low + high for s, (low, high) in zip(size, padding))
        span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        if padded == tuple(size) and span == tuple(kernel):
            if any(k > s for k, s in zip(kernel, size)):
                raise reader.refuse(node, f"a kernel no larger than the input {size}",
                                    f"has kernel {tuple(kernel)}")
        elif any(w > s for w, s in zip(span, padded)):
            raise reader.refuse(node, f"a kernel (dilated) no larger than the padded input "
                                      f"{padded}", f"has kernel {tuple(kernel)} spanning {span}")
        if prod(padded) > MAX_POSITIONS:
            what = "a padded input" if padded != tuple(size) else "an input"
            raise InputError(f"Argument 'example_input_shape' gives the {name} at "
                             f"{reader.where(node)} {what} of {prod(padded)} positions, more "
                             f"than the {MAX_POSITIONS} exactcl counts on; not {reader.shape}.")
        return size


class Conv1d(_Conv):
    """A 1-D convolution with weight sharing: channels x positions in, the
    kernel ``K{l}_{o}_{i}_{t}`` (out channel, in channel of its group,
    offset), one bias per output channel. The first convolution of a
    program names its input ``length``. ``padding`` adds zeros on both
    sides (an int, ``'same'`` with stride 1 as torch pads it, or
    ``'valid'``), ``dilation`` spaces the kernel's taps, and ``groups``
    splits the channels as torch does (group g reads input channels
    g c_in / groups, ... and writes output channels g c_out / groups, ...);
    ``padding_mode`` is torch's and only ``'zeros'`` is read.

    >>> Conv1d(1, 8, 3, length=16)
    Conv1d(1, 8, 3, length=16)
    >>> Conv1d(2, 4, 4, padding="same", groups=2, length=8).canonical()
    ['conv', 2, 4, [4], [1], False, [8], [[1, 2]], [1], 2]
    >>> Conv1d(1, 8, 0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'kernel_size' of Conv1d(1, 8, 0) must be a positive int, not 0.
    >>> Conv1d(1, 8, 3, stride=2, padding="same")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'padding' of Conv1d(1, 8, 3) is 'same', which needs stride 1 (as in torch), not stride 2.
    """

    size_name = "length"
    spec_heads = ("conv1d",)
    spec_help = ("Conv1d(c_in,c_out,k[,stride=s][,padding=p][,dilation=d][,groups=g][,bias]"
                 "[,length=n])")
    example = "Conv1d(c_in, c_out, k)"
    torch_modules = ("Conv1d",)
    torch_functions = ("torch.conv1d",)
    torch_function_text = "F.conv1d/2d"

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 bias: bool = False, length: int | None = None, *, padding: object = 0,
                 dilation: int = 1, groups: int = 1, padding_mode: str = "zeros") -> None:
        _check_padding_mode(f"Conv1d({show_value(in_channels)}, {show_value(out_channels)}, "
                           f"{show_value(kernel_size)})", padding_mode)
        super().__init__(in_channels, out_channels, kernel_size, stride, bias, length, padding,
                         dilation, groups)


class Conv2d(_Conv):
    """A 2-D convolution (kernel ``K{l}_{o}_{i}_{r}_{c}``); the first of a
    program names its input ``size`` (height, width). ``padding``,
    ``dilation`` and ``groups`` as for :class:`Conv1d`, one int for both
    axes or one per axis.

    >>> Conv2d(1, 2, 2, size=(3, 3))
    Conv2d(1, 2, (2, 2), size=(3, 3))
    >>> Conv2d(1, 2, 3, padding=1, dilation=(1, 2)).spec()
    'Conv2d(1,2,3x3,padding=1x1,dilation=1x2)'
    """

    dims = 2
    label = "Conv2d"
    kernel_text = "kxk"
    spec_heads = ("conv2d",)
    spec_help = ("Conv2d(c_in,c_out,kxk[,stride=s][,padding=p][,dilation=d][,groups=g][,bias]"
                 "[,size=hxw])")
    example = "Conv2d(c_in, c_out, k)"
    torch_modules = ("Conv2d",)
    torch_functions = ("torch.conv2d",)
    torch_function_text = ""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1,
                 bias: bool = False, size=None, *, padding: object = 0, dilation=1,
                 groups: int = 1, padding_mode: str = "zeros") -> None:
        _check_padding_mode(f"Conv2d({show_value(in_channels)}, {show_value(out_channels)}, "
                           f"{show_value(kernel_size)})", padding_mode)
        super().__init__(in_channels, out_channels, kernel_size, stride, bias, size, padding,
                         dilation, groups)
