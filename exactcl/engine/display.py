"""Markdown for Jupyter's rich display.

The result classes (:class:`~exactcl.engine.counting.CountResult`,
:class:`~exactcl.engine.search.LawSearch`, :class:`~exactcl.engine.growth.Growth`,
:class:`~exactcl.certificates.view.Certificate`, :class:`~exactcl.workflows.sweep.SweepResult`)
define ``_repr_markdown_``, the method of IPython's display protocol that
Jupyter renders as Markdown, with ``$...$`` shown as math (MathJax).
IPython is not needed: the methods only return strings. This module holds
the pieces they share: escaping, laws as LaTeX with a cap on how many and
how long, a probability as math. It imports nothing at import time; SymPy
is imported only when laws are rendered.

(:class:`~exactcl.kernel.verifier.Report` escapes its text itself: the verifier
imports no module outside its layers.)
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

__all__ = ["MAX_LAW_CHARS", "MAX_LAW_TERMS", "MAX_LAWS_SHOWN", "law_items", "latex_law",
           "markdown_escape", "probability_math"]

#: Laws listed in a rich display; the rest are counted ("... and N more").
MAX_LAWS_SHOWN = 20
#: Longest LaTeX of one law shown whole (about two lines of inline math);
#: a longer law shows its leading terms, then ``\dots``.
MAX_LAW_CHARS = 300
#: Terms of one law converted to SymPy for display at most (a law with
#: more shows some of them: its LaTeX would pass MAX_LAW_CHARS anyway).
MAX_LAW_TERMS = 200

# not [ and ]: a link needs "](", and MathJax in some front ends reads \[ as display math
_ESCAPE = {ch: "\\" + ch for ch in "\\`*_<>#|$~&"}


def markdown_escape(text: str) -> str:
    r"""Text safe in Markdown outside math: its special characters
    (``\ ` * _ < > # | $ ~ &``) backslash-escaped.

    >>> print(markdown_escape("relu_2|3 *x* <certificate>"))
    relu\_2\|3 \*x\* \<certificate\>
    """
    return "".join(_ESCAPE.get(ch, ch) for ch in text)


def probability_math(q: Fraction, relation: str = "") -> str:
    r"""An error bound as inline math, rounded like
    :func:`exactcl.kernel.brackets.format_probability`, after ``relation``.

    >>> probability_math(Fraction(3, 2**120)), probability_math(Fraction(0), r"\leq ")
    ('$2^{-118}$', '$\\leq 0$')
    """
    from ..kernel.brackets import format_probability
    text = format_probability(q)
    if text.startswith("2^"):
        text = f"2^{{{text[2:]}}}"
    return f"${relation}{text}$"


def latex_law(expr, max_chars: int = MAX_LAW_CHARS) -> tuple[str, int]:
    r"""``sympy.latex(expr)`` and its number of terms shown (all of them),
    or, when that is longer than ``max_chars``, its leading terms (at least
    one) followed by ``\dots``.

    >>> import sympy
    >>> x, y = sympy.symbols("x y")
    >>> latex_law(x**2 - y**2)
    ('x^{2} - y^{2}', 2)
    >>> latex_law(sum(sympy.symbols("a:40")), max_chars=25)
    ('a_{0} + a_{1} + a_{10} + \\dots', 3)
    """
    import sympy
    terms = expr.as_ordered_terms()
    whole = sympy.latex(expr) if len(terms) * 4 <= max_chars else None
    if whole is not None and len(whole) <= max_chars:
        return whole, len(terms)
    tex = ""
    shown = 0
    for term in terms:
        negative = term.as_coeff_Mul()[0].is_negative
        body = sympy.latex(-term if negative else term)
        if shown == 0:
            piece = ("- " if negative else "") + body
        else:
            piece = (" - " if negative else " + ") + body
        if shown and len(tex) + len(piece) > max_chars:
            break
        tex += piece
        shown += 1
    if shown < len(terms):
        tex += r" + \dots"
    return tex, shown


def law_items(polys: Sequence, ring, labels: Sequence[str] | None = None,
              limit: int = MAX_LAWS_SHOWN) -> list[str]:
    """Markdown lines listing laws (python-flint polynomials over ``ring``)
    as numbered inline math: the first ``limit`` laws, then a line counting
    the others. ``labels``, when given, are appended to each law (as text).

    >>> from exactcl.models.builtin import product
    >>> m = product(3)
    >>> t1, t2, t3 = m.ring.gens
    >>> law_items([t1**2 - t2**2, t1**2 - t3**2], m.ring, limit=1)
    ['1. $t_{1}^{2} - t_{2}^{2}$', '', '... and 1 more.']
    """
    from ..kernel.rings import poly_from_terms, poly_terms
    from ..models.symbolic import poly_to_sympy
    lines = []
    for k, h in enumerate(polys[:limit]):
        total = len(h)
        if total > MAX_LAW_TERMS:
            h = poly_from_terms(ring, poly_terms(h)[:MAX_LAW_TERMS])
        tex, shown = latex_law(poly_to_sympy(h, ring))
        line = f"{k + 1}. ${tex}$"
        if shown < total:
            line += f" ({shown} of {total} terms shown)"
        if labels is not None and k < len(labels) and labels[k]:
            line += f": {markdown_escape(labels[k])}"
        lines.append(line)
    if len(polys) > limit:
        lines += ["", f"... and {len(polys) - limit} more."]
    return lines
