"""Smooth activations, unit by unit: ``["tanh"]``, ``["sigmoid"]``,
``["silu"]``, ``["gelu", "erf" | "tanh"]``, ``["softplus", "a/b"]`` (beta)
and ``["elu", "a/b"]`` (alpha) (docs/design.md, section 8).

A program holding one is read as a network on one token
(:mod:`exactcl.kernel.tokens`): its probe fields are gradients of Taylor
coefficients in t of the network at x0 + t x'. Each unit is expanded at its
**anchor** a (0; -log 2 for ELU), where its Taylor coefficients
c_k = sigma^(k)(a) / k! are exact (:func:`coefficients`): rationals, or
polynomials in one transcendental constant (GELU's c = 1/sqrt(2 pi),
softplus's c = log 2) taken as :data:`CONSTANT_VALUE` mod p. Which units are
**freed** (a bias right before them sets the real point's pre-activation
at the anchor) and which must be exactly 0 at the point is decided from
the program's structure (:func:`analyse`).

The indicators of a smooth layer are five values per unit. A rank probe
ignores them (``("anchor",)``); a law-check probe reads them as the free
values c_0..c_4 of each unit (``("formal", values)``).

This module is part of the verifier's trusted base: it imports only flint
and the kernel.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import factorial

from flint import nmod_mat

from ..evaluator import _add, _scale
from .activations import read_slope
from .attention_net import _had
from .base import LayerRule, hadamard

__all__ = ["CONSTANT_VALUE", "FREE_VALUES", "SMOOTH_KINDS", "analyse", "check_program",
           "coefficients", "constant_of", "describe", "keeps_scale", "needs_origin", "one_token"]

#: Free values per unit in a law check: c_0 .. c_4 (orders 0..3 of t and
#: the reverse pass's derivative).
FREE_VALUES = 5

#: The value mod p that GELU's c = 1/sqrt(2 pi) and softplus's log 2 take:
#: any value keeps a rank a lower bound (docs/design.md, section 8).
CONSTANT_VALUE = 2**61 + 7

#: Kinds and the forms they take (None: no argument).
SMOOTH_KINDS = ("tanh", "sigmoid", "silu", "gelu", "softplus", "elu")
GELU_FORMS = ("erf", "tanh")

#: The transcendental constant a kind's coefficients hold (None: rational).
_CONSTANTS = {"gelu": "1/sqrt(2 pi)", "softplus": "log 2"}

#: GELU's tanh form: 0.044715 as the rational it writes.
GELU_CUBIC = Fraction(44715, 1000000)


def constant_of(kind: str) -> str | None:
    """The transcendental constant of a kind's Taylor coefficients.

    >>> constant_of("gelu"), constant_of("tanh")
    ('1/sqrt(2 pi)', None)
    """
    return _CONSTANTS.get(kind)


# -- exact Taylor coefficients at the anchor --------------------------------------------------

def _divide(num: list, den: list, K: int) -> list:
    """The power series num / den to order K (den[0] != 0), Fractions."""
    out = []
    for k in range(K + 1):
        v = num[k] - sum((den[j] * out[k - j] for j in range(1, k + 1)), Fraction(0))
        out.append(v / den[0])
    return out


def _tanh(K: int) -> list:
    sinh = [Fraction(1, factorial(k)) if k % 2 else Fraction(0) for k in range(K + 1)]
    cosh = [Fraction(0) if k % 2 else Fraction(1, factorial(k)) for k in range(K + 1)]
    return _divide(sinh, cosh, K)


def _sigmoid(K: int) -> list:
    one = [Fraction(1)] + [Fraction(0)] * K
    den = [Fraction(1) + 1] + [Fraction((-1) ** k, factorial(k)) for k in range(1, K + 1)]
    return _divide(one, den, K)


def _poly_mul(a: list, b: list) -> list:
    """Product of two polynomials in c (lists of Fractions)."""
    out = [Fraction(0)] * (len(a) + len(b) - 1)
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            out[i + j] += x * y
    return out


def _poly_add(a: list, b: list) -> list:
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else 0) + (b[i] if i < len(b) else 0) for i in range(n)]


def _series_mul(x: list, y: list, K: int) -> list:
    """Product of two series in z whose coefficients are polynomials in c."""
    out = [[Fraction(0)] for _ in range(K + 1)]
    for i in range(K + 1):
        for j in range(K + 1 - i):
            if any(x[i]) and any(y[j]):
                out[i + j] = _poly_add(out[i + j], _poly_mul(x[i], y[j]))
    return out


def _gelu_tanh(K: int) -> list:
    """z (1 + tanh(u)) / 2, u = 2c (z + 0.044715 z^3), as polynomials in c."""
    t = _tanh(K)
    u = [[Fraction(0)] for _ in range(K + 1)]
    if K >= 1:
        u[1] = [Fraction(0), Fraction(2)]
    if K >= 3:
        u[3] = [Fraction(0), 2 * GELU_CUBIC]
    power = [[Fraction(1)]] + [[Fraction(0)] for _ in range(K)]
    th = [[Fraction(0)] for _ in range(K + 1)]
    for j in range(1, K + 1):
        power = _series_mul(power, u, K)
        if t[j]:
            th = [_poly_add(a, [t[j] * v for v in b]) for a, b in zip(th, power)]
    th[0] = _poly_add(th[0], [Fraction(1)])
    return [[Fraction(0)]] + [[v / 2 for v in th[k - 1]] for k in range(1, K + 1)]


@lru_cache(maxsize=256)
def coefficients(layer: tuple, K: int) -> tuple:
    """c_0..c_K of a smooth layer at its anchor, each a tuple of Fractions:
    the coefficients of 1, c, c^2, ... (c the kind's constant).

    >>> [c[0] for c in coefficients(("tanh",), 5)]
    [Fraction(0, 1), Fraction(1, 1), Fraction(0, 1), Fraction(-1, 3), Fraction(0, 1), Fraction(2, 15)]
    >>> coefficients(("gelu", "erf"), 4)[2], coefficients(("softplus", "2/1"), 2)
    ((Fraction(0, 1), Fraction(1, 1)), ((Fraction(0, 1), Fraction(1, 2)), (Fraction(1, 2),), (Fraction(1, 4),)))
    """
    kind = layer[0]
    if kind == "tanh":
        out = [[v] for v in _tanh(K)]
    elif kind == "sigmoid":
        out = [[v] for v in _sigmoid(K)]
    elif kind == "silu":
        out = [[Fraction(0)]] + [[v] for v in _sigmoid(K)[:K]]
    elif kind == "gelu" and layer[1] == "erf":
        # z Phi(z), Phi(z) = 1/2 + c sum_n (-1)^n z^(2n+1) / (2^n n! (2n+1))
        out = [[Fraction(0)] for _ in range(K + 1)]
        if K >= 1:
            out[1] = [Fraction(1, 2)]
        for n in range(K):
            if 2 * n + 2 <= K:
                out[2 * n + 2] = [Fraction(0), Fraction((-1) ** n, 2**n * factorial(n) * (2 * n + 1))]
    elif kind == "gelu":
        out = _gelu_tanh(K)
    elif kind == "softplus":  # log(2) / beta + sum_k s_(k-1) beta^(k-1) z^k / k
        beta = Fraction(*read_slope(layer[1]))
        s = _sigmoid(K)
        out = [[Fraction(0), 1 / beta]] + [[s[k - 1] * beta ** (k - 1) / k] for k in range(1, K + 1)]
    elif kind == "elu":  # alpha (e^(z) - 1) at z = -log 2: e^(a) = 1/2
        alpha = Fraction(*read_slope(layer[1]))
        out = [[-alpha / 2]] + [[alpha / (2 * factorial(k))] for k in range(1, K + 1)]
    else:
        raise ValueError(f"no smooth activation {kind!r}")
    return tuple(tuple(c) for c in out)


def _mod(poly: tuple, p: int) -> int:
    """A polynomial in c with rational coefficients at c = CONSTANT_VALUE mod p
    (a prime dividing a denominator refused: ZeroDivisionError)."""
    r, acc, power = CONSTANT_VALUE % p, 0, 1
    for v in poly:
        if v.denominator % p == 0:
            raise ZeroDivisionError(f"the prime {p} divides a Taylor coefficient's denominator")
        acc = (acc + v.numerator * pow(v.denominator, -1, p) * power) % p
        power = power * r % p
    return acc


def anchor(layer: tuple) -> str:
    return "-log 2" if layer[0] == "elu" else "0"


# -- the layer rule ---------------------------------------------------------------------------

def _order(jet: dict) -> int:
    """How many nilpotents the jet's terms hold in all (n^k = 0 beyond)."""
    union = 0
    for m in jet:
        union |= m
    return bin(union).count("1")


def _constant_jet(y0, values: list, p: int) -> dict:
    return {0: nmod_mat(y0.nrows(), y0.ncols(), [v % p for v in values], p)}


class Smooth(LayerRule):
    """One rule for the six kinds: the canonical form's first item names
    the kind, its second (GELU's form, softplus's beta, ELU's alpha) the
    function."""

    activation = True
    tokenwise = True
    smooth = True

    def __init__(self, kind: str, heads: tuple, arg: str | None) -> None:
        self.kind, self.heads, self.arg = kind, heads, arg

    def check(self, layer, shape, at, checker):
        if self.arg is None:
            if len(layer) != 1:
                raise ValueError(f"{at} ({self.kind}) takes no argument, not {list(layer[1:])!r}")
            return (self.kind,), shape
        if self.arg == "form":
            if len(layer) != 2 or layer[1] not in GELU_FORMS:
                raise ValueError(f"{at} (gelu) must be ['gelu', form] with form 'erf' or "
                                 f"'tanh', not {list(layer[1:])!r}")
            return (self.kind, layer[1]), shape
        ok = len(layer) == 2 and read_slope(layer[1]) is not None and read_slope(layer[1])[0] > 0
        if not ok:
            raise ValueError(f"{at} ({self.kind}) must be ['{self.kind}', \"a/b\"] with its "
                             f"{self.arg} a positive rational in lowest terms, not "
                             f"{list(layer[1:])!r}")
        return (self.kind, layer[1]), shape

    def compile(self, layer, shape, layout):
        units = shape[0] * shape[1]
        op = [self.kind, len(layout.relus), units, tuple(layer), False]
        layout.relus.append(FREE_VALUES * units)
        layout.smooth.append(op)
        return op, shape

    def _values(self, words, op, K: int, derivative: bool, sigma) -> list:
        """Per power k of n: the scalar (anchor) or per-unit list (formal)
        coefficient of sigma (or of sigma' when ``derivative``)."""
        p, mode = words.prime, sigma[op[1]]
        shift = 1 if derivative else 0
        if mode[0] == "anchor":
            c = coefficients(op[3], K + shift)
            return [(k + 1 if derivative else 1) * _mod(c[k + shift], p) % p
                    for k in range(K + 1)]
        values = mode[1]
        if K + shift >= FREE_VALUES:
            raise ValueError("a law check's smooth unit reaches beyond its free values")
        units = op[2]
        return [[(k + 1 if derivative else 1) * values[FREE_VALUES * i + k + shift] % p
                 for i in range(units)] for k in range(K + 1)]

    def _series(self, words, op, powers: list, y0, derivative: bool, sigma) -> dict:
        """sum_k c_k n^k (sigma) or sum_k (k + 1) c_(k+1) n^k (sigma'), from
        the powers n, n^2, ... of the input's nilpotent part."""
        p = words.prime
        coeff = self._values(words, op, len(powers), derivative, sigma)
        units = op[2]
        c0 = coeff[0] if isinstance(coeff[0], list) else [coeff[0]] * units
        out = _constant_jet(y0, c0, p)
        for k, power in enumerate(powers, 1):
            c = coeff[k]
            out = _add(out, _scale(power, c) if isinstance(c, int) else hadamard(power, c, p))
        return out

    def forward(self, words, op, a, point, sigma):
        p = words.prime
        y0 = next(iter(a.values()))
        z0 = a.get(0)
        if sigma[op[1]][0] == "anchor" and not op[4] and z0 is not None and any(
                int(v) for v in z0.entries()):
            raise ValueError(f"the pre-activation of a {self.kind} layer is not 0 at the "
                             f"expansion point (its bias-free layer's input is not 0 there)")
        n = {m: y for m, y in a.items() if m}
        powers = []  # n, n^2, ... while nonzero (nilpotents square to 0)
        order = _order(n)
        while n and len(powers) < order:
            nxt = n if not powers else _had(powers[-1], n, p)
            if not nxt:
                break
            powers.append(nxt)
        return self._series(words, op, powers, y0, False, sigma), (powers, y0)

    def backward(self, words, op, delta, saved, point, sigma, grads):
        powers, y0 = saved
        return _had(delta, self._series(words, op, powers, y0, True, sigma), words.prime)

    def read_name(self, head, inner, block):
        if self.arg is None:
            return [self.kind] if inner is None else None
        if self.arg == "form":
            return [self.kind, inner] if inner in GELU_FORMS else None
        ok = read_slope(inner) is not None and read_slope(inner)[0] > 0
        return [self.kind, inner] if ok else None


TANH = Smooth("tanh", ("Tanh",), None)
SIGMOID = Smooth("sigmoid", ("Sigmoid",), None)
SILU = Smooth("silu", ("SiLU",), None)
GELU = Smooth("gelu", ("GELU",), "form")
SOFTPLUS = Smooth("softplus", ("Softplus",), "beta")
ELU = Smooth("elu", ("ELU",), "alpha")


# -- the program: anchors, freed units, the origin ----------------------------------------------

_GENERIC, _FREED = ("generic",), ("freed",)
#: Layers refused beside smooth activations (docs/design.md, section 8).
_PATTERNS = ("relu", "leaky_relu", "maxpool")
_PER_SAMPLE_NORMS = ("layer_norm", "rms_norm", "group_norm")


def smooth_layers(layers, found=None) -> list:
    found = [] if found is None else found
    for layer in layers:
        if layer[0] in SMOOTH_KINDS:
            found.append(layer)
        elif layer[0] == "residual":
            smooth_layers(layer[1], found)
    return found


def _kinds(layers, found=None) -> set:
    found = set() if found is None else found
    for layer in layers:
        found.add(layer[0])
        if layer[0] == "residual":
            _kinds(layer[1], found)
    return found


def check_program(layers, mixing: str | None) -> None:
    """Refuse what smooth activations cannot sit beside (ValueError naming it)."""
    smooth = smooth_layers(layers)
    if not smooth:
        return
    kinds = _kinds(layers)
    names = sorted({layer[0] for layer in smooth})
    for bad in _PATTERNS:
        if bad in kinds:
            raise ValueError(f"a network with smooth activations ({', '.join(names)}) cannot "
                             f"hold a {bad} layer: its pattern would be read from the signs at "
                             f"the expansion point (docs/design.md, section 8)")
    constants = sorted({constant_of(layer[0]) for layer in smooth} - {None})
    if len(constants) > 1:
        raise ValueError("a network cannot hold both gelu and softplus: their constants "
                         "1/sqrt(2 pi) and log 2 are not known to be algebraically independent "
                         "(docs/design.md, section 8)")
    if mixing is not None and mixing != "attention":
        raise ValueError(f"smooth activations ({', '.join(names)}) cannot act in a network "
                         f"with {mixing}: its tokens differ at the expansion point")
    if mixing == "attention" and kinds & {"layer_norm", "rms_norm"}:
        _check_after_norms(layers, names)
    if mixing is None:
        for bad in _PER_SAMPLE_NORMS:
            if bad in kinds:
                raise ValueError(f"a network with smooth activations ({', '.join(names)}) "
                                 f"cannot hold a {bad} layer outside a network on tokens")
    analyse(layers, None, mixing is None)


def _zero(pending=()) -> tuple:
    """The state "exactly 0", with the weight tensors whose rows must sum to
    0 for it (committed when a smooth unit reads it)."""
    return ("zero", tuple(pending))


def _check_after_norms(layers, names) -> None:
    """Smooth units in a network with normalisations after its attention
    (docs/design.md, section 8): after the first normalisation, and with a
    rational output at their anchor (the second level must stay rational)."""
    first = next(n for n, layer in enumerate(layers) if layer[0] in ("layer_norm", "rms_norm"))
    if smooth_layers(layers[:first]):
        raise ValueError(f"a smooth activation ({', '.join(names)}) before the first "
                         f"normalisation after an attention is not counted: that "
                         f"normalisation's expansion point is solved in the input, through "
                         f"the layers before it (docs/design.md, section 8)")
    for layer in smooth_layers(layers):
        if constant_of(layer[0]) == "log 2":
            raise ValueError("softplus cannot sit in a network with normalisations after its "
                             "attention: its output at the anchor, log(2)/beta, would make the "
                             "second normalisation's level irrational (docs/design.md, "
                             "section 8)")


def _walk(layers, ops, state, report, where: str):
    """The state of the order-0 activation after ``layers`` (ops in
    parallel, or None), from ``state`` at their input: exactly 0
    (:func:`_zero`), generic, freed (generic, right after a dense layer with
    a bias), or ("const", c0)."""
    for n, layer in enumerate(layers, 1):
        op = ops[n - 1] if ops is not None else None
        kind, at = layer[0], f"{where}layer {n}"
        zero = state[0] == "zero"
        pending = state[1] if zero else ()
        if kind == "linear":
            if layer[3]:
                state = _FREED
            elif zero:
                state = _zero(pending)
            elif state[0] == "const":  # c0 1 -> c0 W 1: 0 when W's rows sum to 0
                state = _zero((op[1] if op is not None else at,))
            else:
                state = _GENERIC
        elif kind == "conv":
            state = (_FREED if layer[5] else _zero(pending)) if zero else _GENERIC
        elif kind in SMOOTH_KINDS:
            freed = state == _FREED
            if not freed and (not zero or kind == "elu"):
                need = ("a bias in the layer right before it" if kind == "elu" else
                        "a bias in the layer right before it, or an input exactly 0 there")
                report["bad"] = (f"{at} ({kind}) cannot be expanded at its anchor "
                                 f"{anchor(layer)}: it needs {need} (docs/design.md, "
                                 f"section 8)")
                return _GENERIC
            for t in pending:
                if t not in report["row_sums"]:
                    report["row_sums"].append(t)
            if op is not None:
                op[4] = freed
            c0 = coefficients(tuple(layer), 0)[0]
            state = _zero() if not any(c0) else ("const", c0)
        elif kind == "residual":
            inner = _walk(layer[1], op[1] if op is not None else None, state, report,
                          f"{at}: ")
            both = zero and inner[0] == "zero"
            state = _zero(pending + tuple(t for t in inner[1] if t not in pending)) \
                if both else _GENERIC
        elif kind == "avgpool":
            state = _zero(pending) if zero else _GENERIC
        elif kind == "softmax_head":
            state = _zero(pending) if zero else (_zero() if state[0] == "const" else _GENERIC)
        else:
            state = _GENERIC
        if report["bad"]:
            return state
    return state


def _report() -> dict:
    return {"row_sums": [], "bad": None}


def analyse(layers, ops, may_originate: bool) -> dict:
    """Which units are freed, which dense layers must have rows summing to 0
    at the point, and whether rank probes take x0 = 0 (``origin``); the
    first unit that can reach its anchor neither way is refused. With
    ``ops`` (a BlockLayout's), each smooth op's freed flag is set and the
    row sums name weight tensors."""
    report = _report()
    report["one_token"] = may_originate
    _walk(layers, ops, _GENERIC, report, "")
    if report["bad"] is None:
        report["origin"] = False
        return report
    if not may_originate:
        raise ValueError(report["bad"])
    report = _report()
    report["one_token"] = may_originate
    _walk(layers, ops, _zero(), report, "")
    if report["bad"] is not None:
        raise ValueError(report["bad"])
    report["origin"] = True
    return report


def describe(layout) -> str:
    """How a program's smooth units are expanded, as its certificates state
    it (docs/design.md, section 8).

    >>> from exactcl.kernel.blocks import BlockLayout
    >>> describe(BlockLayout([["linear", 2, 2, True], ["gelu", "erf"], ["linear", 2, 2, False],
    ...                       ["gelu", "erf"], ["linear", 2, 1, False]]))
    'every smooth unit at an anchor where its Taylor coefficients are exact (gelu (erf) at 0), 2 freed by the bias before them, 2 at 0 exactly, x0 = 0; 1/sqrt(2 pi) taken as 2^61 + 7 mod p'
    """
    plan, ops = layout.smooth_plan, layout.smooth
    kinds = []
    for op in ops:
        layer = op[3]
        name = layer[0] + (f" ({layer[1]})" if len(layer) > 1 else "")
        text = f"{name} at {anchor(layer)}"
        if text not in kinds:
            kinds.append(text)
    freed = sum(op[2] for op in ops if op[4])
    exact = sum(op[2] for op in ops if not op[4])
    parts = [f"every smooth unit at an anchor where its Taylor coefficients are exact "
             f"({', '.join(kinds)})"]
    if freed:
        parts.append(f"{freed} freed by the bias before them")
    if exact:
        parts.append(f"{exact} at 0 exactly")
    if plan["row_sums"]:
        names = ", ".join(layout.tensors[t][0] for t in plan["row_sums"])
        parts.append(f"the rows of {names} summing to 0 at the point")
    parts.append("one x0 for every probe, the first normalisation's" if getattr(
        layout, "token_norms", None) else "x0 = 0")
    text = ", ".join(parts)
    constants = sorted({constant_of(op[0]) for op in ops} - {None})
    if constants:
        text += f"; {constants[0]} taken as 2^61 + 7 mod p"
    return text


def one_token(layout) -> bool:
    """Whether ``layout`` is a program with smooth activations and no layer
    mixing tokens (a network on one token)."""
    plan = getattr(layout, "smooth_plan", None)
    return bool(plan and plan["one_token"])


def needs_origin(layout) -> bool:
    """Whether a rank probe of ``layout`` takes x0 = 0: always, with smooth
    activations (a freed unit's real bias a - W a0 depends on x0, so every
    probe must share it: docs/design.md, section 8)."""
    return bool(getattr(layout, "smooth_plan", None))


def keeps_scale(layout) -> bool:
    """Whether a network on tokens computes with its attention's scale
    1/sqrt(k) (smooth activations mix the orders' powers of s)."""
    return bool(getattr(layout, "smooth", None)) and not one_token(layout)


def check_point(layout, raw_point) -> None:
    """Refuse a point whose rows do not sum to 0 where a unit's anchor needs
    it (exactly, at the stored integers)."""
    for t in layout.smooth_plan["row_sums"]:
        _, rows, cols, o = layout.tensors[t]
        for i in range(rows):
            if sum(raw_point[o + i * cols:o + (i + 1) * cols]) != 0:
                raise ValueError(f"row {i} of {layout.tensors[t][0]} does not sum to 0 at the "
                                 f"point: the smooth unit after it is not at its anchor")


def probe_degrees(degrees: list) -> list:
    """Degrees in the probe of a smooth layer's output orders 0..3 in a law
    check, from its input's: 1 (a free c) plus the largest sum of at most
    four input orders (0 included: the reverse pass's dz) adding up."""
    best: list = [None] * 4
    avail = [(j, d) for j, d in enumerate(degrees) if d is not None]

    def go(parts: int, order: int, total: int):
        if order < 4:
            best[order] = max(best[order] if best[order] is not None else 0, total + 1)
        if parts == 4:
            return
        for j, d in avail:
            if order + j < 4:
                go(parts + 1, order + j, total + d)
    go(0, 0, 0)
    return best
