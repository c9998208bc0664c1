"""The certificate file format: encoding, strict parsing, atomic writing.

A certificate is one JSON object (schema ``exactcl-certificate``, version
:data:`SCHEMA_VERSION`) with sorted keys, two-space indent, integers that
may exceed 2**53 (the point and the primes) written as decimal strings and
every other integer as a JSON integer, rationals as ``"p/q"``
strings, and polynomials as sorted term lists
``[[[var, exp], ...], "p/q"]``. The same input gives byte-identical files.

Sections (version 2):

``model``
    ``name``, ``variables``, and one of ``program`` (a network: its
    canonical layer list ``[["linear", n_in, n_out, bias], ["relu"], ...]``,
    whose phi, parameters and their order :mod:`exactcl.kernel.evaluator`
    defines; ``variables`` are its parameters, in order), ``phi``
    (polynomials; the generators are their gradients) or ``fields`` (each a
    list of ``[component, polynomial]``); ``fingerprint`` is the SHA-256 of
    the canonical JSON of the rest of the section. A ``name`` that is a
    built-in spec (``linear:2,2,2``) says which model this is, and the
    verifier checks it (:mod:`exactcl.kernel.namecheck`); any other name is a label.
    A model under a flow (:mod:`exactcl.models.flows`) is given by its fields and
    also holds ``flow`` (the kind, damping and metric) and ``base`` (the
    model section it came from, without fingerprint or flow), both or
    neither (:mod:`exactcl.kernel.flowcheck`); the fingerprint covers them. They
    are optional keys of version 2 (a file without them is unchanged), and
    a reader older than them refuses such a file, naming the keys.
``claim``
    ``parameters`` (D), ``laws`` (int or null), ``bounds``,
    ``lie_dimension`` (int or null), ``status``, ``proof``.
``lie``
    ``point``, ``prime``, ``generators``, ``words`` (``[id, left, right]``:
    node ``id`` is the bracket of generator field ``left`` with node
    ``right``; ids below the number of generator fields are those fields),
    ``basis`` (the ids whose values at the point are independent), ``rank``.
    ``generators`` says which fields the words are made of:
    ``{"kind": "components"}``, the generators grad phi_c themselves (or the
    model's fields), in order; or, for a program only,
    ``{"kind": "probes", "count": K, "family": "..."}``, the fields grad F
    of probes ``0 .. K - 1`` of the named family
    (:func:`exactcl.kernel.evaluator.random_probe`): constant combinations of the
    generators, so their words lie in Lie(W) as well.
``laws``
    ``polynomials``, ``labels``, ``rank`` (of their gradients at the point),
    ``identities``: how the identities grad h . X_c = 0 were checked,
    ``{"mode": "exact"}`` (over Q) or, for a program only,
    ``{"mode": "monte-carlo", "rounds": R, "degree_bound": d,
    "height_bits": h}``: R evaluations at random points and probes modulo
    random primes, each missing a false identity with probability at most
    :func:`exactcl.kernel.brackets.round_error_bound` (d, h).
``closure``
    null, or ``mode`` (``deterministic`` or ``monte-carlo``), ``passed``,
    ``rounds``, ``degree_bound``, ``height_bits``, ``error_bound``,
    ``identities``, ``primes``.
``software``, ``seconds``
    Versions, and the time spent (null in reproducible files).
``subset`` (version 3 only, required there)
    The laws that depend only on a parameter subset S
    (:mod:`exactcl.engine.subsets`): ``parameters`` (the names of S, in the
    model's order), ``point`` (theta_S*, their values), ``complements``
    (the points theta'_j: values of the other parameters, in order),
    ``words`` (ids of the generator fields or of ``lie.words`` evaluated at
    every (theta_S*, theta'_j)), ``rank`` (K_S, the rank of those values
    restricted to S), ``polynomials`` and ``labels`` (laws involving only S),
    ``laws_rank`` (M_S, the rank of their gradients at theta_S*), ``laws``
    (int or null), ``bounds`` and ``proof`` (``sandwich``, ``bounds only``,
    or ``closure`` when S is every parameter and the count is proven so).

Version 1 files (still read) have no ``program``, ``lie.generators`` nor
``laws.identities``: their generators are the model's, their identities exact.

Parsing is strict and bounded: unknown or missing keys, wrong types,
oversized numbers, exponents or lists are refused with
:class:`~exactcl.errors.CertificateFormatError`, and so is a program whose
layers are not a network or that has more than :data:`MAX_PROGRAM_VARIABLES`
parameters (refused from its sizes, before anything is built; other models
hold at most :data:`MAX_VARIABLES`); nothing in
a file is ever evaluated as code.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from fractions import Fraction

from flint import fmpq_mpoly

from .errors import CertificateFormatError
from .fields import VectorField
from .programs import program_layout
from .reading import (
    MAX_BOUND,
    MAX_EXPONENT,
    MAX_FAMILY_CHARS,
    MAX_FILE_BYTES,
    MAX_IDENTITY_ROUNDS,
    MAX_ITEMS,
    MAX_PROGRAM_VARIABLES,
    MAX_TERM_DEGREE,
    MAX_TERMS,
    MAX_VARIABLES,
    _fail,
    _int,
    _keys,
    _list,
    _rational,
    _short,
    checked,
    int_list,
    strict_json,
)
from .rings import Ring, canonical_terms, poly_from_terms, poly_terms

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "encode_poly",
    "flow_structure",
    "decode_poly",
    "encode_field",
    "decode_field",
    "fingerprint",
    "dumps",
    "loads",
    "check_structure",
]

SCHEMA = "exactcl-certificate"
SCHEMA_VERSION = 2
#: The version of a certificate that also holds a ``subset`` section (a count
#: of the laws on a parameter subset); a file without one keeps SCHEMA_VERSION.
SUBSET_VERSION = 3
#: The versions :func:`loads` reads.
READ_VERSIONS = (1, 2, 3)

TOP_KEYS = {"schema", "version", "model", "claim", "lie", "laws", "closure", "software",
            "seconds"}
MODEL_KEYS = {"name", "variables", "phi", "fields", "program", "fingerprint"}
#: The keys of a model under a flow (version 2 and later, both or neither): the flow
#: and the model section it came from (:mod:`exactcl.kernel.flowcheck`).
FLOW_KEYS = {"flow", "base"}
CLAIM_KEYS = {"parameters", "laws", "bounds", "lie_dimension", "status", "proof"}
#: The keys of lie and laws in version 1; version 2 adds generators and identities.
LIE_KEYS = {"point", "prime", "words", "basis", "rank"}
LAWS_KEYS = {"polynomials", "labels", "rank"}
GENERATOR_KINDS = ("components", "probes")
IDENTITY_MODES = ("exact", "monte-carlo")
SOFTWARE_KEYS = {"exactcl", "python-flint", "python"}
CLOSURE_KEYS = {"mode", "passed", "rounds", "degree_bound", "height_bits", "error_bound",
                "identities", "primes"}
SUBSET_KEYS = {"parameters", "point", "complements", "words", "rank", "polynomials", "labels",
               "laws_rank", "laws", "bounds", "proof"}


# -- encoding -----------------------------------------------------------------

def _q(c: Fraction) -> str:
    return f"{c.numerator}/{c.denominator}"


def encode_poly(p: fmpq_mpoly) -> list:
    """Sorted terms ``[[[var, exp], ...], "p/q"]``.

    >>> R = Ring(("u", "v"))
    >>> u, v = R.gens
    >>> encode_poly(2 * u**2 - v / 3)
    [[[[0, 2]], '2/1'], [[[1, 1]], '-1/3']]
    """
    return encode_terms(poly_terms(p))


def encode_terms(terms) -> list:
    """:func:`encode_poly` of the polynomial with these sparse terms
    (:func:`~exactcl.kernel.rings.canonical_terms`), without reading it from flint.

    >>> encode_terms([(((1, 1),), "-1/3"), (((0, 2),), 2)])
    [[[[0, 2]], '2/1'], [[[1, 1]], '-1/3']]
    """
    return [[[list(ve) for ve in mono], _q(c)] for mono, c in canonical_terms(terms)]


def encode_field(X: VectorField) -> list:
    return [[v, encode_poly(p)] for v, p in X.components]


def fingerprint(model_section: dict) -> str:
    """SHA-256 of the canonical JSON of a model section without its fingerprint."""
    body = {k: v for k, v in model_section.items() if k != "fingerprint"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


#: Lists nested at most this deep (a polynomial is 4 deep) are written on one line.
COMPACT_DEPTH = 4


def _depth(obj: object) -> int:
    if isinstance(obj, list):
        return 1 + max((_depth(x) for x in obj), default=0)
    if isinstance(obj, dict):
        return 99
    return 0


def _dump(obj: object, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        out.append("{\n")
        for k, key in enumerate(sorted(obj)):
            out.append(f"{pad} {json.dumps(key)}: ")
            _dump(obj[key], indent + 1, out)
            out.append(",\n" if k < len(obj) - 1 else "\n")
        out.append(pad + "}")
    elif isinstance(obj, list) and obj and _depth(obj) > COMPACT_DEPTH:
        out.append("[\n")
        for k, item in enumerate(obj):
            out.append(pad + " ")
            _dump(item, indent + 1, out)
            out.append(",\n" if k < len(obj) - 1 else "\n")
        out.append(pad + "]")
    else:
        out.append(json.dumps(obj, sort_keys=True, separators=(", ", ": ")))


def dumps(cert: dict) -> str:
    """Canonical text of a certificate: sorted keys, one space of indent per
    level, each polynomial on one line, final newline. Valid JSON.

    >>> dumps({"b": [[[[0, 2]], "1/1"]], "a": None})
    '{\\n "a": null,\\n "b": [[[[0, 2]], "1/1"]]\\n}\\n'
    """
    out: list[str] = []
    _dump(cert, 0, out)
    return "".join(out) + "\n"


def decode_poly(obj: object, ring: Ring, where: str) -> fmpq_mpoly:
    """Parse an encoded polynomial, refusing anything malformed or oversized."""
    return poly_from_terms(ring, decode_terms(obj, ring, where))


def decode_terms(obj: object, ring: Ring, where: str) -> list:
    """:func:`decode_poly`'s checks, giving the polynomial's canonical sparse
    terms (:func:`~exactcl.kernel.rings.canonical_terms`) instead of building it."""
    terms = []
    for k, term in enumerate(_list(obj, where, MAX_TERMS)):
        if not isinstance(term, list) or len(term) != 2:
            raise _fail(f"{where}, term {k}", "[monomial, coefficient]", term)
        mono = []
        for ve in _list(term[0], f"{where}, term {k}", MAX_EXPONENT):
            if not isinstance(ve, list) or len(ve) != 2:
                raise _fail(f"{where}, term {k}", "[variable, exponent] pairs", ve)
            var = _int(ve[0], f"{where}, term {k}, variable", 0, ring.nvars - 1)
            exp = _int(ve[1], f"{where}, term {k}, exponent", 1, MAX_EXPONENT)
            mono.append((var, exp))
        if len({v for v, _ in mono}) != len(mono):
            raise _fail(f"{where}, term {k}", "a monomial with distinct variables", term[0])
        if sum(e for _, e in mono) > MAX_TERM_DEGREE:
            raise _fail(f"{where}, term {k}", f"a monomial of degree <= {MAX_TERM_DEGREE}",
                        f"degree {sum(e for _, e in mono)}")
        coeff = _rational(term[1], f"{where}, term {k}, coefficient")
        terms.append((tuple(sorted(mono)), coeff))
    return canonical_terms(terms)


def decode_field(obj: object, ring: Ring, where: str) -> VectorField:
    comps = {}
    for k, item in enumerate(_list(obj, where, ring.nvars)):
        if not isinstance(item, list) or len(item) != 2:
            raise _fail(f"{where}, component {k}", "[index, polynomial]", item)
        v = _int(item[0], f"{where}, component {k}", 0, ring.nvars - 1)
        if v in comps:
            raise _fail(f"{where}, component {k}", "a new component index", v)
        comps[v] = decode_poly(item[1], ring, f"{where}, component {v}")
    return VectorField.from_components(ring, comps)


def loads(text: str | bytes) -> dict:
    """Parse certificate text into a checked dict; raises CertificateFormatError.

    Only the structure and the types are checked here (:func:`check_structure`);
    every claim is re-derived by the verifier.
    """
    if isinstance(text, bytes):
        if len(text) > MAX_FILE_BYTES:
            raise CertificateFormatError(f"The file has {len(text)} bytes; at most "
                                         f"{MAX_FILE_BYTES} are read.")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise CertificateFormatError("The file is not UTF-8 text.") from err
    if len(text) > MAX_FILE_BYTES:
        raise CertificateFormatError(f"The certificate has {len(text)} characters; at most "
                                     f"{MAX_FILE_BYTES} are read.")
    return check_structure(strict_json(text))


def check_structure(cert: object) -> dict:
    """Check the keys of a parsed certificate and the type of every value;
    raises CertificateFormatError naming the first wrong place.

    Every key of every section is checked here, strictly: a JSON integer is
    not a bool, a float or a string; an integer the format writes as a
    decimal string (``lie.point``, ``lie.prime``, ``closure.primes``) must be
    one; null only for ``claim.laws``, ``claim.lie_dimension``, ``closure``
    and ``seconds``. Polynomials are checked term by term when they are
    decoded (:func:`decode_poly`), against the ring of the model.

    >>> check_structure({"schema": "exactcl-certificate"})
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: The certificate lacks the key(s) claim, closure, laws, lie, model, seconds, software, version.
    """
    _keys(cert, "The certificate", TOP_KEYS, {"subset"})
    if not isinstance(cert["schema"], str) or cert["schema"] != SCHEMA:
        raise _fail("The key 'schema'", repr(SCHEMA), cert["schema"])
    version = cert["version"]
    if type(version) is not int or version not in READ_VERSIONS:
        raise CertificateFormatError(
            f"Schema version {_short(version)} is not supported (this exactcl reads "
            f"versions {', '.join(map(str, READ_VERSIONS))}).")
    if (version >= SUBSET_VERSION) != ("subset" in cert):
        raise CertificateFormatError(
            f"A certificate of version {version} must {'' if version >= SUBSET_VERSION else 'not '}"
            f"hold a 'subset' section (version {SUBSET_VERSION} is the one that does).")
    if "subset" in cert:
        subset_structure(cert["subset"])
    model = model_structure(cert["model"], version)

    claim = _keys(cert["claim"], "claim", CLAIM_KEYS)
    checked(claim["parameters"], "claim.parameters", "int", lo=0)
    checked(claim["laws"], "claim.laws", "int?", lo=0)
    int_list(claim["bounds"], "claim.bounds", length=2)
    checked(claim["lie_dimension"], "claim.lie_dimension", "int?", lo=0)
    checked(claim["status"], "claim.status", "str")
    checked(claim["proof"], "claim.proof", "str")

    lie = _keys(cert["lie"], "lie", LIE_KEYS | ({"generators"} if version >= 2 else set()))
    if version >= 2:
        generator_fields(lie["generators"], "program" in model)
    int_list(lie["point"], "lie.point", decimal=True)
    checked(lie["prime"], "lie.prime", "decimal", lo=2)
    for k, word in enumerate(_list(lie["words"], "lie.words")):
        int_list(word, f"lie.words[{k}]", length=3, lo=0)
    int_list(lie["basis"], "lie.basis", lo=0)
    checked(lie["rank"], "lie.rank", "int", lo=0)

    laws = _keys(cert["laws"], "laws", LAWS_KEYS | ({"identities"} if version >= 2 else set()))
    if version >= 2:
        identity_check(laws["identities"], "program" in model)
    _list(laws["polynomials"], "laws.polynomials")
    labels = _list(laws["labels"], "laws.labels")
    if not all(isinstance(s, str) for s in labels):
        raise _fail("laws.labels", "a list of strings", labels)
    checked(laws["rank"], "laws.rank", "int", lo=0)

    closure = cert["closure"]
    if closure is not None:
        _keys(closure, "closure", CLOSURE_KEYS)
        checked(closure["mode"], "closure.mode", "str")
        checked(closure["passed"], "closure.passed", "bool")
        for key in ("rounds", "degree_bound", "height_bits", "identities"):
            checked(closure[key], f"closure.{key}", "int", lo=0)
        bound = checked(closure["error_bound"], "closure.error_bound", "rational")
        if not 0 <= bound <= 1:
            raise _fail("closure.error_bound", "a probability in [0, 1]", closure["error_bound"])
        int_list(closure["primes"], "closure.primes", lo=2, decimal=True)
    software = _keys(cert["software"], "software", SOFTWARE_KEYS)
    for key in sorted(SOFTWARE_KEYS):
        if not isinstance(software[key], str) or len(software[key]) > 100:
            raise _fail(f"software.{key}", "a version string", software[key])
    seconds = cert["seconds"]
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds < 0):
        raise _fail("seconds", "null or a non-negative number", seconds)
    return cert


def model_structure(obj: object, version: int, where: str = "model") -> dict:
    """The checked keys and types of a model section (``where``: ``model``, or
    ``model.base``, the model a flow came from, which holds no fingerprint
    and no flow of its own: one level only). A ``flow`` section
    (version 2 and later) is checked by :func:`exactcl.kernel.flowcheck.flow_structure`.

    >>> model_structure({"name": "uv", "variables": ["u"], "phi": [], "fingerprint": "",
    ...                  "flow": {"kind": "momentum", "tau": "1/1"}}, 2)
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model holds a flow but no base: a flow's fields are checked against the model they came from, so both or neither.
    """
    base = where != "model"
    sources = ("phi", "fields", "program") if version >= 2 else ("phi", "fields")
    required = {"name", "variables"} | (set() if base else {"fingerprint"})
    optional = set(sources) | (FLOW_KEYS if version >= 2 and not base else set())
    model = _keys(obj, where, required, optional)
    if sum(key in model for key in sources) != 1:
        raise CertificateFormatError(f"{where} must hold exactly one of "
                                     f"{', '.join(map(repr, sources))}.")
    # a program's fields are evaluated, never expanded, unless a flow acts on them
    wide = "program" in model and not FLOW_KEYS & model.keys()
    names = _list(model["variables"], f"{where}.variables",
                  MAX_PROGRAM_VARIABLES if wide else MAX_VARIABLES)
    if not names or not all(isinstance(n, str) for n in names):
        raise _fail(f"{where}.variables", "a non-empty list of names", names)
    for key in sorted(required - {"variables"}):
        if not isinstance(model[key], str):
            raise _fail(f"{where}.{key}", "a string", model[key])
    for key in ("phi", "fields"):
        if key in model:
            _list(model[key], f"{where}.{key}")
    if "program" in model:
        layout = program_layout(model)
        if tuple(names) != layout.parameters:
            k = next((k for k, (a, b) in enumerate(zip(names, layout.parameters)) if a != b),
                     min(len(names), len(layout.parameters)))
            raise CertificateFormatError(
                f"{where}.variables must be the program's {layout.D} parameters in order "
                f"({', '.join(layout.parameters[:3])}, ...); the file has {len(names)}, "
                f"differing first at {where}.variables[{k}].")
    present = sorted(FLOW_KEYS & set(model))
    if present and len(present) != len(FLOW_KEYS):
        missing = sorted(FLOW_KEYS - set(model))[0]
        raise CertificateFormatError(
            f"{where} holds a {present[0]} but no {missing}: a flow's fields are checked "
            f"against the model they came from, so both or neither.")
    if present:
        if "fields" not in model:
            raise CertificateFormatError(f"{where} holds a flow, so it must be given by the "
                                         f"flow's fields ({where}.fields), not by "
                                         f"{'phi' if 'phi' in model else 'a program'}.")
        base_section = model_structure(model["base"], version, f"{where}.base")
        flow_structure(model["flow"], base_section["variables"], f"{where}.flow")
    return model


# -- the flow section ---------------------------------------------------------------

#: The kinds of flow a certificate may name (a metric alone is ``gradient``).
FILE_FLOW_KINDS = ("gradient", "momentum", "nesterov", "mirror-momentum")
#: The kinds that hold a damping tau.
_DAMPED = ("momentum", "mirror-momentum")
#: The longest tensor name of a diagonal metric.
MAX_TENSOR_CHARS = 200
#: The largest matrix metric a file may hold: D x D entries, D at most this.
MAX_MATRIX_SIDE = 1000


def flow_structure(obj: object, base_variables: Sequence[str], where: str = "model.flow"
                   ) -> dict:
    """Check the keys, types and sizes of a flow section against the base's
    variables; raises CertificateFormatError naming the first wrong place.

    Examples
    --------
    >>> flow_structure({"kind": "momentum", "tau": "1/2"}, ["u", "v"])
    {'kind': 'momentum', 'tau': '1/2'}
    >>> flow_structure({"kind": "momentum", "tau": "-1/2"}, ["u", "v"])
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.flow.tau must be a damping tau >= 0, not '-1/2'.
    >>> flow_structure({"kind": "adam"}, ["u"])
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.flow.kind must be 'gradient', 'momentum', 'nesterov' or 'mirror-momentum', not 'adam'.
    >>> flow_structure({"kind": "mirror-momentum", "tau": "1/1"}, ["u"])
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.flow is the mirror momentum but holds no metric: its force diag(tau theta + theta') grad E is stated on the tensors of a diagonal metric ({"kind": "diag", "tensors": []} for every parameter).
    >>> flow_structure({"kind": "gradient", "metric": {"kind": "diag", "tensors": ["W9"]}},
    ...                ["W1_0_0", "W2_0_0"])
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: model.flow.metric.tensors[0] must be a tensor of the base model (a parameter W9 or W9_...), not 'W9'.
    """
    kind = obj.get("kind") if isinstance(obj, dict) else None
    flow = _keys(obj, where, {"kind"}, {"tau", "metric"})
    if not isinstance(kind, str) or kind not in FILE_FLOW_KINDS:
        raise _fail(f"{where}.kind", "'gradient', 'momentum', 'nesterov' or "
                                     "'mirror-momentum'", kind)
    if kind in _DAMPED:
        if "tau" not in flow:
            raise CertificateFormatError(f"{where} is {kind} but holds no damping tau.")
        if _rational(flow["tau"], f"{where}.tau") < 0:
            raise _fail(f"{where}.tau", "a damping tau >= 0", flow["tau"])
    elif "tau" in flow:
        raise CertificateFormatError(f"{where} is {kind} and holds a damping tau: only "
                                     f"momentum and mirror-momentum have one.")
    if kind == "mirror-momentum" and (not isinstance(flow.get("metric"), dict)
                                      or flow["metric"].get("kind") != "diag"):
        raise CertificateFormatError(
            f"{where} is the mirror momentum but holds no "
            f"{'metric' if 'metric' not in flow else 'diagonal metric'}: its force "
            f"diag(tau theta + theta') grad E is stated on the tensors of a diagonal metric "
            f'({{"kind": "diag", "tensors": []}} for every parameter).')
    if "metric" not in flow:
        if kind == "gradient":
            raise CertificateFormatError(f"{where} is the gradient flow without a metric: "
                                         f"that is the base model itself, with no flow.")
        return flow
    metric = flow["metric"]
    mkind = metric.get("kind") if isinstance(metric, dict) else None
    if mkind == "diag":
        _keys(metric, f"{where}.metric", {"kind", "tensors"})
        tensors = _list(metric["tensors"], f"{where}.metric.tensors", MAX_VARIABLES)
        known = _tensor_names(base_variables)
        for k, t in enumerate(tensors):
            if not isinstance(t, str) or not 0 < len(t) <= MAX_TENSOR_CHARS:
                raise _fail(f"{where}.metric.tensors[{k}]", f"a name of 1 to "
                                                           f"{MAX_TENSOR_CHARS} characters", t)
            if t not in known:
                raise _fail(f"{where}.metric.tensors[{k}]", f"a tensor of the base model (a "
                                                           f"parameter {t} or {t}_...)", t)
        if len(set(tensors)) != len(tensors):
            raise _fail(f"{where}.metric.tensors", "distinct names", tensors)
    elif mkind == "matrix":
        _keys(metric, f"{where}.metric", {"kind", "rows"})
        D = len(base_variables)
        if D > MAX_MATRIX_SIDE:
            raise CertificateFormatError(f"{where}.metric is a matrix of side {D:,} (the base "
                                         f"has {D:,} variables); at most {MAX_MATRIX_SIDE:,} "
                                         f"is read.")
        rows = _list(metric["rows"], f"{where}.metric.rows", D)
        if len(rows) != D:
            raise _fail(f"{where}.metric.rows", f"{D} rows (one per variable of the base)",
                        f"{len(rows)} rows")
        terms = 0
        for i, row in enumerate(rows):
            row = _list(row, f"{where}.metric.rows[{i}]", D)
            if len(row) != D:
                raise _fail(f"{where}.metric.rows[{i}]", f"{D} entries", f"{len(row)} entries")
            for j, entry in enumerate(row):
                terms += len(_list(entry, f"{where}.metric.rows[{i}][{j}]", MAX_TERMS))
            if terms > MAX_TERMS:
                raise CertificateFormatError(f"{where}.metric holds more than {MAX_TERMS:,} "
                                             f"terms.")
        if D * D > MAX_ITEMS:
            raise CertificateFormatError(f"{where}.metric has more than {MAX_ITEMS:,} entries.")
    else:
        raise _fail(f"{where}.metric.kind", "'diag' or 'matrix'", mkind)
    return flow


def _tensor_names(variables: Sequence[str]) -> set[str]:
    """Every name a diagonal metric may give for these variables: a variable,
    or one of its prefixes before an underscore."""
    out = set()
    for name in variables:
        if not isinstance(name, str):
            continue
        out.add(name)
        out.update(name[:k] for k, ch in enumerate(name) if ch == "_")
        letters = len(name) - len(name.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
        if 0 < letters < len(name) and name[letters].isdigit():  # U0_1: the tensor U
            out.add(name[:letters])
    return out


def subset_structure(obj: object) -> dict:
    """The checked types of a ``subset`` section (what it claims is checked by
    :func:`exactcl.kernel.subsetcheck.subset_checks`).

    >>> subset_structure({"parameters": ["u"]})
    Traceback (most recent call last):
    ...
    exactcl.errors.CertificateFormatError: subset lacks the key(s) bounds, complements, labels, laws, laws_rank, point, polynomials, proof, rank, words.
    """
    section = _keys(obj, "subset", SUBSET_KEYS)
    names = _list(section["parameters"], "subset.parameters", MAX_PROGRAM_VARIABLES)
    if not names or not all(isinstance(n, str) for n in names):
        raise _fail("subset.parameters", "a non-empty list of names", names)
    int_list(section["point"], "subset.point", decimal=True)
    for j, c in enumerate(_list(section["complements"], "subset.complements", 1000)):
        int_list(c, f"subset.complements[{j}]", decimal=True)
    int_list(section["words"], "subset.words", lo=0)
    checked(section["rank"], "subset.rank", "int", lo=0)
    _list(section["polynomials"], "subset.polynomials")
    labels = _list(section["labels"], "subset.labels")
    if not all(isinstance(s, str) for s in labels):
        raise _fail("subset.labels", "a list of strings", labels)
    checked(section["laws_rank"], "subset.laws_rank", "int", lo=0)
    checked(section["laws"], "subset.laws", "int?", lo=0)
    int_list(section["bounds"], "subset.bounds", length=2)
    checked(section["proof"], "subset.proof", "str")
    return section


def generator_fields(obj: object, program: bool) -> dict:
    """The checked ``lie.generators`` section (probes only for a program)."""
    kind = obj.get("kind") if isinstance(obj, dict) else None
    if kind == "probes":
        gen = _keys(obj, "lie.generators", {"kind", "count", "family"}, {"expansion"})
        if "expansion" in gen and not isinstance(gen["expansion"], str):
            raise _fail("lie.generators.expansion", "a string", gen["expansion"])
        _int(gen["count"], "lie.generators.count", 1, MAX_ITEMS)
        family = gen["family"]
        if not isinstance(family, str) or not 0 < len(family) <= MAX_FAMILY_CHARS:
            raise _fail("lie.generators.family", f"a name of 1 to {MAX_FAMILY_CHARS} "
                                                 f"characters", family)
        if not program:
            raise CertificateFormatError("lie.generators is 'probes' but the model is not a "
                                         "program: probe fields exist only for a program.")
        return gen
    gen = _keys(obj, "lie.generators", {"kind"})
    if not isinstance(kind, str) or kind not in GENERATOR_KINDS:
        raise _fail("lie.generators.kind", " or ".join(map(repr, GENERATOR_KINDS)), kind)
    return gen


def identity_check(obj: object, program: bool) -> dict:
    """The checked ``laws.identities`` section (Monte Carlo only for a program)."""
    mode = obj.get("mode") if isinstance(obj, dict) else None
    if mode == "monte-carlo":
        ids = _keys(obj, "laws.identities", {"mode", "rounds", "degree_bound", "height_bits"})
        _int(ids["rounds"], "laws.identities.rounds", 1, MAX_IDENTITY_ROUNDS)
        _int(ids["degree_bound"], "laws.identities.degree_bound", 0, MAX_BOUND)
        _int(ids["height_bits"], "laws.identities.height_bits", 0, MAX_BOUND)
        if not program:
            raise CertificateFormatError("laws.identities is 'monte-carlo' but the model is not "
                                         "a program: its identities are checked exactly.")
        return ids
    ids = _keys(obj, "laws.identities", {"mode"})
    if not isinstance(mode, str) or mode not in IDENTITY_MODES:
        raise _fail("laws.identities.mode", " or ".join(map(repr, IDENTITY_MODES)), mode)
    return ids


def encode_ints(values: Sequence[int]) -> list[str]:
    """Integers as decimal strings (exact in every JSON reader)."""
    return [str(int(v)) for v in values]
