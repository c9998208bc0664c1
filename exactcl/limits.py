"""Memory estimates of requests, checked before any work.

A built-in model is refused before it is built, and a count before its
growth, when the memory it would take exceeds the memory available, at
most half of the physical memory since the machines are shared (or a
``max_memory`` the caller gives, either way). The estimates are deliberately
pessimistic; ``benchmarks/bench_budget.py`` prints them beside the peak
resident memory measured for a range of models (at most about twice the
measured peak, never below it on that range).

Where memory goes:

* flint stores each term of a polynomial with a dense exponent vector of at
  least 8 bits per variable of the ring, so a term costs about D bytes
  (``term_bytes``), and the temporaries of products and derivatives about
  as much again (``FLINT_FACTOR``);
* every polynomial, component and generator is a Python object as well;
* growth keeps the reduced echelon form of the kept values (an ``nmod_mat``
  of 8-byte entries with up to twice the rows of the rank, and as much again
  in temporaries while a batch is reduced) and a batch of
  values of BATCH_SIZE rows.

>>> parse_size("1.5G", "max_memory"), parse_size("300M", "max_memory"), parse_size(4096, "m")
(1610612736, 314572800, 4096)
>>> parse_size("lots", "--max-memory")
Traceback (most recent call last):
...
exactcl.errors.InputError: Argument '--max-memory' must be a size such as 800M, 4G or a number of bytes, not 'lots'.
"""

from __future__ import annotations

import math
import os
import re
from fractions import Fraction

from .kernel import densemod
from .kernel.errors import InputError, ResourceError, bad_argument, clip_text

__all__ = ["MAX_INT_DIGITS", "MAX_PARAMETERS", "MAX_SPEC_CHARS", "available_memory",
           "build_bytes", "check_memory", "field_terms", "format_size", "growth_bytes",
           "model_bytes", "parse_size"]

#: Parameters of a model, checked before any is named. No count of more fits
#: in half of a 24 GB machine: the cheapest model of D parameters, product:D,
#: holds 3 D terms of D bytes (7.5 D^2 bytes with flint's temporaries, 12 GB
#: at 40,000), and a program's count keeps at least 12 D^2 bytes of values
#: (program_bytes, for relu:1,H,1).
MAX_PARAMETERS = 40_000
#: Characters of a SPEC: a thousand layers (exactcl.kernel.blocks.MAX_LAYERS) of
#: up to 64 characters each.
MAX_SPEC_CHARS = 2**16
#: Digits of an integer of a SPEC or of a sweep's grid, checked before int()
#: reads it: every size limit is far below 10^18, so a longer one is refused
#: whatever it is, and products of a few shorter ones stay cheap to compute.
MAX_INT_DIGITS = 18
#: A term of a candidate law as sparse terms (tuples of its monomial and its
#: coefficient), besides its flint term.
SPARSE_TERM_BYTES = 300

#: The interpreter with flint and the package loaded.
BASE_BYTES = 100 * 2**20
#: Temporaries of flint products and derivatives, per stored term.
FLINT_FACTOR = 2.5
#: Python objects: per polynomial (or field component), per generator field.
POLY_BYTES = 300
GENERATOR_BYTES = 800
#: Rows of the batch of values growth reduces at once (growth.BATCH_SIZE),
#: counted three times (values, their reduction, the product).
BATCH_ROWS = 3 * 256
_UNITS = {"": 1, "B": 1, "K": 2**10, "KB": 2**10, "KIB": 2**10, "M": 2**20, "MB": 2**20,
          "MIB": 2**20, "G": 2**30, "GB": 2**30, "GIB": 2**30, "T": 2**40, "TB": 2**40,
          "TIB": 2**40}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*")


def term_bytes(D: int) -> int:
    """Bytes of one term of a polynomial in D variables (exponents and coefficient)."""
    return 8 * math.ceil(max(D, 1) / 8) + 24


def model_bytes(D: int, generators: int, terms: int, polynomials: int | None = None) -> int:
    """Memory of a model: ``terms`` terms in all (phi, the generator fields and
    the candidate laws) in ``polynomials`` polynomials (default: one per term)."""
    polynomials = terms if polynomials is None else polynomials
    return int(FLINT_FACTOR * terms * term_bytes(D) + POLY_BYTES * polynomials
               + GENERATOR_BYTES * generators)


def build_bytes(D: int, laws: int, terms: int) -> int:
    """Memory of building a model of D parameters: the ring's generators and
    ``laws`` candidate laws of ``terms`` terms in all, as flint polynomials
    and as sparse terms (estimated 230.5 MB and 1.59 GB for linear:40,40,40 and
    linear:60,60,60; measured 231.5 MB and 1.59 GB beyond the interpreter).

    >>> format_size(build_bytes(3200, 820, 65600))
    '230.5 MB'
    """
    return (D + terms) * term_bytes(D) + SPARSE_TERM_BYTES * terms + POLY_BYTES * laws


