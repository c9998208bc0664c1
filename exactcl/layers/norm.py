"""Normalisation layers: ``LayerNorm`` over a vector of n features (spec
``LayerNorm(n[,eps=a/b][,affine=False][,bias=False])``, canonical form
``["layer_norm", n, "a/b", affine, bias]``), its exact forward rule, its
role for candidate laws, and its torch translation (``nn.LayerNorm`` over
the last dimension of a vector, ``F.layer_norm``).

The model is algebraic (a square root); the kernel's rule
(:mod:`exactcl.kernel.layers.norm`) and docs/design.md (normalisation
layers) say how ranks and law checks stay sound. A normalisation must be a
layer of the top level with only dense layers before it. Its candidate
laws (:mod:`exactcl.models.blocks`): with eps = 0 the scale law
|W|^2 + |b|^2 of the dense layer before it; for any eps that layer's
translation laws (column sums of W, the sum of b); with affine parameters,
one rescaling law per unit (gamma_j, beta_j) against the next dense layer.
With eps > 0 the scale law is broken at order eps and is not a candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from ..kernel.errors import InputError
from ..kernel.layers.norm import MAX_GROUPS
from .activations import exact_slope
from .base import NORMALISATION, Layer, SpecCall, check_bool, check_size

__all__ = ["GroupNorm", "LayerNorm", "RMSNorm"]

#: torch's default eps, 1e-05, as the rational its decimal writes.
DEFAULT_EPS = Fraction(1, 100000)


def exact_eps(value: object, layer: str) -> Fraction:
    """``eps`` as an exact rational >= 0 (a float refused, as a slope is)."""
    q = exact_slope(value, f"Argument 'eps' of {layer}")
    if q < 0:
        raise InputError(f"Argument 'eps' of {layer} must be >= 0, not {q}.")
    return q


@dataclass(frozen=True)
class LayerNorm(Layer):
    """Layer normalisation of a vector of ``normalized_shape`` features:
    (h - mean) / sqrt(var + eps), var the biased variance, then
    gamma * y + beta when ``elementwise_affine`` (beta only with ``bias``).
    ``eps`` is an exact rational (torch's default 1e-05 is 1/100000).

    >>> LayerNorm(5).spec(), LayerNorm(5, eps=0, bias=False).canonical()
    ('LayerNorm(5)', ['layer_norm', 5, '0/1', True, False])
    >>> LayerNorm(5, eps=0.1)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'eps' of LayerNorm must be an exact rational (an int, a Fraction, a SymPy Rational, or a string such as '1/100' or '0.01'), not the float 0.1: write '0.1' for the decimal it prints as.
    """

    normalized_shape: int
    eps: Fraction = field(default=DEFAULT_EPS)
    elementwise_affine: bool = True
    bias: bool = True

    kinds = ("layer_norm",)
    spec_heads = ("layernorm",)
    spec_help = "LayerNorm(n[,eps=a/b][,affine=False][,bias=False])"
    example = "LayerNorm(5)"
    role = NORMALISATION
    weights = "G"
    #: Whether it ignores a translation of its input by a multiple of 1 (it centres).
    translation = True
    torch_modules = ("LayerNorm",)
    torch_functions = ("F.layer_norm",)

    @staticmethod
    def options(layer) -> tuple[bool, bool, int]:
        """(eps = 0, affine, groups) of a canonical normalisation, for the
        candidate laws (:mod:`exactcl.models.blocks`)."""
        return layer[2] == "0/1", layer[3], 1

    def __post_init__(self) -> None:
        check_size("LayerNorm", "normalized_shape", self.normalized_shape)
        object.__setattr__(self, "eps", exact_eps(self.eps, "LayerNorm"))
        check_bool("LayerNorm", "elementwise_affine", self.elementwise_affine)
        check_bool("LayerNorm", "bias", self.bias)
        if not self.elementwise_affine:  # torch has no bias without the weight
            object.__setattr__(self, "bias", False)
        n, eps = self.normalized_shape, self.eps
        if n < 2 or (n == 2 and eps == 0):
            raise InputError(f"Argument 'normalized_shape' of LayerNorm must be at least 3, or "
                             f"2 with eps > 0 (with eps = 0 it gives +-1), not {n}.")

    def _options(self) -> list[str]:
        q = self.eps
        out = [] if q == DEFAULT_EPS else [f"eps={q.numerator}/{q.denominator}" if q else "eps=0"]
        if not self.elementwise_affine:
            out.append("affine=False")
        elif not self.bias:
            out.append("bias=False")
        return out

    def __repr__(self) -> str:
        args = [str(self.normalized_shape)]
        args += [f"eps={str(self.eps)!r}"] if self.eps != DEFAULT_EPS else []
        args += ["elementwise_affine=False"] if not self.elementwise_affine else []
        args += ["bias=False"] if self.elementwise_affine and not self.bias else []
        return f"LayerNorm({', '.join(args)})"

    @property
    def affine(self) -> bool:
        return self.elementwise_affine

    def canonical(self, size=None) -> list:
        q = self.eps
        return ["layer_norm", self.normalized_shape, f"{q.numerator}/{q.denominator}",
                self.elementwise_affine, self.elementwise_affine and self.bias]

    def spec(self) -> str:
        return f"LayerNorm({','.join([str(self.normalized_shape)] + self._options())})"

    def output_shape(self, shape):
        return None

    @classmethod
    def from_spec(cls, call: SpecCall) -> LayerNorm:
        """``LayerNorm(5)``, ``LayerNorm(5,eps=0)``, ``LayerNorm(5,eps=1/100000,bias=False)``.

        >>> from exactcl.layers.program import parse_net
        >>> parse_net("Linear(4,5,bias),LayerNorm(5,eps=0),ReLU,Linear(5,3)", "net:...").layers[1]
        LayerNorm(5, eps='0')
        """
        plain, keys = call.plain, call.keys
        if len(plain) != 1 or set(keys) - {"eps", "affine", "bias"}:
            raise call.fail("must be LayerNorm(n) with options eps=a/b, affine=False, bias=False")
        n = int(plain[0]) if plain[0].isdigit() else None
        flags = {}
        for key in ("affine", "bias"):
            value = keys.get(key, "True")
            if value not in ("True", "False"):
                raise call.fail(f"must have {key}=True or {key}=False, not {key}={value}")
            flags[key] = value == "True"
        try:
            return cls(n, keys.get("eps", DEFAULT_EPS), flags["affine"], flags["bias"])
        except InputError as err:
            raise call.fail(str(err).removeprefix("Argument ").rstrip(".")) from None

    @staticmethod
    def forward(layer, run, a: list, shape):
        """(h - mean) / sqrt(var + eps) (floats: a square root), then gamma, beta."""
        _, n, eps, affine, bias = layer
        mean = sum(Fraction(v) for v in a) / n
        z = [Fraction(v) - mean for v in a]
        q = sum(v * v for v in z) / n + Fraction(eps)
        s = 1 / math.sqrt(q)
        y = [float(v) * s for v in z]
        if affine:
            number = run.layer = run.layer + 1
            y = [float(run.value(f"G{number}_{i}")) * v for i, v in enumerate(y)]
            if bias:
                y = [v + float(run.value(f"b{number}_{i}")) for i, v in enumerate(y)]
        return y, None

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        weight, bias = reader.own(node, sub, ("weight", "bias"))
        return _from_torch(reader, node, x, tuple(sub.normalized_shape), sub.eps, weight, bias)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "normalized_shape", "weight", "bias", "eps"),
                            {"weight": None, "bias": None, "eps": 1e-05})
        return _from_torch(reader, node, reader.value(node, bound["input"]),
                           tuple(bound["normalized_shape"]), bound["eps"],
                           reader.param(node, bound["weight"], "weight"),
                           reader.param(node, bound["bias"], "bias"))


def _from_torch(reader, node, x, shape, eps, weight, bias):
    """A LayerNorm on the vector ``x``, or on each token of ``x`` (tokens, n)
    in a network with attention: torch's float eps is read as the decimal
    it prints as (1e-05 as 1/100000), a rule the output check against the
    module's forward then tests."""
    if len(x.shape) == 2 and shape == x.shape[1:]:  # on each token (after the attention)
        reader.per_token = getattr(reader, "per_token", None) or node
    elif len(x.shape) != 1 or shape != x.shape:
        raise reader.refuse(node, "a LayerNorm over a vector (normalized_shape equal to its "
                                  "input's shape, after a Linear)",
                            f"normalises {shape} of an input of shape {x.shape}")
    if weight is None and bias is not None:
        raise reader.refuse(node, "a bias only with a weight", "has a bias but no weight")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise reader.refuse(node, "a number as eps", f"has {eps!r}")
    q = Fraction(repr(eps)) if isinstance(eps, float) else Fraction(eps)
    reader.record(node, f"eps {eps!r} read as {q} (the decimal it prints as)")
    layer = LayerNorm(shape[0], q, weight is not None, bias is not None)
    reads = () if weight is None else reader.reads(weight, bias)
    return reader.append(node, x, layer, x.shape, reads, cost=4 * math.prod(x.shape))


#: torch's RMSNorm eps=None: torch.finfo(float32).eps, 2^-23 exactly.
FLOAT32_EPS = Fraction(1, 2**23)


@dataclass(frozen=True)
class RMSNorm(LayerNorm):
    """RMS normalisation of a vector of ``normalized_shape`` features:
    h / sqrt(mean(h^2) + eps), then gamma * h when ``elementwise_affine``
    (no centring, no bias). ``eps`` is an exact rational; torch's default
    eps=None is torch.finfo(float32).eps = 2^-23 exactly, this class's
    default (a float64 module's eps=None, 2^-52, is read as such).
    Invariant under h -> c h when eps = 0 (the scale law of the dense layer
    before it), not under translations.

    >>> RMSNorm(5).spec(), RMSNorm(5, eps=0).canonical()
    ('RMSNorm(5)', ['rms_norm', 5, '0/1', True])
    """

    eps: Fraction = field(default=FLOAT32_EPS)
    bias: bool = False

    kinds = ("rms_norm",)
    spec_heads = ("rmsnorm",)
    spec_help = "RMSNorm(n[,eps=a/b][,affine=False])"
    example = "RMSNorm(5)"
    translation = False
    torch_modules = ("RMSNorm",)
    torch_functions = ("F.rms_norm",)

    def __post_init__(self) -> None:
        check_size("RMSNorm", "normalized_shape", self.normalized_shape)
        object.__setattr__(self, "eps", exact_eps(self.eps, "RMSNorm"))
        check_bool("RMSNorm", "elementwise_affine", self.elementwise_affine)
        if self.bias is not False:
            raise InputError(f"Argument 'bias' of RMSNorm must be False (an RMSNorm has no "
                             f"bias), not {self.bias!r}.")
        if self.normalized_shape == 1 and self.eps == 0:
            raise InputError("Argument 'normalized_shape' of RMSNorm must be at least 2, or 1 "
                             "with eps > 0 (with eps = 0 it gives +-1), not 1.")

    def _options(self) -> list[str]:
        q = self.eps
        out = [] if q == FLOAT32_EPS else [f"eps={q.numerator}/{q.denominator}" if q else "eps=0"]
        return out + ([] if self.elementwise_affine else ["affine=False"])

    def __repr__(self) -> str:
        args = [str(self.normalized_shape)]
        args += [f"eps={str(self.eps)!r}"] if self.eps != FLOAT32_EPS else []
        args += ["elementwise_affine=False"] if not self.elementwise_affine else []
        return f"RMSNorm({', '.join(args)})"

    def canonical(self, size=None) -> list:
        q = self.eps
        return ["rms_norm", self.normalized_shape, f"{q.numerator}/{q.denominator}",
                self.elementwise_affine]

    def spec(self) -> str:
        return f"RMSNorm({','.join([str(self.normalized_shape)] + self._options())})"

    @classmethod
    def from_spec(cls, call: SpecCall) -> RMSNorm:
        """``RMSNorm(5)``, ``RMSNorm(5,eps=0)``, ``RMSNorm(5,affine=False)``."""
        plain, keys = call.plain, call.keys
        if len(plain) != 1 or set(keys) - {"eps", "affine"}:
            raise call.fail("must be RMSNorm(n) with options eps=a/b, affine=False")
        n = int(plain[0]) if plain[0].isdigit() else None
        value = keys.get("affine", "True")
        if value not in ("True", "False"):
            raise call.fail(f"must have affine=True or affine=False, not affine={value}")
        try:
            return cls(n, keys.get("eps", FLOAT32_EPS), value == "True")
        except InputError as err:
            raise call.fail(str(err).removeprefix("Argument ").rstrip(".")) from None

    @staticmethod
    def forward(layer, run, a: list, shape):
        """h / sqrt(mean(h^2) + eps) (floats: a square root), then gamma."""
        _, n, eps, affine = layer
        q = sum(Fraction(v) ** 2 for v in a) / n + Fraction(eps)
        s = 1 / math.sqrt(q)
        y = [float(v) * s for v in a]
        if affine:
            number = run.layer = run.layer + 1
            y = [float(run.value(f"G{number}_{i}")) * v for i, v in enumerate(y)]
        return y, None

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        (weight,) = reader.own(node, sub, ("weight",))
        eps = sub.eps
        if eps is None:
            eps = _float_eps(weight)
        return _rms_from_torch(reader, node, x, tuple(sub.normalized_shape), eps, weight)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "normalized_shape", "weight", "eps"),
                            {"weight": None, "eps": None})
        weight = reader.param(node, bound["weight"], "weight")
        eps = bound["eps"] if bound["eps"] is not None else _float_eps(weight)
        return _rms_from_torch(reader, node, reader.value(node, bound["input"]),
                               tuple(bound["normalized_shape"]), eps, weight)


