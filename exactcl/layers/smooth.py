"""Smooth activations: ``Tanh``, ``Sigmoid``, ``SiLU``, ``GELU`` (torch's
exact erf form, ``GELU(erf)``, and its ``approximate="tanh"`` form,
``GELU(tanh)``), ``Softplus(beta)`` and ``ELU(alpha)`` with rational beta
and alpha. Canonical forms ``["tanh"]``, ``["sigmoid"]``, ``["silu"]``,
``["gelu", "erf" | "tanh"]``, ``["softplus", "a/b"]``, ``["elu", "a/b"]``.

They are counted through the Taylor coefficients of the network at anchored
points (docs/design.md, section 8): each unit at 0 (ELU in its exponential
region, at -log 2), where its coefficients are exact. Their forward rules
give floats (the functions are transcendental), used only to check a torch
translation against the module. Their role for candidate laws is a barrier:
no symmetry of the layers around them passes a smooth activation.

torch: ``nn.Tanh``, ``torch.tanh``, ``F.tanh``, ``x.tanh()``; ``nn.Sigmoid``,
``torch.sigmoid``, ``F.sigmoid``, ``x.sigmoid()``; ``nn.SiLU``, ``F.silu``;
``nn.GELU``, ``F.gelu`` (``approximate`` "none" or "tanh"); ``nn.Softplus``,
``F.softplus`` (beta read as the decimal it prints as, threshold 20, torch's
default); ``nn.ELU``, ``F.elu`` (alpha as its decimal); the in-place forms
(``inplace=True``, ``torch.tanh_``, ``x.sigmoid_()``, ``F.elu_``). A float
beta or alpha is read as the decimal its ``repr`` shows (0.5 as 1/2, 1e-05
as 1/100000), refused when that has more than :data:`MAX_DECIMAL_DIGITS`
significant digits (``1/3`` is 0.3333333333333333, no short decimal); the
output check of :func:`exactcl.from_torch` then compares the module with
the program read. ``nn.PReLU`` (a learned slope) is refused by name, as are
the activations exactcl has no rule for (:data:`UNREAD_ACTIVATIONS`: Mish,
SELU, CELU, Softsign, LogSigmoid, Hardtanh, ...), module or function.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from ..kernel.errors import InputError
from .activations import exact_slope
from .base import Layer, SpecCall

__all__ = ["ELU", "GELU", "UNREAD_ACTIVATIONS", "SiLU", "Sigmoid", "Softplus", "Tanh"]

#: Significant digits of a float argument read as the decimal it prints as:
#: more is refused (a float such as 1/3 is no short rational).
MAX_DECIMAL_DIGITS = 12
#: Largest power of ten in such a decimal (1e-12 is read, 1e-13 is not).
MAX_DECIMAL_EXPONENT = 12
#: torch's Softplus threshold, the only one read (beta z above it is linear).
SOFTPLUS_THRESHOLD = 20

#: The activations of torch.nn exactcl reads, for the refusal of the others.
READ_ACTIVATIONS = "ReLU, LeakyReLU, Tanh, Sigmoid, SiLU, GELU, Softplus or ELU"

#: torch activations exactcl has no rule for, by their ``torch.nn`` name:
#: what each computes (the refusal's reason), and their torch functions.
UNREAD_ACTIVATIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Mish": ("x tanh(softplus(x)), a smooth activation exactcl has no rule for",
             ("F.mish",)),
    "SELU": ("an ELU scaled by 1.0507009873554805 with alpha 1.6732632423543772, constants "
             "that are no short decimals", ("F.selu", "torch.selu")),
    "CELU": ("max(0, x) + min(0, alpha (exp(x / alpha) - 1)), an activation exactcl has no "
             "rule for (CELU with alpha=1 is nn.ELU())", ("F.celu", "torch.celu")),
    "Softsign": ("x / (1 + |x|), not analytic at 0", ("F.softsign",)),
    "LogSigmoid": ("log sigmoid(x), a smooth activation exactcl has no rule for",
                   ("F.logsigmoid",)),
    "Tanhshrink": ("x - tanh(x), a smooth activation exactcl has no rule for",
                   ("F.tanhshrink",)),
    "Hardtanh": ("x clamped to [min_val, max_val], with two kinks", ("F.hardtanh",)),
    "ReLU6": ("x clamped to [0, 6], with two kinks", ("F.relu6",)),
    "Hardsigmoid": ("a piecewise linear sigmoid, with two kinks", ("F.hardsigmoid",)),
    "Hardswish": ("x hardsigmoid(x), piecewise quadratic", ("F.hardswish",)),
    "Softshrink": ("a soft thresholding, with two kinks", ("F.softshrink",)),
    "Hardshrink": ("a hard thresholding, discontinuous", ("F.hardshrink",)),
    "Threshold": ("a thresholding, discontinuous", ("F.threshold", "torch.threshold")),
    "RReLU": ("a LeakyReLU with a random slope in training", ("F.rrelu", "torch.rrelu")),
    "GLU": ("a gated unit, a product of two halves of its input", ("F.glu",)),
}


def _gelu_erf(x: float) -> float:
    return 0.5 * x * (1.0 + math.erf(x / math.sqrt(2.0)))


def _gelu_tanh(x: float) -> float:
    return 0.5 * x * (1.0 + math.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def _softplus(x: float, beta: float) -> float:
    if beta * x > SOFTPLUS_THRESHOLD:
        return x
    return math.log1p(math.exp(beta * x)) / beta


def _elu(x: float, alpha: float) -> float:
    return x if x > 0 else alpha * math.expm1(x)


class _Smooth(Layer):
    """What the six share: no parameter, the input's shape kept, a float
    forward rule unit by unit."""

    torch_methods: tuple = ()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def canonical(self, size=None) -> list:
        return [self.kinds[0]]

    def spec(self) -> str:
        return type(self).__name__

    @classmethod
    def from_spec(cls, call: SpecCall) -> Layer:
        if call.body:
            raise call.fail(f"takes no arguments: write {cls.__name__}")
        return cls()

    @staticmethod
    def function(layer):
        """The float function of a canonical layer."""
        kind = layer[0]
        if kind == "tanh":
            return math.tanh
        if kind == "sigmoid":
            return _sigmoid
        if kind == "silu":
            return lambda x: x * _sigmoid(x)
        if kind == "gelu":
            return _gelu_erf if layer[1] == "erf" else _gelu_tanh
        q = float(Fraction(layer[1]))
        if kind == "softplus":
            return lambda x: _softplus(x, q)
        return lambda x: _elu(x, q)

    @staticmethod
    def forward(layer, run, a: list, shape):
        """The activation of each unit, in floats."""
        f = _Smooth.function(layer)
        return [f(float(v)) for v in a], shape

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        return cls._read(reader, node, reader.single_input(node, sub), sub)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, cls._signature[0], dict(cls._signature[1]))
        return cls._read(reader, node, reader.value(node, bound.pop("input")), bound)

    @classmethod
    def from_torch_method(cls, reader, node, x):
        if len(node.args) != 1 or node.kwargs:
            raise reader.unknown_method(node)
        return cls._read(reader, node, x, {})

    #: The torch function's arguments and their defaults.
    _signature: tuple = (("input",), {})

    @classmethod
    def _read(cls, reader, node, x, args):
        """The layer on ``x``; ``args`` the module (attributes) or the bound
        function arguments (a dict)."""
        return reader.append(node, x, cls(), x.shape)


def _arg(args, name: str, default):
    return args.get(name, default) if isinstance(args, dict) else getattr(args, name, default)


@dataclass(frozen=True, repr=False)
class Tanh(_Smooth):
    """tanh, unit by unit.

    >>> from exactcl import Linear, net
    >>> net(Linear(2, 3), Tanh(), Linear(3, 1)).canonical()[1]
    ['tanh']
    """

    kinds = ("tanh",)
    spec_heads = ("tanh",)
    spec_help = "Tanh"
    example = "Tanh()"
    torch_modules = ("Tanh",)
    torch_functions = ("torch.tanh", "F.tanh", "torch.tanh_")
    torch_methods = ("tanh", "tanh_")


@dataclass(frozen=True, repr=False)
class Sigmoid(_Smooth):
    """The logistic sigmoid 1 / (1 + e^-z), unit by unit.

    >>> Sigmoid().spec(), Sigmoid.function(["sigmoid"])(0.0)
    ('Sigmoid', 0.5)
    """

    kinds = ("sigmoid",)
    spec_heads = ("sigmoid",)
    spec_help = "Sigmoid"
    example = "Sigmoid()"
    torch_modules = ("Sigmoid",)
    torch_functions = ("torch.sigmoid", "F.sigmoid", "torch.sigmoid_")
    torch_methods = ("sigmoid", "sigmoid_")


@dataclass(frozen=True, repr=False)
class SiLU(_Smooth):
    """z sigmoid(z) (torch's SiLU, also called swish), unit by unit.

    >>> from exactcl.layers.program import parse_net
    >>> parse_net("Linear(2,3,bias),silu,Linear(3,1)", "net:...").spec
    'net:Linear(2,3,bias),SiLU,Linear(3,1)'
    """

    kinds = ("silu",)
    spec_heads = ("silu",)
    spec_help = "SiLU"
    example = "SiLU()"
    torch_modules = ("SiLU",)
    torch_functions = ("F.silu",)
    _signature = (("input", "inplace"), {"inplace": False})


@dataclass(frozen=True, repr=False)
class GELU(_Smooth):
    """GELU, ``approximate="none"`` (z Phi(z), the default) or ``"tanh"``.

    >>> GELU().spec(), GELU("tanh").canonical()
    ('GELU(erf)', ['gelu', 'tanh'])
    """

    approximate: str = "none"

    kinds = ("gelu",)
    spec_heads = ("gelu",)
    spec_help = "GELU[(erf|tanh)]"
    example = "GELU()"
    torch_modules = ("GELU",)
    torch_functions = ("F.gelu",)
    _signature = (("input", "approximate"), {"approximate": "none"})

    def __post_init__(self) -> None:
        if self.approximate not in ("none", "tanh"):
            raise InputError(f"Argument 'approximate' of GELU must be 'none' or 'tanh', not "
                             f"{self.approximate!r}.")

    def __repr__(self) -> str:
        return "GELU()" if self.approximate == "none" else "GELU('tanh')"

    def canonical(self, size=None) -> list:
        return ["gelu", "erf" if self.approximate == "none" else "tanh"]

    def spec(self) -> str:
        return f"GELU({self.canonical()[1]})"

    @classmethod
    def from_spec(cls, call: SpecCall) -> Layer:
        if not call.body:
            return cls()
        if len(call.args) != 1 or call.keys or call.args[0] not in ("erf", "tanh", "none"):
            raise call.fail("must be GELU, GELU(erf) or GELU(tanh)")
        return cls("tanh" if call.args[0] == "tanh" else "none")

    @classmethod
    def _read(cls, reader, node, x, args):
        approximate = _arg(args, "approximate", "none")
        if approximate not in ("none", "tanh"):
            raise reader.refuse(node, "approximate='none' or 'tanh'",
                                f"has approximate={approximate!r}")
        return reader.append(node, x, cls(approximate), x.shape)


def short_decimal(value) -> Fraction | str:
    """A positive torch argument (a float or an int) as the exact rational
    its ``repr`` shows, or why it cannot be read (a string).

    >>> short_decimal(0.5), short_decimal(2), short_decimal(1e-05)
    (Fraction(1, 2), Fraction(2, 1), Fraction(1, 100000))
    >>> short_decimal(1 / 3)
    'a float that is no short decimal (exactcl reads a float as the decimal it prints as, of at most 12 significant digits)'
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "which is not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return "which is not finite"
    text = repr(value)
    mantissa, _, exponent = text.lower().partition("e")
    digits = mantissa.lstrip("-").replace(".", "").strip("0")
    if isinstance(value, float) and (len(digits) > MAX_DECIMAL_DIGITS
                                     or abs(int(exponent or 0)) > MAX_DECIMAL_EXPONENT):
        return (f"a float that is no short decimal (exactcl reads a float as the decimal it "
                f"prints as, of at most {MAX_DECIMAL_DIGITS} significant digits)")
    if isinstance(value, int) and len(text.lstrip("-")) > MAX_DECIMAL_DIGITS:
        return f"an integer of more than {MAX_DECIMAL_DIGITS} digits"
    q = Fraction(text)
    if q <= 0:
        return "which is not positive"
    return q


@dataclass(frozen=True, repr=False)
class _Parametrised(_Smooth):
    """Softplus and ELU: one positive rational constant."""

    value: Fraction = field(default=Fraction(1))

    #: The constant's name in torch.
    name = ""

    def __post_init__(self) -> None:
        what = f"Argument {self.name!r} of {type(self).__name__}"
        q = exact_slope(self.value, what)  # ("1/0" refused there)
        if q <= 0:
            raise InputError(f"Argument {self.name!r} of {type(self).__name__} must be "
                             f"positive, not {q}.")
        object.__setattr__(self, "value", q)

    def __repr__(self) -> str:
        q = self.value
        return f"{type(self).__name__}()" if q == 1 else f"{type(self).__name__}({str(q)!r})"

    def canonical(self, size=None) -> list:
        q = self.value
        return [self.kinds[0], f"{q.numerator}/{q.denominator}"]

    def spec(self) -> str:
        return f"{type(self).__name__}({self.canonical()[1]})"

    @classmethod
    def from_spec(cls, call: SpecCall) -> Layer:
        if not call.body:
            return cls()
        if len(call.args) != 1 or call.keys:
            raise call.fail(f"must be {cls.__name__} or {cls.__name__}(a/b) with one positive "
                            f"rational {cls.name}")
        try:
            return cls(call.args[0])
        except InputError:
            raise call.fail(f"must have a positive rational {cls.name} such as 1 or 1/2, not "
                            f"{call.args[0]!r}") from None

    @classmethod
    def _read(cls, reader, node, x, args):
        raw = _arg(args, cls.name, 1.0)
        q = short_decimal(raw)
        if isinstance(q, str):
            raise reader.refuse(node, f"a positive {cls.name} that is a short decimal, such as "
                                f"0.5 or 2", f"has {cls.name}={raw!r}, {q}")
        if cls is Softplus:
            threshold = _arg(args, "threshold", SOFTPLUS_THRESHOLD)
            if threshold != SOFTPLUS_THRESHOLD:
                raise reader.refuse(node, f"torch's threshold {SOFTPLUS_THRESHOLD} (the only "
                                    f"one read)", f"has threshold={threshold!r}")
        if isinstance(raw, float):
            reader.record(node, f"{cls.name} {raw!r} read as {q} (the decimal it prints as)")
        return reader.append(node, x, cls(q), x.shape)


@dataclass(frozen=True, repr=False)
class Softplus(_Parametrised):
    """log(1 + e^(beta z)) / beta (torch's threshold 20: beta z above it
    is z), beta a positive rational.

    >>> Softplus().spec(), Softplus("1/2").canonical()
    ('Softplus(1/1)', ['softplus', '1/2'])
    """

    name = "beta"
    kinds = ("softplus",)
    spec_heads = ("softplus",)
    spec_help = "Softplus[(beta)]"
    example = "Softplus()"
    torch_modules = ("Softplus",)
    torch_functions = ("F.softplus",)
    _signature = (("input", "beta", "threshold"), {"beta": 1.0, "threshold": 20.0})


@dataclass(frozen=True, repr=False)
class ELU(_Parametrised):
    """z for z > 0, alpha (e^z - 1) otherwise, alpha a positive rational;
    counted in its exponential region (every unit below 0: docs/design.md,
    section 8), which needs a bias in the layer before it.

    >>> ELU("1/2").spec(), ELU().canonical()
    ('ELU(1/2)', ['elu', '1/1'])
    >>> ELU(0.5)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'alpha' of ELU must be an exact rational (an int, a Fraction, a SymPy Rational, or a string such as '1/100' or '0.01'), not the float 0.5: write '0.5' for the decimal it prints as.
    """

    name = "alpha"
    kinds = ("elu",)
    spec_heads = ("elu",)
    spec_help = "ELU[(alpha)]"
    example = "ELU()"
    torch_modules = ("ELU",)
    torch_functions = ("F.elu", "F.elu_")
    _signature = (("input", "alpha", "inplace"), {"alpha": 1.0, "inplace": False})
