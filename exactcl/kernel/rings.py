"""Rings and rationals: the exact arithmetic every other module stands on.

A :class:`Ring` is the polynomial ring Q[x_1, ..., x_D] with named
variables, backed by a cached python-flint ``fmpq_mpoly_ctx``. This module
also holds the exact parsing of user numbers (floats are refused), the
primes used for modular images, reduction of rationals modulo a prime,
and sparse helpers on ``fmpq_mpoly`` that never pay O(D) per call when the
variables a polynomial may involve are known.

Notes
-----
python-flint converts a whole exponent vector of length D whenever a
polynomial is evaluated, listed or asked for its degrees, so with
thousands of variables those calls dominate. The helpers here therefore
take a *support hint* (a superset of the variables a polynomial involves)
and work through ``derivative`` and ``subs``, whose cost depends on the
number of terms and of variables named, not on D.
"""

from __future__ import annotations

import functools
import keyword
import math
import numbers
import random
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from flint import fmpq, fmpq_mpoly, fmpq_mpoly_ctx, fmpz

from .errors import InputError

__all__ = [
    "DEFAULT_PRIME",
    "MAX_PRIME",
    "LazyLaws",
    "Ring",
    "canonical_terms",
    "check_prime",
    "evaluate",
    "fmpq_to_fraction",
    "is_prime",
    "is_variable_name",
    "next_prime",
    "poly_from_key",
    "poly_from_terms",
    "poly_key",
    "poly_terms",
    "terms_degree",
    "terms_norm",
    "random_prime",
    "rational_mod",
    "support",
    "to_rational",
]

#: The largest prime below 2**62. Modular ranks computed with it are rigorous
#: lower bounds of ranks over Q; a large prime only makes them tight more often.
DEFAULT_PRIME = 2**62 - 57

#: Names that cannot be read back as plain symbols from SymPy syntax: Python
#: keywords, and the names SymPy's parser inserts around numbers.
_RESERVED = frozenset(keyword.kwlist) | {"Integer"}


def is_variable_name(name: object) -> bool:
    """Whether ``name`` can name a variable: a Python identifier of letters
    (of any script, such as ``θ``), ASCII digits and underscores, starting
    with a letter, in NFKC normal form (as Python reads it), not a keyword.

    >>> [is_variable_name(n) for n in ("W1_0_2", "θ", "θ_2", "1x", "x\u0661", "ﬁ", "for")]
    [True, True, True, False, False, False, False]
    """
    if not isinstance(name, str) or not name.isidentifier() or name in _RESERVED:
        return False
    if unicodedata.normalize("NFKC", name) != name or not name[0].isalpha():
        return False
    return all(c.isascii() and (c.isalnum() or c == "_") or unicodedata.category(c)[0] == "L"
               for c in name)


def _flint_name(name: str) -> str:
    """The name python-flint knows a variable by: FLINT takes ASCII names
    only, so others get an alias that no variable name can be (a leading
    underscore, then the name in Punycode, which is one to one)."""
    return name if name.isascii() else "_" + name.encode("punycode").decode("ascii")


@functools.lru_cache(maxsize=64)
def _context(names: tuple[str, ...]) -> fmpq_mpoly_ctx:
    return fmpq_mpoly_ctx.get(tuple(_flint_name(n) for n in names), "degrevlex")


