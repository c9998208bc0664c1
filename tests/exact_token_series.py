"""The real model of a network on tokens with layer normalisations after its
attention, in exact arithmetic: truncated series in t (the expansion,
orders 0..3) and s (a direction in theta, order 1) whose coefficients lie in
Q(sqrt a, sqrt b), with the true softmax (the exponential's series around
each row's common logit, which cancels) and the true square roots (a
normalisation's level q0 at t = s = 0 must be a rational number: its root is
then rational or a generator of the field). The independent computation
the kernel's probe fields are tested against when SymPy's symbolic
derivatives would take minutes (tests/test_postnorm.py)."""

from __future__ import annotations

from fractions import Fraction
from math import isqrt

T, S = 4, 2  # t^4 = 0, s^2 = 0


class Field:
    """An element of Q(sqrt a, sqrt b): coefficients of 1, sqrt a, sqrt b,
    sqrt a sqrt b (a, b positive rationals whose classes are independent)."""

    def __init__(self, a: Fraction, b: Fraction, c=None) -> None:
        self.a, self.b = a, b
        self.c = c or [Fraction(0)] * 4

    def new(self, c):
        return Field(self.a, self.b, c)

    def __add__(self, o):
        return self.new([x + y for x, y in zip(self.c, o.c)])

    def __sub__(self, o):
        return self.new([x - y for x, y in zip(self.c, o.c)])

    def __mul__(self, o):
        if not isinstance(o, Field):
            return self.new([x * o for x in self.c])
        out = [Fraction(0)] * 4
        for i, x in enumerate(self.c):
            if not x:
                continue
            for j, y in enumerate(o.c):
                if not y:
                    continue
                f = x * y
                if i & j & 1:
                    f *= self.a
                if i & j & 2:
                    f *= self.b
                out[i ^ j] += f
        return self.new(out)

    def rational(self) -> Fraction | None:
        return self.c[0] if not any(self.c[1:]) else None

    def residue(self, ra: int, rb: int, p: int) -> int:
        """The image in F_p under sqrt a -> ra, sqrt b -> rb."""
        images = [1, ra, rb, ra * rb % p]
        return sum(x.numerator * pow(x.denominator, -1, p) * m for x, m in
                   zip(self.c, images)) % p


class Series:
    """sum c_ij t^i s^j, i < T, j < S, c_ij in a Field."""

    def __init__(self, zero: Field, c=None) -> None:
        self.zero = zero
        self.c = c or {}

    def const(self, value) -> Series:
        f = value if isinstance(value, Field) else self.zero.new([Fraction(value), 0, 0, 0])
        return Series(self.zero, {(0, 0): f})

    def __add__(self, o):
        out = dict(self.c)
        for k, v in o.c.items():
            out[k] = out[k] + v if k in out else v
        return Series(self.zero, out)

    def __neg__(self):
        return Series(self.zero, {k: v * Fraction(-1) for k, v in self.c.items()})

    def __sub__(self, o):
        return self + (-o)

    def __mul__(self, o):
        if not isinstance(o, Series):
            return Series(self.zero, {k: v * o for k, v in self.c.items()})
        out: dict = {}
        for (i, j), x in self.c.items():
            for (k, m), y in o.c.items():
                if i + k < T and j + m < S:
                    key = (i + k, j + m)
                    out[key] = out[key] + x * y if key in out else x * y
        return Series(self.zero, out)

    def head(self) -> Field:
        return self.c.get((0, 0), self.zero.new(None))

    def tail(self) -> Series:
        return Series(self.zero, {k: v for k, v in self.c.items() if k != (0, 0)})


def _powers(x: Series, coefficients: list) -> Series:
    """sum_n coefficients[n] x^n for a nilpotent x (T + S - 1 terms suffice)."""
    out = x.const(0)
    power = x.const(1)
    for c in coefficients:
        out = out + power * c
        power = power * x
    return out


def exp0(x: Series) -> Series:
    """exp(x) for x with no constant term."""
    fact, coeffs = 1, []
    for n in range(T + S):
        coeffs.append(Fraction(1, fact))
        fact *= n + 1
    return _powers(x, coeffs)


def inverse(x: Series) -> Series:
    c = x.head().rational()
    assert c, "the constant term of a denominator must be a nonzero rational"
    u = x.tail() * (1 / c)
    return _powers(u, [Fraction((-1) ** n) for n in range(T + S)]) * (1 / c)