def _float_eps(weight) -> Fraction:
    """torch's eps=None: the machine epsilon of the parameters' dtype
    (float32 without a weight), 2^-23 for float32 and 2^-52 for float64."""
    dtype = getattr(weight.tensor, "dtype", None) if weight is not None else None
    return Fraction(1, 2**52) if str(dtype) == "torch.float64" else FLOAT32_EPS


def _rms_from_torch(reader, node, x, shape, eps, weight):
    if len(x.shape) != 1 or shape != x.shape:
        raise reader.refuse(node, "an RMSNorm over a vector (normalized_shape equal to its "
                                  "input's shape, after a Linear)",
                            f"normalises {shape} of an input of shape {x.shape}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float, Fraction)):
        raise reader.refuse(node, "a number or None as eps", f"has {eps!r}")
    q = Fraction(repr(eps)) if isinstance(eps, float) else Fraction(eps)
    reader.record(node, f"eps {eps!r} read as {q}")
    layer = RMSNorm(shape[0], q, weight is not None)
    reads = () if weight is None else (("weight", weight.tensor,
                                         reader.canonical(weight.tensor, weight.name)),)
    return reader.append(node, x, layer, x.shape, reads, cost=3 * shape[0])


@dataclass(frozen=True)
class GroupNorm(Layer):
    """Group normalisation of a vector of ``num_channels`` features in
    ``num_groups`` groups of consecutive features, each normalised as by a
    LayerNorm, then gamma * y + beta per feature when ``affine``. ``eps``
    an exact rational (torch's default 1e-05 is 1/100000). Each group gives
    the dense layer before it its own translation laws and, with eps = 0,
    its own scale law.

    >>> GroupNorm(2, 6).spec(), GroupNorm(3, 9, eps=0, affine=False).canonical()
    ('GroupNorm(2,6)', ['group_norm', 3, 9, '0/1', False])
    >>> GroupNorm(4, 6)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'num_groups' of GroupNorm must divide num_channels = 6 and be at most 4 (a probe needs every group's level a square mod p), not 4.
    """

    num_groups: int
    num_channels: int
    eps: Fraction = field(default=DEFAULT_EPS)
    affine: bool = True

    kinds = ("group_norm",)
    spec_heads = ("groupnorm",)
    spec_help = "GroupNorm(groups,channels[,eps=a/b][,affine=False])"
    example = "GroupNorm(2, 6)"
    role = NORMALISATION
    weights = "G"
    translation = True
    torch_modules = ("GroupNorm",)
    torch_functions = ("F.group_norm",)

    def __post_init__(self) -> None:
        check_size("GroupNorm", "num_groups", self.num_groups)
        check_size("GroupNorm", "num_channels", self.num_channels)
        object.__setattr__(self, "eps", exact_eps(self.eps, "GroupNorm"))
        check_bool("GroupNorm", "affine", self.affine)
        g, c = self.num_groups, self.num_channels
        if c % g or g > MAX_GROUPS:
            raise InputError(f"Argument 'num_groups' of GroupNorm must divide num_channels = "
                             f"{c} and be at most {MAX_GROUPS} (a probe needs every group's "
                             f"level a square mod p), not {g}.")
        if c // g < 2 or (c // g == 2 and self.eps == 0):
            raise InputError(f"Arguments 'num_groups', 'num_channels' of GroupNorm must give "
                             f"groups of at least 3 channels, or 2 with eps > 0 (with eps = 0 "
                             f"they give +-1), not {c // g}.")

    @staticmethod
    def options(layer) -> tuple[bool, bool, int]:
        """(eps = 0, affine, groups), as :meth:`LayerNorm.options`."""
        return layer[3] == "0/1", layer[4], layer[1]

    def _options(self) -> list[str]:
        q = self.eps
        out = [] if q == DEFAULT_EPS else [f"eps={q.numerator}/{q.denominator}" if q else "eps=0"]
        return out + ([] if self.affine else ["affine=False"])

    def __repr__(self) -> str:
        args = [str(self.num_groups), str(self.num_channels)]
        args += [f"eps={str(self.eps)!r}"] if self.eps != DEFAULT_EPS else []
        args += ["affine=False"] if not self.affine else []
        return f"GroupNorm({', '.join(args)})"

    def canonical(self, size=None) -> list:
        q = self.eps
        return ["group_norm", self.num_groups, self.num_channels,
                f"{q.numerator}/{q.denominator}", self.affine]

    def spec(self) -> str:
        args = [str(self.num_groups), str(self.num_channels)] + self._options()
        return f"GroupNorm({','.join(args)})"

    def output_shape(self, shape):
        return None

    @classmethod
    def from_spec(cls, call: SpecCall) -> GroupNorm:
        """``GroupNorm(2,6)``, ``GroupNorm(2,6,eps=0,affine=False)``."""
        plain, keys = call.plain, call.keys
        if len(plain) != 2 or set(keys) - {"eps", "affine"}:
            raise call.fail("must be GroupNorm(groups,channels) with options eps=a/b, "
                            "affine=False")
        sizes = [int(v) if v.isdigit() else None for v in plain]
        value = keys.get("affine", "True")
        if value not in ("True", "False"):
            raise call.fail(f"must have affine=True or affine=False, not affine={value}")
        try:
            return cls(sizes[0], sizes[1], keys.get("eps", DEFAULT_EPS), value == "True")
        except InputError as err:
            raise call.fail(str(err).removeprefix("Argument ").removeprefix("Arguments ")
                            .rstrip(".")) from None

    @staticmethod
    def forward(layer, run, a: list, shape):
        """Each group (h - mean) / sqrt(var + eps) (floats), then gamma, beta."""
        _, groups, n, eps, affine = layer
        m = n // groups
        y: list = []
        for g in range(groups):
            part = [Fraction(v) for v in a[g * m:(g + 1) * m]]
            mean = sum(part) / m
            z = [v - mean for v in part]
            s = 1 / math.sqrt(sum(v * v for v in z) / m + Fraction(eps))
            y += [float(v) * s for v in z]
        if affine:
            number = run.layer = run.layer + 1
            y = [float(run.value(f"G{number}_{i}")) * v + float(run.value(f"b{number}_{i}"))
                 for i, v in enumerate(y)]
        return y, None

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        x = reader.single_input(node, sub)
        weight, bias = reader.own(node, sub, ("weight", "bias"))
        return _group_from_torch(reader, node, x, sub.num_groups, sub.eps, weight, bias)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "num_groups", "weight", "bias", "eps"),
                            {"weight": None, "bias": None, "eps": 1e-05})
        return _group_from_torch(reader, node, reader.value(node, bound["input"]),
                                 bound["num_groups"], bound["eps"],
                                 reader.param(node, bound["weight"], "weight"),
                                 reader.param(node, bound["bias"], "bias"))


def _group_from_torch(reader, node, x, groups, eps, weight, bias):
    if len(x.shape) != 1:
        raise reader.refuse(node, "a GroupNorm over a vector of channels (after a Linear)",
                            f"gets its input of shape {x.shape}")
    if (weight is None) != (bias is None):
        raise reader.refuse(node, "a weight and a bias, or neither",
                            "has only one of them")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise reader.refuse(node, "a number as eps", f"has {eps!r}")
    q = Fraction(repr(eps)) if isinstance(eps, float) else Fraction(eps)
    reader.record(node, f"eps {eps!r} read as {q} (the decimal it prints as)")
    layer = GroupNorm(int(groups), x.shape[0], q, weight is not None)
    reads = () if weight is None else reader.reads(weight, bias)
    return reader.append(node, x, layer, x.shape, reads, cost=4 * x.shape[0])