def growth_bytes(D: int, target: int, generators: int = 0) -> int:
    """Memory of the growth of the Lie algebra up to rank ``target``: the
    echelon form, a batch, and the jets of the generators at the point."""
    return 8 * D * (3 * min(target, D) + BATCH_ROWS) + GENERATOR_BYTES * generators


def program_bytes(layout, fields: int, kind: str = "components", batch: int = 4096) -> int:
    """Memory of the program engine's count (:mod:`exactcl.engine.evaluation`), an
    upper bound calibrated on linear:32,32,32 and linear:64,64,64 (measured
    316 MB and 4.8 GB; ``benchmarks/bench_budget.py`` compares them): the
    kept values held dense with the stacked copy and three matrices of an
    echelon form per batch (assuming one block of D columns, the rank up to
    D), a value of 8 bytes a parameter per field and kept word, and the
    sparse values of a batch, each with at most twice the support of a
    generator field (:func:`field_support`)."""
    D = layout.D
    nonzeros = field_support(layout, kind)
    if _on_rows(layout, nonzeros):
        # dense rows on BLAS (exactcl.engine.evaluation.program_growth): the dense
        # basis's echelon form (free columns by kept vectors, at most D^2 / 4
        # entries) three times while it is extended, four copies of a batch of
        # ROWS_BATCH rows, and the fields kept as brackets' operands
        return 6 * D * D + 32 * 1024 * D + 8 * D * (fields + D) + 64 * 2**20
    words = min(D, 2 * nonzeros)
    # one block of D columns, except a single hidden ReLU layer: every path
    # runs through one hidden neuron and moves only that neuron's weights,
    # so the values split into blocks of at most a field's support
    kinds = [k for k, *_ in layout.layers]
    block = nonzeros if kinds == ["linear", "relu", "linear"] else D
    rank, rows = block, min(batch, block)
    # and 64 MB of imports and temporaries beyond the interpreter's (the laws
    # of linear:8,8,8,8,8,8 printed by `exactcl count`: 160 MB at peak)
    return (D * (72 * rank + 64 * rows) + 8 * D * (fields + D) + 100 * min(batch, D) * words
            + 100 * fields * nonzeros + 64 * 2**20)


def _on_rows(layout, nonzeros: int) -> bool:
    """Whether a program's growth runs on dense rows (BLAS): wide, every layer's
    rules on BLAS, and fields that may fill a quarter of the parameters."""
    on_blas = getattr(layout, "on_blas", None)
    return (layout.D > densemod.WIDE and 4 * nonzeros >= layout.D
            and (on_blas is None or on_blas()))


def field_terms(layout) -> int:
    """A bound on the terms of all the generator fields grad phi_c of a
    program, without expanding them: a term of phi of degree k gives k
    terms of the gradients (one per parameter it holds), and each term has
    degree at most :meth:`phi_degree`, so at most ``phi_terms`` times that.

    >>> from exactcl.layers.program import from_family
    >>> field_terms(from_family("linear", [8, 8, 8, 8, 8, 8]).layout)
    1310720
    """
    return layout.phi_terms() * layout.phi_degree()


def field_support(layout, kind: str = "components") -> int:
    """A bound on the parameters a generator field of the program moves:
    in layer l, the rows its backward signal reaches times the columns its
    forward signal reaches (one neuron after a ReLU of a probe or component,
    one input and one output for a component), and the bias rows; every
    parameter for attention.

    >>> from exactcl.layers.program import net, Linear, ReLU, Residual
    >>> field_support(net(Linear(4, 3), ReLU(), Residual(Linear(3, 3), ReLU(), Linear(3, 3)),
    ...                   ReLU(), Linear(3, 2)).layout, "probes")
    8
    """
    if hasattr(layout, "ops"):  # a block program
        if layout.attention is not None or layout.dense_probes:  # (dense probes move all)
            return layout.D
        return min(layout.D, _block_support(layout, layout.ops, False, False))
    relu_after, li = set(), 0
    for kind_of_layer, *_ in layout.layers:
        if kind_of_layer == "linear":
            li += 1
        else:
            relu_after.add(li - 1)
    last = len(layout.linears) - 1
    total = 0
    for li, (n_in, n_out, bias) in enumerate(layout.linears):
        if li == 0:
            cols = 1 if kind == "components" else n_in
        else:
            cols = 1 if li - 1 in relu_after else n_in
        rows = 1 if li in relu_after or (li == last and kind == "components") else n_out
        total += rows * cols + (rows if bias else 0)
    return min(total, layout.D)


def _block_support(layout, ops, after_relu: bool, before_relu: bool) -> int:
    """:func:`field_support` of the ops of a block program (a probe field): a
    dense layer right after a ReLU reads one input, right before one feeds
    one output (the ops of a residual block see what surrounds the block);
    a convolution's kernel is shared by every position, so all of it."""
    total = 0
    for i, op in enumerate(ops):
        prev = ops[i - 1][0] == "relu" if i else after_relu
        nxt = ops[i + 1][0] == "relu" if i + 1 < len(ops) else before_relu
        if op[0] == "linear":
            _, rows, cols, _ = layout.tensors[op[1]]
            rows, cols = (1 if nxt else rows), (1 if prev else cols)
            total += rows * cols + (rows if op[2] is not None else 0)
        elif op[0] == "conv":
            _, rows, cols, _ = layout.tensors[op[1]]
            total += rows * cols + (rows if op[2] is not None else 0)
        elif op[0] == "residual":
            total += _block_support(layout, op[1], prev, nxt)
    return total


