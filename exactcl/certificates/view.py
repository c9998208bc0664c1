"""A certificate read back: its claims and how they are proven, to look at.

:class:`Certificate` wraps a parsed certificate (:mod:`exactcl.kernel.certformat`)
and shows what it claims, in a sentence or as Markdown in Jupyter. It
checks the structure of the file, never the claims: that is the work of
:func:`exactcl.verify`, which re-derives every claim from the file, and
nothing here says a certificate was verified. Nor is the model's name
checked here: a built-in spec's name (``linear:2,2,2``) is shown as "not
checked until verified" (the verifier rebuilds that model from the name),
any other name as "unchecked". Reading one imports neither the code that
produced it nor SymPy.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from fractions import Fraction

from ..kernel.brackets import format_probability, round_error_bound
from ..kernel.certformat import loads
from ..kernel.errors import CertificateFormatError, bad_argument, plural
from ..kernel.namecheck import is_builtin_name
from ..kernel.reading import MAX_FILE_BYTES

__all__ = ["Certificate"]


@dataclass(frozen=True, eq=False)
class Certificate:
    """A certificate file's content, with its claims as properties.

    Build it with :meth:`load` or :meth:`from_dict`, which check the
    structure strictly (:class:`~exactcl.errors.CertificateFormatError`).
    The claims are what the file says, not verified: run
    :func:`exactcl.verify` for that.

    Attributes
    ----------
    data : dict
        The parsed certificate (a private copy; :meth:`as_dict` returns
        another).
    source : str or None
        The file it was read from.

    Examples
    --------
    >>> from exactcl.certificates.build import certify
    >>> from exactcl.models.builtin import linear
    >>> cert, _ = certify(linear([2, 2, 2]), reproducible=True)
    >>> c = Certificate.from_dict(cert)
    >>> c
    Certificate('linear:2,2,2' (name not checked until verified), D=8, laws=3, proof='sandwich')
    >>> c.laws, c.bounds, c.lie_dimension, c.explicit_laws, c.bracket_words
    (3, (3, 3), 5, 3, 5)
    """

    data: dict = field(repr=False)
    source: str | None = None

    @classmethod
    def load(cls, path: str | os.PathLike) -> Certificate:
        """Read and parse a certificate file (at most MAX_FILE_BYTES, as the
        verifier reads).

        Raises
        ------
        InputError
            If ``path`` is not a path.
        CertificateFormatError
            If the file cannot be read, or is not a well-formed certificate.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise bad_argument("path", "a path (str or os.PathLike)", path)
        source = os.fspath(path)
        try:
            with open(source, "rb") as fh:
                data = fh.read(MAX_FILE_BYTES + 1)
        except OSError as err:
            raise CertificateFormatError(
                f"Cannot read the certificate {source!r}: {err.strerror}.") from err
        return cls._checked(loads(data), source)

    @classmethod
    def from_dict(cls, cert: dict, source: str | None = None) -> Certificate:
        """Wrap a certificate dict (as :func:`exactcl.certify` returns it),
        after checking its structure as :meth:`load` does; the dict is copied.

        >>> Certificate.from_dict({"schema": "exactcl-certificate"})
        Traceback (most recent call last):
        ...
        exactcl.errors.CertificateFormatError: The certificate lacks the key(s) claim, closure, laws, lie, model, seconds, software, version.
        """
        if not isinstance(cert, dict):
            raise bad_argument("cert", "a certificate dict", cert)
        if source is not None and not isinstance(source, str):
            raise bad_argument("source", "a str or None", source)
        try:
            text = json.dumps(cert)
        except (TypeError, ValueError, RecursionError) as err:
            raise CertificateFormatError(f"The certificate is not JSON data: {err}.") from err
        return cls._checked(loads(text), source)

    @classmethod
    def _checked(cls, cert: dict, source: str | None) -> Certificate:
        """Wrap a certificate that :func:`~exactcl.kernel.certformat.loads` accepted (it
        checks every key and the type of every value)."""
        return cls(cert, source)

    def as_dict(self) -> dict:
        """A copy of the parsed certificate."""
        return copy.deepcopy(self.data)

    # -- the claims ------------------------------------------------------------------

    @property
    def model(self) -> str:
        return self.data["model"]["name"]

    @property
    def name_note(self) -> str:
        """What is known of the model's name here: ``"name not checked until
        verified"`` for a built-in spec (the verifier rebuilds that model from
        the name and compares), ``"unchecked name"`` for any other name
        (nothing can check it: the claims are about the model in the file)."""
        if is_builtin_name(self.model):
            return "name not checked until verified"
        return "unchecked name"

    @property
    def flow(self) -> str | None:
        """The flow whose fields the model holds, and the model it came from,
        in words (``"momentum tau=1/2 of linear:2,2,2"``), or None for a
        model not under a flow. The verifier rebuilds the fields from them.

        >>> from exactcl.certificates.build import certify
        >>> from exactcl.models.builtin import linear
        >>> cert, _ = certify(linear([1, 1, 1]), flow="momentum:1/2", reproducible=True)
        >>> Certificate.from_dict(cert).flow
        'momentum tau=1/2 of linear:1,1,1'
        """
        model = self.data["model"]
        if "flow" not in model:
            return None
        from ..kernel.flowcheck import FileFlow, flow_text
        flow = model["flow"]
        metric = flow.get("metric")
        tau = Fraction(flow["tau"]) if "tau" in flow else None
        shown = FileFlow(flow["kind"], tau, None if metric is None else
                         (metric["kind"], tuple(metric.get("tensors", ()))))
        return f"{flow_text(shown)} of {model['base']['name']}"

    @property
    def parameters(self) -> int:
        """D, the number of parameters."""
        return int(self.data["claim"]["parameters"])

    @property
    def laws(self) -> int | None:
        """The claimed number of independent laws (None when only bounds)."""
        laws = self.data["claim"]["laws"]
        return None if laws is None else int(laws)

    @property
    def bounds(self) -> tuple[int, int]:
        low, high = self.data["claim"]["bounds"]
        return (int(low), int(high))

    @property
    def lie_dimension(self) -> int | None:
        lie = self.data["claim"]["lie_dimension"]
        return None if lie is None else int(lie)

    @property
    def status(self) -> str:
        """``"certified"`` or ``"bounds"``, as claimed."""
        return self.data["claim"]["status"]

    @property
    def proof(self) -> str:
        """``"sandwich"``, ``"closure"`` or ``"bounds only"``, as claimed."""
        return self.data["claim"]["proof"]

    @property
    def explicit_laws(self) -> int:
        """The number of exhibited laws."""
        return len(self.data["laws"]["polynomials"])

    @property
    def bracket_words(self) -> int:
        """K, the number of bracket words claimed independent at the point."""
        return len(self.data["lie"]["basis"])

    @property
    def closure_mode(self) -> str | None:
        """``"deterministic"``, ``"monte-carlo"``, or None without a closure check."""
        closure = self.data["closure"]
        return None if closure is None else closure["mode"]

    @property
    def error_bound(self) -> Fraction | None:
        """The closure check's stated error probability (None without one)."""
        closure = self.data["closure"]
        return None if closure is None else Fraction(closure["error_bound"])

    @property
    def software(self) -> dict[str, str]:
        """Versions of exactcl, python-flint and Python that wrote the file."""
        return dict(self.data["software"])

    @property
    def seconds(self) -> float | None:
        """Time spent (None in reproducible files)."""
        return self.data["seconds"]

    # -- display -----------------------------------------------------------------------

    def _claim(self) -> str:
        if self.laws is not None:
            return f"exactly {plural(self.laws, 'independent conservation law')}"
        return "between {} and {} independent conservation laws".format(*self.bounds)

    def _details(self) -> list[str]:
        """The lines after the first: the proof, dim Lie and bounds, the
        closure check, the software."""
        K = self.bracket_words
        low, high = self.bounds
        laws = plural(self.explicit_laws, "exhibited law")
        words = plural(K, "bracket word")
        if self.proof == "sandwich":
            proof = f"Proof: sandwich: {laws} and {words} independent at a point."
        elif self.proof == "closure":
            proof = (f"Proof: closure: {words} independent at a point, spanning a distribution "
                     f"closed under bracketing; {laws}.")
        elif self.proof == "bounds only":
            proof = f"Bounds only: {laws} and {words} independent at a point."
        else:
            proof = f"Proof: {self.proof!r} (not a kind this exactcl knows)."
        lie = self.lie_dimension
        lines = [proof, (f"dim Lie = {lie}" if lie is not None else f"dim Lie >= {K}")
                 + f"; bounds [{low}, {high}]."]
        if self.flow is not None:
            lines.insert(0, f"Flow: the fields of {self.flow} (rebuilt and compared by the "
                            f"verifier).")
        identities = self.data["laws"].get("identities", {"mode": "exact"})
        if identities["mode"] == "monte-carlo" and self.explicit_laws:
            bound = min(Fraction(1), self.explicit_laws * round_error_bound(
                identities["degree_bound"], identities["height_bits"]) ** identities["rounds"])
            lines.append(f"Law identities: Monte Carlo, "
                         f"{plural(int(identities['rounds']), 'round')} at random points "
                         f"modulo random primes, error probability <= "
                         f"{format_probability(bound)} (as the file states).")
        closure = self.data["closure"]
        if closure is not None:
            state = "passed" if closure["passed"] else "failed"
            if closure["mode"] == "deterministic":
                n = int(closure["identities"])
                lines.append(f"Closure check: deterministic, {n} cofactor identities checked "
                             f"exactly over Q; {state}.")
            else:
                mode = "Monte Carlo" if closure["mode"] == "monte-carlo" else closure["mode"]
                lines.append(f"Closure check: {mode}, "
                             f"{plural(int(closure['rounds']), 'round')}, error probability <= "
                             f"{format_probability(self.error_bound)}; {state}.")
        soft = self.software
        made = (f"Written by exactcl {soft['exactcl']} (python-flint {soft['python-flint']}, "
                f"Python {soft['python']})")
        lines.append(made + (", reproducibly (no time recorded)." if self.seconds is None
                             else f" in {self.seconds:g} s."))
        return lines

    def _verify_call(self) -> str:
        return "exactcl.verify(path)" if self.source is None else \
            f"exactcl.verify({self.source!r})"

    def summary(self) -> str:
        """What the certificate claims and how, in 4 to 6 lines; the last one
        says it is not verified here.

        >>> from exactcl.certificates.build import certify
        >>> from exactcl.models.builtin import product
        >>> cert, _ = certify(product(3), reproducible=True)
        >>> print(Certificate.from_dict(cert).summary())  # doctest: +ELLIPSIS
        Certificate of product:3 (D = 3; name not checked until verified): claims exactly 2 ...
        Proof: sandwich: 2 exhibited laws and 1 bracket word independent at a point.
        dim Lie = 1; bounds [2, 2].
        Written by exactcl ... reproducibly (no time recorded).
        Not verified yet: run exactcl.verify(path) on its file.
        """
        head = (f"Certificate of {self.model} (D = {self.parameters}; {self.name_note}): "
                f"claims {self._claim()}.")
        where = "" if self.source is not None else " on its file"
        return "\n".join([head] + self._details()
                          + [f"Not verified yet: run {self._verify_call()}{where}."])

    def __repr__(self) -> str:
        laws = self.laws if self.laws is not None else "between {} and {}".format(*self.bounds)
        return (f"Certificate({self.model!r} ({self.name_note}), D={self.parameters}, "
                f"laws={laws}, proof={self.proof!r})")

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: :meth:`summary`, the model in bold, and the
        line saying it is not verified yet in italics."""
        from ..engine.display import markdown_escape, probability_math
        details = [markdown_escape(line) for line in self._details()]
        if self.error_bound is not None:  # the error bound as math: 2^-118 -> $\leq 2^{-118}$
            plain = markdown_escape(f"<= {format_probability(self.error_bound)}")
            details = [line.replace(plain, probability_math(self.error_bound, "\\leq "))
                       for line in details]
        call = self._verify_call()
        call = f"`{call}`" if "`" not in call else markdown_escape(call)
        where = "" if self.source is not None else " on its file"
        return "\n".join(
            [f"Certificate of **{markdown_escape(self.model)}** (D = {self.parameters}; "
             f"{self.name_note}): claims {self._claim()}.", ""]
            + [f"- {line}" for line in details]
            + ["", f"*Not verified yet: run {call}{where}.*"])
