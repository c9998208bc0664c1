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

__all__ = [
    "CertificateFormatError",
    "ExactclError",
    "InputError",
    "ResourceError",
    "UnsupportedError",
    "VerificationError",
    "bad_argument",
    "plural",
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