def _meminfo() -> dict[str, int]:
    out = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, _, rest = line.partition(":")
                if key in ("MemTotal", "MemAvailable"):
                    out[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return out


def available_memory() -> int | None:
    """The default memory limit of a request, in bytes: what is available
    (``MemAvailable`` on Linux), and at most half of the physical memory,
    since the machines are shared; None when neither can be read."""
    info = _meminfo()
    total = info.get("MemTotal")
    if total is None:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            total = None
    candidates = [x for x in (info.get("MemAvailable"), total and total // 2) if x]
    return min(candidates) if candidates else None


def format_size(n: float) -> str:
    """A size for messages, such as ``1.5 GB``.

    >>> format_size(1610612736), format_size(5 * 2**20), format_size(900)
    ('1.5 GB', '5.0 MB', '900 B')
    """
    for unit, scale in (("TB", 2**40), ("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def parse_size(value: object, name: str) -> int:
    """Bytes from an int or a string such as ``800M``, ``4G``, ``1.5GB``."""
    expected = "a size such as 800M, 4G or a number of bytes"
    if isinstance(value, bool):
        raise bad_argument(name, expected, value)
    if isinstance(value, int):
        if value <= 0:
            raise bad_argument(name, expected, value)
        return value
    if not isinstance(value, str):
        raise bad_argument(name, expected, value)
    m = _SIZE.fullmatch(value)
    if m is None or m.group(2).upper() not in _UNITS or len(value) > 40:
        raise bad_argument(name, expected, value)
    size = int(Fraction(m.group(1)) * _UNITS[m.group(2).upper()])
    if size <= 0:
        raise bad_argument(name, expected, value)
    return size


def check_memory(what: str, parts: dict[str, int], max_memory: int | str | None = None) -> int:
    """Refuse (:class:`ResourceError`) a request whose estimated memory, the
    sum of ``parts``, exceeds ``max_memory`` (default: the memory available).
    Returns the estimate.

    >>> check_memory("count of m", {"model": 10 * 2**20}, max_memory=2**30) > 0
    True
    >>> check_memory("count of m", {"model": 10 * 2**20}, max_memory="2G") > 0
    True
    >>> check_memory("count of m", {"model": 3 * 2**30, "growth": 2**30}, max_memory=2**30)
    Traceback (most recent call last):
    ...
    exactcl.errors.ResourceError: The count of m needs an estimated 4.1 GB of memory (model 3.0 GB, growth 1.0 GB, interpreter 100.0 MB); the limit is 1.0 GB (max_memory). Choose a smaller model or give a larger limit (--max-memory SIZE, or max_memory in Python).
    """
    parts = dict(parts) | {"interpreter": BASE_BYTES}
    total = sum(parts.values())
    limit, source = None if max_memory is None else parse_size(max_memory, "max_memory"), \
        "max_memory"
    if limit is None:
        limit, source = available_memory(), "the memory available, at most half of the physical"
    if limit is not None and total > limit:
        detail = ", ".join(f"{k} {format_size(v)}" for k, v in parts.items())
        raise ResourceError(
            f"The {what} needs an estimated {format_size(total)} of memory ({detail}); the "
            f"limit is {format_size(limit)} ({source}). Choose a smaller model or give a "
            f"larger limit (--max-memory SIZE, or max_memory in Python).")
    return total


_LONG_INT = re.compile(rf"(?<![0-9])0*([1-9][0-9]{{{MAX_INT_DIGITS},}})")


def check_spec_text(text: str, where: str = "SPEC", spec: str | None = None) -> None:
    """Refuse, before anything parses it, a spec ``text`` of more than
    MAX_SPEC_CHARS characters or holding an integer of more than
    MAX_INT_DIGITS digits (``spec``, the whole spec, is quoted).

    >>> check_spec_text("relu:2,12345678901234567890,2", "SPEC")
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'SPEC' has an integer of 20 digits; the limit is 18, in 'relu:2,12345678901234567890,2'.
    """
    spec = text if spec is None else spec
    if len(text) > MAX_SPEC_CHARS:
        raise InputError(f"Argument {where!r} has {len(text):,} characters; the limit is "
                         f"{MAX_SPEC_CHARS:,}, in {clip_text(spec)!r}.")
    long = _LONG_INT.search(text)
    if long is not None:
        raise InputError(f"Argument {where!r} has an integer of {len(long.group(1)):,} digits; "
                         f"the limit is {MAX_INT_DIGITS}, in {clip_text(spec)!r}.")
