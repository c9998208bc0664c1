"""The exception hierarchy of exactcl.

Every class also subclasses the built-in exception a caller would expect,
so ``except ValueError`` keeps working around :class:`InputError`.

Messages follow one template: they name the argument or place, what was
expected and what came, e.g. ``Argument 'degree' must be a non-negative
int, not -1.``

The classes are defined here, in the kernel, and their public path is
``exactcl.errors`` (which re-exports them): that is the name tracebacks and
``except`` clauses use.
"""

from __future__ import annotations

from math import log10

__all__ = [
    "CertificateFormatError",
    "ExactclError",
    "InputError",
    "ResourceError",
    "UnsupportedError",
    "VerificationError",
    "bad_argument",
    "plural",
    "QUOTE_CHARS",
    "clip_text",
    "count_text",
    "show_value",
]


class ExactclError(Exception):
    """Base class of every error raised by exactcl on purpose."""


class InputError(ExactclError, ValueError):
    """A value given by the caller is not of the expected form."""


class UnsupportedError(ExactclError, NotImplementedError):
    """The request is well formed but exactcl does not handle it."""


class VerificationError(ExactclError, AssertionError):
    """A claim was checked and found false."""


class CertificateFormatError(ExactclError, ValueError):
    """A certificate file is unreadable or of an unknown schema."""


class ResourceError(ExactclError, MemoryError):
    """A request would need far more memory or time than is reasonable."""


for _cls in (ExactclError, InputError, UnsupportedError, VerificationError,
             CertificateFormatError, ResourceError):
    _cls.__module__ = "exactcl.errors"  # the public path (exactcl/errors.py)


def plural(k: int, word: str) -> str:
    """Count and noun for messages.

    >>> plural(1, "law"), plural(3, "law")
    ('1 law', '3 laws')
    """
    return f"{k} {word}" if k == 1 else f"{k} {word}s"


def bad_argument(name: str, expected: str, got: object) -> InputError:
    """Build the standard bad-argument error.

    Examples
    --------
    >>> str(bad_argument("degree", "a non-negative int", -1))
    "Argument 'degree' must be a non-negative int, not -1."
    """
    return InputError(f"Argument {name!r} must be {expected}, not {got!r}.")


#: Quoted text (a layer, a spec) in messages is cut to this many characters.
QUOTE_CHARS = 100


def count_text(n: int) -> str:
    """An integer for messages: with thousands separators, or its order of
    magnitude when it has more than 18 digits (printing one of more than
    4300 digits is an error in Python).

    >>> count_text(10**10), count_text(10**5000)
    ('10,000,000,000', 'about 10^5000')
    """
    if abs(n) < 10**18:
        return f"{n:,}"
    return f"{'-' if n < 0 else ''}about 10^{int(log10(abs(n)))}"


def show_value(value: object) -> str:
    """repr of a value for messages, but an int of more than 40 digits (which
    Python may refuse to print) or a list of more than 20 items as its size.

    >>> show_value((3, 10**5000)), show_value([1] * 10**6)
    ('(3, about 10^5000)', 'a list of 1,000,000 items')
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**40:
        return count_text(value)
    if isinstance(value, (list, tuple)):
        if len(value) > 20:
            return f"a {type(value).__name__} of {len(value):,} items"
        inner = ", ".join(map(show_value, value))
        if isinstance(value, list):
            return f"[{inner}]"
        return f"({inner}{',' if len(value) == 1 else ''})"
    return repr(value)


def clip_text(text: str) -> str:
    """``text`` for a message, cut to QUOTE_CHARS characters."""
    return text if len(text) <= QUOTE_CHARS else text[:QUOTE_CHARS - 1] + "\u2026"
