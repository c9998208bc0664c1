"""Strict reading of a certificate's JSON: a repeated key or a non-finite
number makes the text unreadable (with its path in the file), and every
value is read by type (an integer, an integer as a decimal string, a
rational "p/q", a list) within the bounds below, before anything is built
from it. Nothing in a file is ever evaluated as code."""

from __future__ import annotations

import json
import re
from fractions import Fraction
from typing import Any

from .errors import CertificateFormatError

#: Bounds on what a file may ask the verifier to build (hostile files). Parsed
#: JSON takes about 20 times the bytes of the file; a ring of D variables
#: about D^2 / 8 bytes.
MAX_FILE_BYTES = 32 * 2**20
MAX_VARIABLES = 10_000
#: Parameters of a program's certificate: its fields are evaluated mod primes
#: and its laws read as terms, never polynomials of all the variables, so
#: only the ring of their names (D^2 / 8 bytes) and the work budget grow
#: with D; as many as a model may have (exactcl.limits.MAX_PARAMETERS).
MAX_PROGRAM_VARIABLES = 40_000
MAX_EXPONENT = 1000
MAX_TERM_DEGREE = 200
MAX_INT_DIGITS = 400
MAX_TERMS = 5_000_000
MAX_ITEMS = 5_000_000
#: Layers of a program in all, those of residual blocks included: as many as
#: a certificate's program may list, and as a spec or a program may have
#: (exactcl.kernel.blocks checks them from their numbers before any layout).
MAX_LAYERS = 1000
#: The longest probe family name.
MAX_FAMILY_CHARS = 100
#: Rounds of a Monte Carlo check of the law identities a file may ask for, and
#: the largest degree and height bounds it may state.
MAX_IDENTITY_ROUNDS = 10_000
MAX_BOUND = 10**6
_INTEGER = re.compile(r"[+-]?[0-9]+")

def _short(value: object, limit: int = 60) -> str:
    shown = repr(value)
    return shown if len(shown) <= limit else shown[:limit - 3] + "..."


def _fail(where: str, expected: str, got: object) -> CertificateFormatError:
    return CertificateFormatError(f"{where} must be {expected}, not {_short(got)}.")