def inverse_root(x: Series, b: Fraction) -> Series:
    """x^(-1/2): its rational level q0 a rational square, or b (times one)."""
    q0 = x.head().rational()
    assert q0 is not None and q0 > 0, "a level must be a positive rational at the point"
    num, den = isqrt(q0.numerator), isqrt(q0.denominator)
    if num * num == q0.numerator and den * den == q0.denominator:
        s0 = x.zero.new([Fraction(den, num), 0, 0, 0])
    else:
        assert q0 == b, "an irrational level must be the field's b"
        s0 = x.zero.new([0, 0, 1 / b, 0])  # 1/sqrt b = sqrt b / b
    coeffs, c = [], Fraction(1)
    for n in range(T + S):
        coeffs.append(c)
        c = c * (Fraction(-1, 2) - n) / (n + 1)
    return _powers(x.tail() * (1 / q0), coeffs) * s0


def real_outputs(layers, value, x0, rest, bits, N: int, zero: Field, scale: Field):
    """Each token's output (a list of Series) of the real model at
    X = 1 x0^T + t X' and theta0 + s v: ``value(name)`` the Series of a
    parameter, ``scale`` the attention's 1/sqrt(k) as a field element."""
    t = Series(zero, {(1, 0): zero.new([Fraction(1), 0, 0, 0])})
    d = len(x0)
    toks = [[t.const(x0[j]) + t * Fraction(rest[i * d + j]) for j in range(d)] for i in range(N)]
    state = {"relu": 0, "number": 0}

    def sequence(seq, toks):
        for layer in seq:
            kind = layer[0]
            if kind == "linear":
                state["number"] += 1
                n = state["number"]
                _, a, b, bias = layer
                toks = [[sum((value(f"W{n}_{i}_{j}") * x[j] for j in range(a)), t.const(0))
                         + (value(f"b{n}_{i}") if bias else t.const(0)) for i in range(b)]
                        for x in toks]
            elif kind == "relu":
                sigma = bits[state["relu"]]
                state["relu"] += 1
                toks = [[v if s else t.const(0) for s, v in zip(sigma, x)] for x in toks]
            elif kind == "residual":
                toks = [[u + w for u, w in zip(x, y)] for x, y in zip(toks, sequence(layer[1],
                                                                                      toks))]
            elif kind in ("layer_norm", "rms_norm"):
                n, eps, affine = layer[1], Fraction(layer[2]), layer[3]
                bias = kind == "layer_norm" and layer[4]
                if affine:
                    state["number"] += 1
                k = state["number"]
                out = []
                for x in toks:
                    mean = (sum(x, t.const(0)) * Fraction(1, n) if kind == "layer_norm"
                            else t.const(0))
                    z = [v - mean for v in x]
                    q = sum((v * v for v in z), t.const(0)) * Fraction(1, n) + t.const(eps)
                    s = inverse_root(q, zero.b)
                    out.append([(value(f"G{k}_{i}") * v * s if affine else v * s)
                                + (value(f"b{k}_{i}") if bias else t.const(0))
                                for i, v in enumerate(z)])
                toks = out
            elif kind == "attention":
                state["number"] += 1
                _, _, dm, heads, k, _ = layer[:6]
                biased = len(layer) == 7 and layer[6]
                out = [[t.const(0) for _ in range(dm)] for _ in range(N)]

                def proj(letter, h, x, dm=dm, k=k, biased=biased):
                    return [sum((value(f"{letter}{h}_{a}_{c}") * x[c] for c in range(dm)),
                                t.const(0)) + (value(f"b{letter.lower()}{h}_{a}") if biased
                                               else t.const(0)) for a in range(k)]
                for h in range(heads):
                    Q = [proj("Q", h, x) for x in toks]
                    K = [proj("K", h, x) for x in toks]
                    V = [proj("V", h, x) for x in toks]
                    for i in range(N):
                        logits = [sum((Q[i][a] * K[j][a] for a in range(k)), t.const(0))
                                  * scale for j in range(N)]
                        common = logits[0].head()  # equal at t = s = 0: cancels in softmax
                        assert all((lg.head() - common).c == [0] * 4 for lg in logits)
                        E = [exp0(lg - t.const(common)) for lg in logits]
                        w = inverse(sum(E, t.const(0)))
                        for c in range(dm):
                            acc = t.const(0)
                            for j in range(N):
                                hv = sum((V[j][a] * value(f"O{h}_{a}_{c}") for a in range(k)),
                                         t.const(0))
                                acc = acc + E[j] * hv
                            out[i][c] = out[i][c] + acc * w
                if biased:
                    out = [[o + value(f"bo_{c}") for c, o in enumerate(row)] for row in out]
                toks = out
            else:
                raise ValueError(kind)
        return toks

    return sequence(layers, toks)