@dataclass(frozen=True)
class Ring:
    """The ring Q[names] over python-flint, one per ordered tuple of names.

    Parameters
    ----------
    names : tuple of str
        Variable names, in order (see :func:`is_variable_name`). Names that
        are not ASCII, such as ``θ``, are kept as given everywhere exactcl
        prints or writes them; only python-flint's own ``str`` of a
        polynomial shows the alias it knows them by.

    Raises
    ------
    InputError
        If there are no names, a name is malformed or repeated.

    Examples
    --------
    >>> R = Ring(("u", "v"))
    >>> u, v = R.gens
    >>> R.nvars, str(u * v**2)
    (2, 'u*v^2')
    >>> Ring(("u", "u"))
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'names' must be distinct variable names, not ('u', 'u').
    """

    names: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.names, str) or not isinstance(self.names, Iterable):
            raise InputError(f"Argument 'names' must be a tuple of variable names, not "
                             f"{self.names!r}.")
        names = tuple(self.names)
        object.__setattr__(self, "names", names)
        if not names:
            raise InputError(
                "Argument 'names' must be a non-empty tuple of variable names, not ().")
        for name in names:
            if not is_variable_name(name):
                raise InputError(
                    f"Argument 'names' must hold identifiers such as 'W1_0_2' or 'θ' (letters, "
                    f"ASCII digits and _, not a Python keyword), not {name!r}."
                )
        if len(set(names)) != len(names):
            repeated = sorted(n for n, k in Counter(names).items() if k > 1)[:3]
            shown = repr(names) if len(names) <= 8 else f"names repeating {repeated!r}"
            raise InputError(f"Argument 'names' must be distinct variable names, not {shown}.")

    @functools.cached_property
    def ctx(self) -> fmpq_mpoly_ctx:
        """The cached python-flint context."""
        return _context(self.names)

    @property
    def nvars(self) -> int:
        """The number D of variables."""
        return len(self.names)

    @functools.cached_property
    def gens(self) -> tuple[fmpq_mpoly, ...]:
        """The variables as polynomials."""
        return self.ctx.gens()

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Map from variable name to its position."""
        return {name: i for i, name in enumerate(self.names)}

    def zero(self) -> fmpq_mpoly:
        return self.ctx.from_dict({})

    def constant(self, c: object) -> fmpq_mpoly:
        return self.ctx.constant(fmpq(*_num_den(to_rational(c))))


def _num_den(q: Fraction) -> tuple[int, int]:
    return q.numerator, q.denominator


def to_rational(value: object, name: str = "value") -> Fraction:
    """Convert an exact number to a :class:`~fractions.Fraction`.

    Accepts int, Fraction, strings such as ``"1/10"``, python-flint
    ``fmpz``/``fmpq`` and SymPy Rationals. Floats are refused: they are not
    exact.

    Examples
    --------
    >>> to_rational("3/6")
    Fraction(1, 2)
    >>> to_rational(0.1, "coefficient")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'coefficient' must be an exact rational (int, Fraction, "p/q" string or SymPy Rational), not 0.1; write 1/10 as Fraction(1, 10) or "1/10".
    """
    if isinstance(value, bool):
        raise _not_rational(name, value)
    if isinstance(value, numbers.Rational):
        return Fraction(int(value.numerator), int(value.denominator))
    if isinstance(value, fmpz):
        return Fraction(int(value))
    if isinstance(value, fmpq):
        return Fraction(int(value.p), int(value.q))
    if isinstance(value, str):
        try:
            return Fraction(value.strip())
        except (ValueError, ZeroDivisionError) as err:
            raise _not_rational(name, value) from err
    if isinstance(value, float) or type(value).__name__ == "Float":
        raise _not_rational(name, value, hint=True)
    # SymPy Rational without importing SymPy here.
    p, q = getattr(value, "p", None), getattr(value, "q", None)
    if isinstance(p, int) and isinstance(q, int) and q > 0:
        return Fraction(p, q)
    raise _not_rational(name, value)


def _not_rational(name: str, value: object, hint: bool = False) -> InputError:
    msg = (
        f"Argument {name!r} must be an exact rational (int, Fraction, \"p/q\" string "
        f"or SymPy Rational), not {value!r}"
    )
    if hint:
        try:
            exact = Fraction(str(value))  # the decimal the user typed
        except (ValueError, OverflowError):  # nan, inf
            exact = None
        if exact is not None:
            msg += (f"; write {exact} as Fraction({exact.numerator}, {exact.denominator}) "
                    f"or \"{exact}\"")
    return InputError(msg + ".")


def is_prime(n: int) -> bool:
    """Proven primality (flint's ``fmpz_is_prime``)."""
    return n >= 2 and bool(fmpz(n).is_prime())


#: Moduli of FLINT's nmod types are machine words: a prime p given by a user
#: must satisfy 2 <= p < MAX_PRIME. (A composite modulus aborts the process
#: inside FLINT, 1 divides by zero, larger ones overflow.)
MAX_PRIME = 2**64


def check_prime(p: object, name: str = "prime") -> int:
    """``p`` if it is a prime FLINT's word-size modular arithmetic takes,
    else :class:`InputError` naming ``name``.

    >>> check_prime(2**62 - 57)
    4611686018427387847
    >>> check_prime(4)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'prime' must be a prime p with 2 <= p < 2**64, not 4.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Integral) or \
            not 2 <= int(p) < MAX_PRIME or not is_prime(int(p)):
        raise InputError(f"Argument {name!r} must be a prime p with 2 <= p < 2**64, not {p!r}.")
    return int(p)


def next_prime(n: int) -> int:
    """The least prime >= n.

    >>> next_prime(2**61)
    2305843009213693967
    """
    n = max(n, 2)
    while not is_prime(n):
        n += 1
    return n


#: Primes for Monte Carlo checks are drawn as next_prime(uniform integer in
#: [2**61, 2**62)); the largest gap between primes below 2**64 is 1550, so no
#: single prime is drawn with probability above PRIME_GAP / 2**61.
RANDOM_PRIME_BITS = 61
PRIME_GAP = 1550


def random_prime(rng: random.Random) -> int:
    """A prime p with 2**61 <= p < 2**62, drawn from ``rng``."""
    lo = 2**RANDOM_PRIME_BITS
    return next_prime(rng.randrange(lo, 2 * lo - 2 * PRIME_GAP))


#: Fresh primes for ranks on BLAS are drawn in [2**19, 2**20)
#: (:mod:`exactcl.kernel.densemod`: one BLAS product per update).
BLAS_PRIME_BITS = 19


def random_blas_prime(rng: random.Random) -> int:
    """A prime p with 2**19 <= p < 2**20, drawn from ``rng``."""
    lo = 2**BLAS_PRIME_BITS
    return next_prime(rng.randrange(lo, 2 * lo - 2 * PRIME_GAP))


def fmpq_to_fraction(q: fmpq) -> Fraction:
    return Fraction(int(q.p), int(q.q))


def rational_mod(q: fmpq | Fraction | int, p: int) -> int:
    """Reduce a rational number modulo a prime.

    Raises
    ------
    ZeroDivisionError
        If p divides the denominator (callers pick another prime).

    >>> rational_mod(Fraction(1, 2), 7)
    4
    """
    if isinstance(q, int):
        return q % p
    if isinstance(q, fmpq):
        num, den = int(q.p), int(q.q)
    else:
        num, den = q.numerator, q.denominator
    if den == 1:
        return num % p
    if den % p == 0:
        raise ZeroDivisionError(f"the prime {p} divides the denominator {den}")
    return num * pow(den, -1, p) % p


def support(poly: fmpq_mpoly, hint: Iterable[int] | None = None) -> frozenset[int]:
    """The indices of the variables that ``poly`` involves.

    With ``hint`` (a superset of them), the cost is one derivative per
    hinted variable instead of an O(D) exponent vector.

    >>> R = Ring(("x", "y", "z"))
    >>> x, y, z = R.gens
    >>> sorted(support(x * z + 1)), sorted(support(x * z + 1, hint=[0, 1, 2]))
    ([0, 2], [0, 2])
    """
    if hint is None:
        return frozenset(i for i, e in enumerate(poly.degrees()) if e)
    return frozenset(v for v in hint if not poly.derivative(v).is_zero())


def evaluate(poly: fmpq_mpoly, point: Sequence[int], variables: Iterable[int]) -> fmpq:
    """Exact value of ``poly`` at an integer point, naming only ``variables``.

    ``variables`` must contain every variable that ``poly`` involves.
    """
    values = {v: point[v] for v in variables}
    if not values:
        return poly.leading_coefficient() if not poly.is_zero() else fmpq(0)
    value = poly.subs(values)
    return value.leading_coefficient() if not value.is_zero() else fmpq(0)


def poly_terms(poly: fmpq_mpoly) -> list[tuple[tuple[tuple[int, int], ...], Fraction]]:
    """Terms as (sparse monomial, coefficient), monomial ((var, exp), ...) sorted.

    Python work is O(number of variables involved) per term, after one
    O(D) pass for the support.
    """
    involved = [i for i, e in enumerate(poly.degrees()) if e]
    out = []
    for exps, coeff in poly.terms():
        mono = tuple((i, int(exps[i])) for i in involved if exps[i])
        out.append((mono, fmpq_to_fraction(coeff)))
    out.sort()
    return out


class LazyLaws(Sequence):
    """Candidate laws held as sparse terms, each made a polynomial when it is
    first read (and kept): a polynomial in a ring of D variables costs O(D)
    bytes and time per term in flint, so a wide program's laws, read by the
    count and the certificate as terms, are never all built.

    >>> R = Ring(("a", "b", "c"))
    >>> laws = LazyLaws(R, [[(((0, 2),), 1), (((2, 2),), -1)], [(((0, 1), (1, 1)), 1)]])
    >>> len(laws), [str(h) for h in laws], laws.terms(1)
    (2, ['a^2 - c^2', 'a*b'], [(((0, 1), (1, 1)), 1)])
    >>> [str(h) for h in laws.subset([1])], laws == tuple(laws), len(laws + laws[:1])
    (['a*b'], True, 3)
    """

    def __init__(self, ring: Ring, terms: Sequence[list]) -> None:
        self.ring, self._terms = ring, tuple(terms)
        self._polys: dict[int, fmpq_mpoly] = {}

    def __len__(self) -> int:
        return len(self._terms)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return tuple(self[i] for i in range(*k.indices(len(self))))
        k = range(len(self))[k]
        got = self._polys.get(k)
        if got is None:
            got = self._polys[k] = poly_from_terms(self.ring, self._terms[k])
        return got

    def terms(self, k: int) -> list:
        """Law ``k``'s sparse terms."""
        return self._terms[k]

    def subset(self, indices: Sequence[int]) -> LazyLaws:
        """The laws at ``indices``, in that order (built ones kept)."""
        out = LazyLaws(self.ring, [self._terms[i] for i in indices])
        out._polys = {t: self._polys[i] for t, i in enumerate(indices) if i in self._polys}
        return out

    def __add__(self, other: Sequence) -> tuple:
        """Concatenation, as the tuple the laws used to be."""
        return tuple(self) + tuple(other)

    def __radd__(self, other: Sequence) -> tuple:
        return tuple(other) + tuple(self)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (LazyLaws, tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # (mutable cache; compared by value)

    def __repr__(self) -> str:
        return f"LazyLaws({len(self)} laws)"


def terms_degree(terms: Sequence[tuple]) -> int:
    """The total degree of the polynomial of canonical sparse terms (0 for none)."""
    return max((sum(e for _, e in mono) for mono, _ in terms), default=0)


def terms_norm(terms: Sequence[tuple]) -> int:
    """The sum of the absolute coefficients of canonical sparse terms, scaled to
    integers (by the least common denominator).

    >>> from fractions import Fraction
    >>> terms_norm([(((0, 1),), Fraction(1, 2)), (((1, 1),), Fraction(-1, 3))])
    5
    """
    coeffs = [to_rational(c, "coefficient") for _, c in terms]
    den = math.lcm(*(c.denominator for c in coeffs)) if coeffs else 1
    return int(sum(abs(c * den) for c in coeffs))


def canonical_terms(terms: Iterable[tuple[Iterable[tuple[int, int]], object]]
                    ) -> list[tuple[tuple[tuple[int, int], ...], Fraction]]:
    """Sparse terms in :func:`poly_terms`' form (like monomials merged, zero
    coefficients and exponents left out, sorted): the terms of the
    polynomial they sum to, read without an O(D) pass per term.

    >>> canonical_terms([(((1, 1), (0, 2)), 1), (((0, 2), (1, 1)), 1), (((2, 1),), 0)])
    [(((0, 2), (1, 1)), Fraction(2, 1))]
    """
    merged: dict[tuple[tuple[int, int], ...], Fraction] = {}
    for mono, coeff in terms:
        key = tuple(sorted((int(v), int(e)) for v, e in mono if e))
        merged[key] = merged.get(key, Fraction(0)) + to_rational(coeff, "coefficient")
    return sorted((m, c) for m, c in merged.items() if c)


def poly_from_terms(ring: Ring, terms: Iterable[tuple[Iterable[tuple[int, int]], object]]
                    ) -> fmpq_mpoly:
    """Build a polynomial from sparse terms ``((var, exp), ...) -> coefficient``."""
    gens = ring.gens
    result = ring.zero()
    for mono, coeff in terms:
        c = to_rational(coeff, "coefficient")
        term = ring.ctx.constant(fmpq(c.numerator, c.denominator))
        for var, exp in mono:
            term *= gens[var] ** exp
        result += term
    return result


def poly_key(poly: fmpq_mpoly) -> tuple[tuple[tuple[tuple[int, int], ...], str], ...]:
    """A canonical, hashable key: sorted sparse monomials with "p/q" strings."""
    return tuple((mono, str(c)) for mono, c in poly_terms(poly))


def poly_from_key(ring: Ring, key: Iterable[tuple[Iterable[tuple[int, int]], str]]) -> fmpq_mpoly:
    return poly_from_terms(ring, ((mono, Fraction(c)) for mono, c in key))
