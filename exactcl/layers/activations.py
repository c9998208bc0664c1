"""Activations on a fixed activation pattern: ReLU (spec ``ReLU``,
canonical form ``["relu"]``) and LeakyReLU (spec ``LeakyReLU(a/b)``,
canonical form ``["leaky_relu", "a/b"]``), their exact forward rules,
their role for candidate laws (positive diagonal rescalings of their units
pass them), and their torch translations (``nn.ReLU``, ``F.relu``,
``torch.relu``, ``x.relu()`` and their in-place forms; ``nn.LeakyReLU``,
``F.leaky_relu``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction

from ..kernel.errors import InputError
from ..kernel.layers.activations import MAX_SLOPE_DIGITS
from .base import PASSES_RESCALING, Layer, SpecCall, show_value

__all__ = ["LeakyReLU", "ReLU"]


@dataclass(frozen=True)
class ReLU(Layer):
    """A ReLU on a fixed activation pattern: phi keeps one indicator per
    neuron (the path-lifting), see :mod:`exactcl.kernel.evaluator`."""

    kinds = ("relu",)
    spec_heads = ("relu",)
    spec_help = "ReLU"
    example = "ReLU()"
    chain = True
    role = PASSES_RESCALING
    torch_modules = ("ReLU",)
    torch_functions = ("F.relu", "torch.relu", "torch.relu_", "F.relu_")
    torch_methods = ("relu", "relu_")

    def __repr__(self) -> str:
        return "ReLU()"

    def canonical(self, size=None) -> list:
        return ["relu"]

    def spec(self) -> str:
        return "ReLU"

    @classmethod
    def from_spec(cls, call: SpecCall) -> ReLU:
        if call.body:
            raise call.unknown()
        return cls()

    @staticmethod
    def forward(layer, run, a: list, shape):
        """``max(0, a)`` unit by unit, the pattern recorded."""
        run.patterns.append([1 if v > 0 else 0 for v in a])
        return [v if v > 0 else 0 * v for v in a], shape

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        return _from_torch(reader, node, reader.single_input(node, sub))

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        if len(node.args) != 1:
            raise reader.unknown_function(node, fn)
        return _from_torch(reader, node, reader.value(node, node.args[0]))

    @classmethod
    def from_torch_method(cls, reader, node, x):
        if len(node.args) != 1 or node.kwargs:
            raise reader.unknown_method(node)
        return _from_torch(reader, node, x)


def _from_torch(reader, node, x):
    """A ReLU on ``x`` (one after a ReLU is the same function, read as none)."""
    if x.steps and isinstance(x.steps[-1].layer, ReLU):
        reader.record(node, "ReLU after a ReLU (the same function)")
        return x
    return reader.append(node, x, ReLU(), x.shape)


#: torch's default negative slope, 0.01, as the rational it is written as.
DEFAULT_SLOPE = Fraction(1, 100)
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:/[0-9]+)?")


def exact_slope(value: object, what: str = "Argument 'negative_slope' of LeakyReLU") -> Fraction:
    """A slope as an exact rational: an int, a Fraction, a SymPy Rational, or
    a string ``"1/100"`` or ``"0.01"`` (a decimal string is the rational it
    writes). A float is refused: which rational it stands for is the user's
    to say.

    >>> exact_slope("0.01"), exact_slope("-3/7"), exact_slope(0)
    (Fraction(1, 100), Fraction(-3, 7), Fraction(0, 1))
    >>> exact_slope(0.2)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'negative_slope' of LeakyReLU must be an exact rational (an int, a Fraction, a SymPy Rational, or a string such as '1/100' or '0.01'), not the float 0.2: write '0.2' for the decimal it prints as.
    """
    expected = ("an exact rational (an int, a Fraction, a SymPy Rational, or a string such as "
                "'1/100' or '0.01')")
    if isinstance(value, float):
        raise InputError(f"{what} must be {expected}, not the float {value!r}: write "
                         f"'{value!r}' for the decimal it prints as.")
    if isinstance(value, bool):
        raise InputError(f"{what} must be {expected}, not {value!r}.")
    if isinstance(value, (int, Fraction)):
        q = Fraction(value)
    elif isinstance(getattr(value, "p", None), int) and isinstance(getattr(value, "q", None), int):
        q = Fraction(value.p, value.q)  # a SymPy Rational
    elif isinstance(value, str) and len(value) <= 2 * MAX_SLOPE_DIGITS + 2 and _DECIMAL.fullmatch(
            value.strip()) and not (value.count("/") and "." in value):
        try:
            q = Fraction(value.strip())
        except ZeroDivisionError:
            raise InputError(f"{what} must be {expected}, not {value!r}: its denominator "
                             f"is 0.") from None
    else:
        raise InputError(f"{what} must be {expected}, not {show_value(value)}.")
    if max(len(str(abs(q.numerator))), len(str(q.denominator))) > MAX_SLOPE_DIGITS:
        raise InputError(f"{what} must have a numerator and a denominator of at most "
                         f"{MAX_SLOPE_DIGITS} digits, not {q}.")
    return q


@dataclass(frozen=True)
class LeakyReLU(Layer):
    """A LeakyReLU on a fixed activation pattern: x on active units,
    ``negative_slope`` x on the others, an exact rational (torch's default
    0.01 is 1/100). phi keeps one indicator sigma per unit, the unit
    multiplied by q + (1 - q) sigma: for q != 1 its components span the
    space of the ReLU network's (docs/design.md), so the laws are the
    ReLU network's; q = 1 is the identity.

    >>> LeakyReLU(), LeakyReLU("1/5").spec(), LeakyReLU(Fraction(-1)).canonical()
    (LeakyReLU(), 'LeakyReLU(1/5)', ['leaky_relu', '-1/1'])
    """

    negative_slope: Fraction = field(default=DEFAULT_SLOPE)

    kinds = ("leaky_relu",)
    spec_heads = ("leakyrelu",)
    spec_help = "LeakyReLU[(a/b)]"
    example = "LeakyReLU(Fraction(1, 100))"
    role = PASSES_RESCALING
    torch_modules = ("LeakyReLU",)
    torch_functions = ("F.leaky_relu", "F.leaky_relu_")

    def __post_init__(self) -> None:
        object.__setattr__(self, "negative_slope", exact_slope(self.negative_slope))

    def __repr__(self) -> str:
        q = self.negative_slope
        return "LeakyReLU()" if q == DEFAULT_SLOPE else f"LeakyReLU({str(q)!r})"

    def canonical(self, size=None) -> list:
        q = self.negative_slope
        return ["leaky_relu", f"{q.numerator}/{q.denominator}"]

    def spec(self) -> str:
        return f"LeakyReLU({self.canonical()[1]})"

    @classmethod
    def from_spec(cls, call: SpecCall) -> LeakyReLU:
        """``LeakyReLU`` (slope 1/100), ``LeakyReLU(1/5)`` or ``LeakyReLU(0.2)``.

        >>> from exactcl.layers.program import parse_net
        >>> parse_net("Linear(2,3),LeakyReLU(0.2),Linear(3,1)", "net:...").layers[1]
        LeakyReLU('1/5')
        """
        if not call.body:
            return cls()
        if len(call.args) != 1 or call.keys:
            raise call.fail("must be LeakyReLU or LeakyReLU(a/b) with one rational slope")
        try:
            return cls(call.args[0])
        except InputError:
            raise call.fail(f"must have a rational slope such as 1/100 or 0.01, not "
                            f"{call.args[0]!r}") from None

    @staticmethod
    def forward(layer, run, a: list, shape):
        """``a`` on units with positive input, ``q a`` on the others, the
        pattern recorded."""
        q = Fraction(layer[1])
        run.patterns.append([1 if v > 0 else 0 for v in a])
        return [v if v > 0 else q * v for v in a], shape

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        return _leaky_from_torch(reader, node, reader.single_input(node, sub),
                                 sub.negative_slope)

    @classmethod
    def from_torch_function(cls, reader, node, fn):
        bound = reader.bind(node, ("input", "negative_slope", "inplace"),
                            {"negative_slope": 0.01, "inplace": False})
        return _leaky_from_torch(reader, node, reader.value(node, bound["input"]),
                                 bound["negative_slope"])


def _leaky_from_torch(reader, node, x, slope):
    """A LeakyReLU on ``x``: torch's float slope is read as the decimal it
    prints as (0.01 as 1/100), a rule the output check against the module's
    forward then tests."""
    if isinstance(slope, bool) or not isinstance(slope, (int, float)):
        raise reader.refuse(node, "a number as negative_slope", f"has {slope!r}")
    q = Fraction(repr(slope)) if isinstance(slope, float) else Fraction(slope)
    reader.record(node, f"negative_slope {slope!r} read as {q} (the decimal it prints as)")
    return reader.append(node, x, LeakyReLU(q), x.shape)