def _keys(obj: object, where: str, required: set[str], optional: set[str] = frozenset()
          ) -> dict:
    if not isinstance(obj, dict):
        raise _fail(where, "an object", obj)
    missing = sorted(required - set(obj))
    unknown = sorted(set(obj) - required - optional)
    if missing:
        raise CertificateFormatError(f"{where} lacks the key(s) {', '.join(missing)}.")
    if unknown:
        shown = ", ".join(_short(k, 40) for k in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise CertificateFormatError(f"{where} has unknown key(s) {shown}{more}.")
    return obj


def _int(obj: object, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """A JSON integer (not a bool, a float or a string)."""
    if isinstance(obj, bool) or not isinstance(obj, int):
        raise _fail(where, "an integer", obj)
    return _in_range(obj, where, lo, hi)


def _decimal(obj: object, where: str, lo: int | None = None, hi: int | None = None) -> int:
    """An integer written as a decimal string (the format's way for integers that
    may exceed 2**53), not a JSON number."""
    if not isinstance(obj, str):
        raise _fail(where, "an integer as a decimal string", obj)
    if not _INTEGER.fullmatch(obj) or len(obj) > MAX_INT_DIGITS + 1:
        raise _fail(where, f"an integer of at most {MAX_INT_DIGITS} decimal digits", obj)
    return _in_range(int(obj), where, lo, hi)


def _in_range(obj: int, where: str, lo: int | None, hi: int | None) -> int:
    if obj.bit_length() > 3.33 * MAX_INT_DIGITS:
        raise _fail(where, f"an integer of at most {MAX_INT_DIGITS} decimal digits",
                    f"{obj.bit_length()} bits")
    if lo is not None and obj < lo:
        raise _fail(where, f"an integer >= {lo}", obj)
    if hi is not None and obj > hi:
        raise _fail(where, f"an integer <= {hi}", obj)
    return obj


def _list(obj: object, where: str, max_len: int = MAX_ITEMS) -> list:
    if not isinstance(obj, list):
        raise _fail(where, "a list", obj)
    if len(obj) > max_len:
        raise _fail(where, f"a list of at most {max_len} items", f"{len(obj)} items")
    return obj


def _rational(obj: object, where: str) -> Fraction:
    if not isinstance(obj, str) or "/" not in obj:
        raise _fail(where, 'a rational "p/q"', obj)
    num, _, den = obj.partition("/")
    n = _decimal(num, where)
    d = _decimal(den, where)
    if d < 1:
        raise _fail(where, 'a rational "p/q" with q >= 1', obj)
    return Fraction(n, d)


class _Repeated(dict):
    """An object whose key ``repeated`` appears twice (see :func:`strict_json`)."""

    repeated = ""


def _object(pairs: list) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            marked = _Repeated(out)
            marked.repeated = key
            return marked
        out[key] = value
    return out


class _NonFinite(str):
    """``NaN``, ``Infinity`` or ``-Infinity`` where a JSON value stands (no
    JSON number is; see :func:`strict_json`)."""


def _strict(obj: object) -> bool:
    """Whether parsed JSON holds no repeated key and no non-finite number (one
    walk without paths: :func:`_problem_at` finds where, when it does)."""
    stack: list = [obj]
    while stack:
        node = stack.pop()
        if isinstance(node, (_Repeated, _NonFinite)):
            return False
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(x for x in node if isinstance(x, (list, dict, str)))
    return True


def _problem_at(obj: object) -> str | None:
    """What makes parsed JSON not strict, at its path: the first object
    holding a key twice, or the first non-finite number."""
    if _strict(obj):
        return None
    stack: list = [(obj, "")]
    while stack:
        node, at = stack.pop()
        if isinstance(node, _Repeated):
            key = f"{at}.{node.repeated}" if at else node.repeated
            return f"repeats the key {key!r}: a reader could take either value"
        if isinstance(node, _NonFinite):
            return f"holds the non-finite number {node} at {at or 'the top'} (JSON has none)"
        if isinstance(node, dict):
            stack.extend((v, f"{at}.{k}" if at else str(k)) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((v, f"{at}[{i}]") for i, v in reversed(list(enumerate(node))))
    return None


def strict_json(text: str | bytes, what: str = "The file") -> Any:
    """JSON as exactcl reads it: strict. A key repeated in an object (which
    readers resolve differently: Python's ``json`` keeps the last, a person
    or ``grep`` sees the first) and the non-finite numbers ``NaN``,
    ``Infinity`` and ``-Infinity`` (not JSON) make the text unreadable.

    >>> strict_json('{"claim": {"laws": 5, "laws": 3}}')
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: The file repeats the key 'claim.laws': a reader could take either value.
    >>> strict_json('{"lie": {"point": [1, NaN]}}')
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: The file holds the non-finite number NaN at lie.point[1] (JSON has none).
    """
    try:
        data = json.loads(text, object_pairs_hook=_object, parse_constant=_NonFinite)
    except RecursionError as err:
        raise CertificateFormatError(f"{what} nests JSON too deeply.") from err
    except ValueError as err:  # JSONDecodeError, oversized integer literals
        raise CertificateFormatError(f"{what} is not valid JSON: {err}.") from err
    problem = _problem_at(data)
    if problem is not None:
        raise CertificateFormatError(f"{what} {problem}.")
    return data


def checked(value: Any, where: str, kind: str, **bounds: Any) -> Any:
    """Type-check a value of a parsed certificate: "int" (a JSON integer), "int?"
    (or null), "decimal" (an integer as a decimal string), "bool", "str",
    "list", "rational" (a "p/q" string)."""
    if kind == "int":
        return _int(value, where, bounds.get("lo"), bounds.get("hi"))
    if kind == "int?":
        return None if value is None else _int(value, where, bounds.get("lo"), bounds.get("hi"))
    if kind == "decimal":
        return _decimal(value, where, bounds.get("lo"), bounds.get("hi"))
    if kind == "bool":
        if not isinstance(value, bool):
            raise _fail(where, "true or false", value)
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise _fail(where, "a string", value)
        return value
    if kind == "list":
        return _list(value, where, bounds.get("max_len", MAX_ITEMS))
    if kind == "rational":
        return _rational(value, where)
    raise ValueError(kind)


def int_list(value: Any, where: str, length: int | None = None, lo: int | None = None,
             hi: int | None = None, *, decimal: bool = False) -> list[int]:
    """A list of JSON integers (of decimal strings with ``decimal``)."""
    items = _list(value, where)
    if length is not None and len(items) != length:
        raise _fail(where, f"a list of {length} integers", f"{len(items)} items")
    read = _decimal if decimal else _int
    return [read(x, f"{where}[{k}]", lo, hi) for k, x in enumerate(items)]
