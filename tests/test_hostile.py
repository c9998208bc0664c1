"""Hostile and malformed certificate files.

A file that is malformed must give a clear "unreadable" (exit 3 from the
command line) naming the place, in bounded work and memory: never a
traceback, never code execution. Most cases run in-process through
``verify_text``; a representative subset runs ``python -m exactcl
verify`` in a subprocess under a 2 GiB address-space cap. No test here
asserts a duration: the work a file buys is bounded by the verifier's
deterministic budget (exactcl.kernel.budget), which the tests read from
``Report.work``; subprocesses run under a CPU-time limit that holds on a
machine many times slower than these.

Cases that show a bug of the package are written as they should behave and
marked ``xfail(strict=True)`` with the reason (none is open now).
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import resource
import subprocess
import sys

import pytest
import sympy

import exactcl
from exactcl.certificates.build import certify
from exactcl.kernel import certformat, programs, rankcheck
from exactcl.kernel import verifier as _verifier
from exactcl.kernel.budget import VERIFY_WORK, verify_budget
from exactcl.models.builtin import from_polynomials, linear, product, relu

verify_text = _verifier.verify_text
MAX_WORD_DEPTH = getattr(_verifier, "MAX_WORD_DEPTH", 64)
MAX_WORDS_PER_PARAMETER = getattr(_verifier, "MAX_WORDS_PER_PARAMETER", 8)

GiB = 2**30
#: Only a guard against a hang: no assertion depends on how fast the machine is.
CLI_TIMEOUT = 600
#: CPU seconds a verifying subprocess may use (a file is decided within one
#: second of CPU here; this holds on a machine thirty times slower).
CPU_SECONDS = 30
#: A clear message is one line of reasonable length.
MAX_MESSAGE = 1000

X3 = sympy.symbols("x0:3")

# ----------------------------------------------------------------------------- bases


@pytest.fixture(scope="module")
def certs() -> dict[str, dict]:
    """Honest certificates: sandwich without words, with a word (a network: its
    program), closure by phi (linear:1,2,2,1 given by its phi), closure by
    fields, and two of the program engine: the generators, and probe fields."""
    deep = linear([1, 2, 2, 1])
    out = {}
    for name, model, options in (
            ("product", product(3), {}), ("words", linear([2, 2, 2]), {}),
            ("closure", from_polynomials(deep.ring, deep.phi, name=deep.name), {}),
            ("fields", exactcl.from_fields([[X3[1], X3[0] ** 2, 1]], X3), {}),
            ("program", linear([2, 3, 2]), {"engine": "program"}),
            ("probes", relu([2, 4, 4, 4, 2]), {"engine": "program", "identities": "monte-carlo"})):
        out[name], _ = certify(model, reproducible=True, **options)
    assert "program" in out["words"]["model"] and "phi" in out["closure"]["model"]
    assert out["probes"]["lie"]["generators"]["kind"] == "probes"
    return out


def rng() -> random.Random:
    return random.Random(1234)


def keys_of(path: str) -> list:
    return [int(k) if k.lstrip("-").isdigit() else k for k in path.split(".")]


def changed(cert: dict, path: str, value: object) -> dict:
    c = copy.deepcopy(cert)
    obj = c
    keys = keys_of(path)
    for k in keys[:-1]:
        obj = obj[k]
    obj[keys[-1]] = value
    return c


def removed(cert: dict, path: str) -> dict:
    c = copy.deepcopy(cert)
    obj = c
    keys = keys_of(path)
    for k in keys[:-1]:
        obj = obj[k]
    del obj[keys[-1]]
    return c


def text(cert: dict) -> str:
    return json.dumps(cert, allow_nan=True)


def assert_unreadable(data, *places: str, **options):
    """verify_text(data) is "unreadable", raises nothing, and says where."""
    options.setdefault("rng", rng())
    options.setdefault("check_fingerprint", False)
    report = verify_text(data, **options)
    assert report.status == "unreadable", str(report)[:2000]
    assert report.exit_code == 3
    assert report.checks == ()
    message = report.summary
    assert message and "\n" not in message
    assert len(message) <= MAX_MESSAGE, f"{len(message)} characters: {message[:300]}..."
    for place in places:
        assert place.lower() in message.lower(), (place, message)
    return report


# --------------------------------------------------------------- huge integers


def test_integer_literal_of_100000_digits(certs):
    t = text(certs["product"]).replace('"rank": 1', '"rank": ' + "7" * 100_000, 1)
    assert "7" * 100_000 in t
    assert_unreadable(t, "JSON")


@pytest.mark.parametrize("path", ["lie.point.0", "lie.prime", "claim.parameters",
                                  "laws.polynomials.0.0.0.0.1"])
def test_integer_string_of_thousands_of_digits(certs, path):
    c = changed(certs["product"], path, "9" * 5000)
    place = {"lie.point.0": "lie.point[0]", "laws.polynomials.0.0.0.0.1": "exponent"}
    assert_unreadable(text(c), place.get(path, path))


def test_coefficient_with_thousands_of_digits(certs):
    c = changed(certs["product"], "laws.polynomials.0.0.1", "1/" + "3" * 3000)
    assert_unreadable(text(c), "laws.polynomials[0]", "coefficient")


def test_integer_literal_of_4000_digits_in_the_point(certs):
    t = certformat.dumps(certs["product"])
    first = certs["product"]["lie"]["point"][0]
    t = t.replace(f'"{first}"', "7" * 4000, 1)
    assert_unreadable(t, "lie.point[0]")


# --------------------------------------------------------------- deep nesting


@pytest.mark.parametrize("shape", ["lists", "objects", "inside laws"])
def test_deeply_nested_json(certs, shape):
    n = 100_000
    if shape == "lists":
        t = "[" * n + "]" * n
    elif shape == "objects":
        t = '{"a": ' * n + "1" + "}" * n
    else:
        t = text(changed(certs["product"], "laws.polynomials", "NEST"))
        t = t.replace('"NEST"', "[" * n + "]" * n)
    assert_unreadable(t, "JSON")


# ----------------------------------------------------------- wrong types everywhere

# (base, path, wrong value); every one must be refused naming the place
WRONG_TYPES = [
    ("closure", "schema", 1), ("closure", "schema", None),
    ("closure", "version", "1"), ("closure", "version", True), ("closure", "version", None),
    ("closure", "version", [1]),
    pytest.param("closure", "version", 1.0),
    ("closure", "model", []), ("closure", "model", "phi"), ("closure", "model", None),
    ("closure", "model.name", 7), ("closure", "model.name", None),
    ("closure", "model.fingerprint", []),
    ("closure", "model.variables", None), ("closure", "model.variables", {}),
    ("closure", "model.variables", "t1"), ("closure", "model.variables", []),
    ("closure", "model.variables.0", 1), ("closure", "model.variables.0", None),
    ("closure", "model.variables.0", ["W"]), ("closure", "model.variables.0", True),
    ("closure", "model.phi", None), ("closure", "model.phi", {}), ("closure", "model.phi", []),
    ("closure", "model.phi", "x*y"),
    ("closure", "model.phi.0", None), ("closure", "model.phi.0", {}),
    ("closure", "model.phi.0", "W1_0_0"),
    ("closure", "model.phi.0.0", {}), ("closure", "model.phi.0.0", None),
    ("closure", "model.phi.0.0", [1, 2, 3]),
    ("closure", "model.phi.0.0.0", "x"), ("closure", "model.phi.0.0.0", None),
    ("closure", "model.phi.0.0.0.0", None), ("closure", "model.phi.0.0.0.0", {}),
    ("closure", "model.phi.0.0.0.0.0", True), ("closure", "model.phi.0.0.0.0.0", 1.0),
    ("closure", "model.phi.0.0.0.0.1", False), ("closure", "model.phi.0.0.0.0.1", "x"),
    ("closure", "model.phi.0.0.1", 1), ("closure", "model.phi.0.0.1", "1"),
    ("closure", "model.phi.0.0.1", None), ("closure", "model.phi.0.0.1", "1.5/1"),
    ("closure", "model.phi.0.0.1", [1, 1]), ("closure", "model.phi.0.0.1", True),
    ("fields", "model.fields", None), ("fields", "model.fields", {}),
    ("fields", "model.fields", []),
    ("fields", "model.fields.0", None), ("fields", "model.fields.0", {}),
    ("fields", "model.fields.0.0", "x"), ("fields", "model.fields.0.0.0", True),
    ("fields", "model.fields.0.0.0", None), ("fields", "model.fields.0.0.1", {}),
    ("fields", "model.fields.0.0.1", None),
    ("closure", "claim", []), ("closure", "claim", None),
    ("closure", "claim.parameters", "eight"), ("closure", "claim.parameters", True),
    ("closure", "claim.parameters", None), ("closure", "claim.parameters", 8.0),
    ("closure", "claim.parameters", [8]),
    ("closure", "claim.laws", "seven"), ("closure", "claim.laws", True),
    ("closure", "claim.laws", []), ("closure", "claim.laws", 7.0),
    ("closure", "claim.bounds", None), ("closure", "claim.bounds", {}),
    ("closure", "claim.bounds", "7,7"), ("closure", "claim.bounds", [7, 7, 7]),
    ("closure", "claim.bounds.0", "a"), ("closure", "claim.bounds.0", False),
    ("closure", "claim.bounds.1", None),
    ("closure", "claim.lie_dimension", "one"), ("closure", "claim.lie_dimension", False),
    ("closure", "claim.lie_dimension", {}),
    ("closure", "claim.status", 1), ("closure", "claim.status", None),
    ("closure", "claim.status", ["certified"]),
    ("closure", "claim.proof", None), ("closure", "claim.proof", ["closure"]),
    ("closure", "claim.proof", True),
    ("closure", "lie", None), ("closure", "lie", []),
    ("closure", "lie.point", None), ("closure", "lie.point", {}),
    ("closure", "lie.point", "1,2"), ("closure", "lie.point", ["1"]),
    ("closure", "lie.point.0", True), ("closure", "lie.point.0", 1.5),
    ("closure", "lie.point.0", None), ("closure", "lie.point.0", [1]),
    ("closure", "lie.point.0", "0x10"), ("closure", "lie.point.0", "1e5"),
    ("closure", "lie.prime", None), ("closure", "lie.prime", True),
    ("closure", "lie.prime", []), ("closure", "lie.prime", 7.0), ("closure", "lie.prime", 1),
    ("closure", "lie.words", None), ("closure", "lie.words", {}),
    ("words", "lie.words.0", None), ("words", "lie.words.0", {}),
    ("words", "lie.words.0", "4,0,1"), ("words", "lie.words.0", [4, 0]),
    ("words", "lie.words.0.0", True), ("words", "lie.words.0.1", "x"),
    ("words", "lie.words.0.2", None),
    ("closure", "lie.basis", None), ("closure", "lie.basis", {}),
    ("closure", "lie.basis.0", True), ("closure", "lie.basis.0", "zero"),
    ("closure", "lie.basis.0", None), ("closure", "lie.basis.0", -1),
    ("closure", "lie.rank", "one"), ("closure", "lie.rank", True),
    ("closure", "lie.rank", None), ("closure", "lie.rank", 1.0),
    ("closure", "laws", None), ("closure", "laws", []),
    ("closure", "laws.polynomials", None), ("closure", "laws.polynomials", {}),
    ("closure", "laws.polynomials.0", None), ("closure", "laws.polynomials.0", {}),
    ("closure", "laws.polynomials.0", "W1_0_0^2"),
    ("closure", "laws.polynomials.0.0.1", 2),
    ("closure", "laws.labels", None), ("closure", "laws.labels", "x"),
    ("closure", "laws.labels", []),
    ("closure", "laws.labels.0", 5), ("closure", "laws.labels.0", None),
    ("closure", "laws.rank", None), ("closure", "laws.rank", True),
    ("closure", "laws.rank", "six"), ("closure", "laws.rank", -1),
    ("closure", "closure", []), ("closure", "closure", "deterministic"),
    ("closure", "closure", True),
    ("closure", "closure.mode", None), ("closure", "closure.mode", 5),
    ("closure", "closure.mode", ["deterministic"]),
    ("closure", "closure.rounds", "two"), ("closure", "closure.rounds", True),
    ("closure", "closure.rounds", None), ("closure", "closure.rounds", 2.0),
    ("closure", "closure.rounds", 10**6),
    pytest.param("closure", "closure.passed", "yes"),
    pytest.param("closure", "closure.passed", None),
    pytest.param("closure", "closure.degree_bound", "x"),
    pytest.param("closure", "closure.height_bits", []),
    pytest.param("closure", "closure.error_bound", 0.5),
    pytest.param("closure", "closure.identities", None),
    pytest.param("closure", "closure.primes", "x"),
    pytest.param("closure", "closure.primes", {}),
    pytest.param("words", "closure",
                 {"mode": 5, "passed": "no", "rounds": "x", "degree_bound": None,
                  "height_bits": [], "error_bound": {}, "identities": 1.5, "primes": "p"},
                 id="words-closure-junk-in-a-sandwich-certificate"),
    pytest.param("closure", "software", []),
    pytest.param("closure", "software", None),
    pytest.param("closure", "software.python", 3),
    pytest.param("closure", "seconds", "fast"),
    pytest.param("closure", "seconds", []),
]

#: how the message names a place, where the rule in place_of does not fit
PLACE_OVERRIDES = {"schema": "schema", "version": "version",
                   "laws.labels.0": "laws.labels", "model.variables.0": "model.variables",
                   "lie.words.0": "lie.words[0]"}


def place_of(path: str) -> str:
    """'model.phi.0.0.1' -> 'model.phi[0]': the keys and the first index."""
    if path in PLACE_OVERRIDES:
        return PLACE_OVERRIDES[path]
    out = []
    for k in path.split("."):
        if k.isdigit():
            return ".".join(out) + f"[{k}]"
        out.append(k)
    return ".".join(out)


def _type_id(base, path, value):
    return f"{base}-{path}={json.dumps(value)[:20]}"


def _as_param(entry):
    if not hasattr(entry, "marks"):  # a plain tuple (ParameterSet is a tuple too)
        return pytest.param(*entry, id=_type_id(*entry))
    if entry.id is None:
        return pytest.param(*entry.values, marks=entry.marks, id=_type_id(*entry.values))
    return entry


@pytest.mark.parametrize("base,path,value", [_as_param(e) for e in WRONG_TYPES])
def test_wrong_type_is_refused_naming_the_place(certs, base, path, value):
    assert_unreadable(text(changed(certs[base], path, value)), place_of(path))


# ------------------------------------------- every key, its own value in the wrong type

#: Every key of every section and what the format writes there (written here from
#: the format's description, not read from exactcl.kernel.certformat). "decimal" is an
#: integer written as a decimal string; "rational" a "p/q" string; "?" allows null.
KEY_KINDS = {
    "schema": "str", "version": "int", "model": "object", "claim": "object",
    "lie": "object", "laws": "object", "closure": "object?", "software": "object",
    "seconds": "number?",
    "model.name": "str", "model.variables": "list", "model.variables.0": "str",
    "model.phi": "list", "model.fields": "list", "model.program": "list",
    "model.fingerprint": "str",
    "claim.parameters": "int", "claim.laws": "int?", "claim.bounds": "list",
    "claim.bounds.0": "int", "claim.bounds.1": "int", "claim.lie_dimension": "int?",
    "claim.status": "str", "claim.proof": "str",
    "lie.point": "list", "lie.point.0": "decimal", "lie.prime": "decimal",
    "lie.words": "list", "lie.words.0": "list", "lie.words.0.0": "int",
    "lie.words.0.1": "int", "lie.words.0.2": "int", "lie.basis": "list",
    "lie.basis.0": "int", "lie.rank": "int",
    "lie.generators": "object", "lie.generators.kind": "str", "lie.generators.count": "int",
    "lie.generators.family": "str",
    "laws.identities": "object", "laws.identities.mode": "str", "laws.identities.rounds": "int",
    "laws.identities.degree_bound": "int", "laws.identities.height_bits": "int",
    "laws.polynomials": "list", "laws.labels": "list", "laws.labels.0": "str",
    "laws.rank": "int",
    "closure.mode": "str", "closure.passed": "bool", "closure.rounds": "int",
    "closure.degree_bound": "int", "closure.height_bits": "int",
    "closure.error_bound": "rational", "closure.identities": "int",
    "closure.primes": "list", "closure.primes.0": "decimal",
    "software.exactcl": "str", "software.python-flint": "str", "software.python": "str",
}


@pytest.fixture(scope="module")
def typed_bases(certs) -> dict[str, dict]:
    """A sandwich with a bracket word and labelled laws (a program), a Monte Carlo
    closure with primes, a model given by fields, one given by phi, and probe
    fields with Monte Carlo identities."""
    mc, _ = certify(exactcl.from_fields([[X3[1], X3[0] ** 2, 1]], X3), reproducible=True,
                    closure="monte-carlo")
    return {"words": certs["words"], "mc": mc, "fields": certs["fields"],
            "phi": certs["closure"], "probes": certs["probes"]}


def _base_for(path: str) -> str:
    if path.startswith("closure."):
        return "mc"
    if path.startswith("model.phi"):
        return "phi"
    if path.startswith(("lie.generators.", "laws.identities.")) and not path.endswith(
            (".kind", ".mode")):
        return "probes"
    return "fields" if path.startswith("model.fields") else "words"


def _get(cert: dict, path: str) -> object:
    obj = cert
    for k in keys_of(path):
        obj = obj[k]
    return obj


def _wrong_values(kind: str, value: object) -> list:
    """The value the key holds, given in other JSON types (and other wrong values)."""
    if kind in ("int", "int?"):
        out = [str(value), float(value), True if value else False, [value]]
        return out + ([] if kind == "int?" else [None])
    if kind == "decimal":
        return [int(value), float(int(value)), f"{value}.0", True, None]
    if kind == "str":
        return [7, True, None, [value]]
    if kind == "bool":
        return [int(value), str(value).lower(), None]
    if kind == "rational":
        num, _, den = value.partition("/")
        return [int(num) / int(den), int(num), None, f"{num}/{den}.0"]
    if kind == "list":
        return [{}, "x", None, True]
    if kind in ("object", "object?"):
        return [[], "x", True] + ([] if kind == "object?" else [None])
    if kind == "number?":
        return ["0.5", True, [0.5]]
    raise ValueError(kind)


def test_key_kinds_cover_every_key(typed_bases):
    """KEY_KINDS names every key the certificates hold (a new key needs a kind)."""
    seen = set()
    for cert in typed_bases.values():
        seen |= set(cert)
        for section in ("model", "claim", "lie", "laws", "closure", "software"):
            if cert[section] is not None:
                seen |= {f"{section}.{k}" for k in cert[section]}
        for section, key in (("lie", "generators"), ("laws", "identities")):
            seen |= {f"{section}.{key}.{k}" for k in cert[section][key]}
    assert seen <= set(KEY_KINDS), seen - set(KEY_KINDS)
    assert {k for k in KEY_KINDS if "." not in k or not k.split(".")[-1].isdigit()} <= seen


@pytest.mark.parametrize("path,kind", [pytest.param(p, k, id=p) for p, k in KEY_KINDS.items()])
def test_every_key_refuses_its_value_in_a_wrong_type(typed_bases, path, kind):
    """The value a key holds, or another, in a JSON type the format does not write
    there ("6" for 6, true for 1, 6.0, 6 for "6", null where null is not allowed)
    makes the file unreadable, naming the key, through every reader: the text,
    the dict given to verify_certificate, and Certificate.from_dict."""
    from exactcl.certificates.view import Certificate
    base = typed_bases[_base_for(path)]
    for value in _wrong_values(kind, _get(base, path)):
        cert = changed(base, path, value)
        place = place_of(path)
        assert_unreadable(text(cert), place)
        direct = _verifier.verify_certificate(copy.deepcopy(cert), check_fingerprint=False,
                                              rng=rng())
        assert direct.status == "unreadable" and place in direct.summary, (value, str(direct))
        with pytest.raises(exactcl.CertificateFormatError, match=re.escape(place)):
            Certificate.from_dict(cert)


# ---------------------------------------------------------- unknown and missing keys

SECTIONS = ["", "model", "claim", "lie", "laws", "closure",
            pytest.param("software")]


@pytest.mark.parametrize("section", SECTIONS)
def test_unknown_key_is_refused(certs, section):
    c = copy.deepcopy(certs["closure"])
    (c if not section else c[section])["__proto__"] = 1
    assert_unreadable(text(c), "unknown key", "__proto__",
                      section or "The certificate")


def _all_keys(cert):
    out = [k for k in cert]
    for section in ("model", "claim", "lie", "laws", "closure"):
        out += [f"{section}.{k}" for k in cert[section]]
    return out


@pytest.fixture(scope="module")
def closure_keys(certs):
    return _all_keys(certs["closure"])


MISSING = (["schema", "version", "model", "claim", "lie", "laws", "closure", "software",
            "seconds"]
           + [f"model.{k}" for k in ("name", "variables", "fingerprint")]
           + [f"claim.{k}" for k in ("parameters", "laws", "bounds", "lie_dimension",
                                     "status", "proof")]
           + [f"lie.{k}" for k in ("point", "prime", "generators", "words", "basis", "rank")]
           + [f"laws.{k}" for k in ("polynomials", "labels", "rank", "identities")]
           + [f"closure.{k}" for k in ("mode", "passed", "rounds", "degree_bound",
                                       "height_bits", "error_bound", "identities", "primes")])


@pytest.mark.parametrize("path", MISSING)
def test_missing_key_is_refused(certs, closure_keys, path):
    assert path in closure_keys
    section, _, key = path.rpartition(".")
    assert_unreadable(text(removed(certs["closure"], path)), "lacks", key,
                      section or "The certificate")


@pytest.mark.parametrize("key", [pytest.param(k)
                                 for k in ("exactcl", "python-flint", "python")])
def test_missing_software_key_is_refused(certs, key):
    assert_unreadable(text(removed(certs["closure"], f"software.{key}")), "lacks", key)


def test_model_needs_exactly_one_of_phi_and_fields(certs):
    both = changed(certs["closure"], "model.fields", [])
    assert_unreadable(text(both), "model", "exactly one")
    neither = removed(certs["closure"], "model.phi")
    assert_unreadable(text(neither), "model", "exactly one")
    program = certs["words"]["model"]["program"]
    assert_unreadable(text(changed(certs["closure"], "model.program", program)), "model",
                      "exactly one of 'phi', 'fields', 'program'")
    assert_unreadable(text(removed(certs["words"], "model.program")), "model", "exactly one")


def test_a_version_1_file_holds_no_program(certs):
    old = changed(certs["words"], "version", 1)
    assert_unreadable(text(old), "model", "unknown key", "program")


# ------------------------------------------------------------------- NaN, Infinity

NAN_PLACES = [("lie.point.0", "NaN"), ("claim.parameters", "Infinity"),
              ("laws.rank", "-Infinity"), ("lie.prime", "NaN"), ("lie.basis.0", "NaN"),
              ("closure.rounds", "Infinity"), ("claim.bounds.1", "NaN"),
              ("model.phi.0.0.0.0.1", "Infinity"),
              pytest.param("seconds", "NaN"),
              pytest.param("closure.error_bound", "Infinity")]


@pytest.mark.parametrize("path,literal", NAN_PLACES)
def test_nan_and_infinity_literals_are_refused(certs, path, literal):
    t = text(changed(certs["closure"], path, "@@HERE@@")).replace('"@@HERE@@"', literal)
    assert literal in t
    assert_unreadable(t, place_of(path))
    assert_unreadable(t, "non-finite number")


# ------------------------------------------------------------ bytes, size, garbage


def test_non_utf8_bytes(certs):
    assert_unreadable(b"\xff\xfe\x00\x80 not utf-8", "UTF-8")
    good = certformat.dumps(certs["product"]).encode()
    assert_unreadable(good.replace(b"t2^2 - t1^2", b"t2\xb2 - t1\xb2"), "UTF-8")
    assert_unreadable(good.replace(b'"product:3"', b'"product\xed\xa0\x80"'), "UTF-8")
    assert_unreadable(certformat.dumps(certs["product"]).encode("utf-16"), "UTF-8")


@pytest.mark.parametrize("data", [b"", "", "   \n\t", "\ufeff"], ids=["bytes", "str",
                                                                       "blank", "bom"])
def test_empty_file(data):
    assert_unreadable(data, "JSON")


def test_a_megabyte_of_garbage():
    r = random.Random(5)
    assert_unreadable(r.randbytes(2**20), "UTF-8")
    printable = "".join(r.choices("{}[],:\"0123456789abc \n", k=2**20))
    assert_unreadable(printable, "JSON")
    assert_unreadable(json.dumps(list(range(150_000))), "certificate", "object")


@pytest.mark.parametrize("value", [[1, 2], "certificate", 3, None, True])
def test_top_level_not_an_object(value):
    assert_unreadable(json.dumps(value), "The certificate", "object")


# --------------------------------------------------------------- polynomial terms


@pytest.mark.parametrize("where", ["laws.polynomials.0", "model.phi.0"])
@pytest.mark.parametrize("exponent", [1_000_000_000, 1001, 0, -1, "1000000000",
                                      "1" + "0" * 500])
def test_huge_or_bad_exponent(certs, where, exponent):
    c = changed(certs["product"], where, [[[[0, exponent]], "1/1"]])
    assert_unreadable(text(c), place_of(where), "exponent")


@pytest.mark.parametrize("where", ["laws.polynomials.0", "model.phi.0"])
@pytest.mark.parametrize("var", [3, -1, 10**6, "3", 10**30])
def test_variable_index_out_of_range(certs, where, var):
    c = changed(certs["product"], where, [[[[var, 1]], "1/1"]])
    assert_unreadable(text(c), place_of(where), "variable")


def test_repeated_variable_in_a_monomial(certs):
    c = changed(certs["product"], "laws.polynomials.0", [[[[0, 1], [0, 1]], "1/1"]])
    assert_unreadable(text(c), "laws.polynomials[0]", "distinct")


@pytest.mark.parametrize("where", ["laws.polynomials.0", "model.phi.0"])
@pytest.mark.parametrize("coefficient", ["1/0", "0/0", "-5/0", "1/-3", "1/", "/1", "1/2/3",
                                         "1.5/2", "1/1e3", "one/two", "", "1 / 0"])
def test_bad_coefficient(certs, where, coefficient):
    c = changed(certs["product"], where, [[[[0, 1]], coefficient]])
    assert_unreadable(text(c), place_of(where), "coefficient")


def test_term_without_a_coefficient_or_with_extra_items(certs):
    for term in ([[[0, 1]]], [[[0, 1]], "1/1", "2/1"], [[[0, 1, 2]], "1/1"], [[0, 1], "1/1"]):
        c = changed(certs["product"], "laws.polynomials.0", [term])
        assert_unreadable(text(c), "laws.polynomials[0]", "term 0")



@pytest.mark.parametrize("path,value", [
    pytest.param("lie.point.0", "²"),
    pytest.param("claim.parameters", "³"),
    pytest.param("laws.polynomials.0.0.1", "²/1"),
    pytest.param("model.phi.0.0.0.0.1", "¹"),
])
def test_unicode_digit_strings_never_raise(certs, path, value):
    place = {"laws.polynomials.0.0.1": "coefficient", "model.phi.0.0.0.0.1": "exponent"}
    assert_unreadable(text(changed(certs["product"], path, value)),
                      place.get(path, place_of(path)))


# ---------------------------------------------------------------- names, no code


PAYLOAD = "__import__('os').system('touch {}')"


def test_variable_name_with_code_is_refused_and_never_run(certs, tmp_path):
    marker = tmp_path / "pwned"
    brief = "/tmp/pwned"
    before = os.path.exists(brief) and os.stat(brief).st_mtime_ns
    for payload in (PAYLOAD.format(marker), PAYLOAD.format(brief)):
        c = changed(certs["product"], "model.variables.0", payload)
        assert_unreadable(text(c), "model.variables")
        assert_unreadable(text(c), "model.variables", check_fingerprint=True)
        # the same text anywhere else is data, never code
        for path in ("model.name", "laws.labels.0"):
            verify_text(text(changed(certs["product"], path, payload)), rng=rng())
        for path in ("laws.polynomials.0.0.1", "lie.point.0", "claim.proof"):
            verify_text(text(changed(certs["product"], path, payload)), rng=rng())
    assert not marker.exists()
    assert (os.path.exists(brief) and os.stat(brief).st_mtime_ns) == before



@pytest.mark.parametrize("name", ["1x", "x y", "", "x-y", "lambda", "for", "e\u0301", "\ufb01",
                                  "_x", "x" * 10 + ";", "x\u0661", "\nx",
                                  pytest.param("x\n", id="x-newline")])
def test_bad_variable_names_are_refused(certs, name):
    c = changed(certs["product"], "model.variables.1", name)
    assert_unreadable(text(c), "model.variables")


def test_duplicate_variable_names_are_refused(certs):
    c = changed(certs["product"], "model.variables.1", "t1")
    assert_unreadable(text(c), "model.variables")


def test_duplicate_among_many_variable_names_gives_a_short_message(certs):
    c = changed(certs["product"], "model.variables",
                [f"v{i}" for i in range(20_000)] + ["v0"])
    assert_unreadable(text(c), "model.variables")


def test_many_long_unknown_keys_give_a_short_message(certs):
    c = copy.deepcopy(certs["product"])
    for i in range(200):
        c["k" * 500 + str(i)] = 1
    assert_unreadable(text(c), "unknown key")


# ------------------------------------------------------------------- bracket words


def chain(n: int) -> list[list[int]]:
    """Words 1..n of product:3 (one generator): word k = [X_0, word k-1]."""
    return [[k, 0, k - 1] for k in range(1, n + 1)]


def test_word_chain_deeper_than_the_limit(certs):
    c = changed(certs["product"], "lie.words", chain(MAX_WORD_DEPTH + 1))
    assert_unreadable(text(c), f"lie.words[{MAX_WORD_DEPTH}]", "depth")
    # at the limit the file is readable (the claim is then checked)
    c = changed(certs["product"], "lie.words", chain(MAX_WORD_DEPTH))
    assert verify_text(text(c), rng=rng()).status in ("verified", "false")


@pytest.mark.parametrize("n", [MAX_WORDS_PER_PARAMETER * 3 + 101, 200_000])
def test_more_words_than_allowed(certs, n):
    c = changed(certs["product"], "lie.words", [[k, 0, 0] for k in range(1, n + 1)])
    # refused once the model is read (a few units), before any word is looked at
    assert assert_unreadable(text(c), "lie", "words").work < 100


@pytest.mark.parametrize("words,where", [
    ([[4, 0, 0], [4, 0, 1]], "lie.words[1]"),        # duplicated id
    ([[4, 0, 5], [5, 0, 0]], "lie.words[0]"),        # right operand is a later id
    ([[4, 0, 4]], "lie.words[0]"),                   # right operand is itself
    ([[2, 0, 1]], "lie.words[0]"),                   # id of a generator
    ([[4, 4, 0], [5, 4, 0]], "lie.words[0]"),        # left operand not a generator
    ([[4, 0, 99]], "lie.words[0]"),                  # unknown right operand
    ([[4, -1, 0]], "lie.words[0]"),                  # negative operand
    ([[4, 0, 0, 0]], "lie.words[0]"),                # four items
], ids=["duplicate-id", "later-right", "self-right", "generator-id", "left-not-generator",
        "unknown-right", "negative", "four-items"])
def test_malformed_words(certs, words, where):
    c = changed(certs["words"], "lie.words", words)
    assert_unreadable(text(c), where)


@pytest.mark.parametrize("basis,where", [([0, 1, 2, 3, 99], "lie.basis"),
                                         (list(range(9)), "basis"),
                                         ([0, 1, 2, 3, -4], "lie.basis[4]")])
def test_malformed_basis(certs, basis, where):
    assert_unreadable(text(changed(certs["words"], "lie.basis", basis)), where)


@pytest.mark.parametrize("point", [["1"] * 7, ["1"] * 9, []])
def test_point_of_the_wrong_length(certs, point):
    assert_unreadable(text(changed(certs["words"], "lie.point", point)), "lie.point")


# ======================================================================== CLI


def _limit_memory():  # runs in the child before exec
    resource.setrlimit(resource.RLIMIT_AS, (2 * GiB, 2 * GiB))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_SECONDS, CPU_SECONDS))


def run_cli(*args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("EXACTCL_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "exactcl", "verify", *args],
                          capture_output=True, text=True, timeout=timeout,
                          preexec_fn=_limit_memory, env=env, check=False)


CHECK_LINE = re.compile(r"^  (passed|FAILED)  [A-Za-z][A-Za-z ]*: \S.*$")


def assert_report_lines(out: str, path: str, status: str):
    """The report: a head line, one line per claim (or the reason), a summary."""
    lines = out.rstrip("\n").split("\n")
    assert lines[0] == f"{path}: {status.upper()}", out[:2000]
    if status == "unreadable":
        assert len(lines) == 2 and lines[1].startswith("  ") and lines[1].strip(), out[:2000]
        assert len(lines[1]) <= MAX_MESSAGE + 2
    else:
        assert len(lines) >= 4
        assert all(CHECK_LINE.match(line) for line in lines[1:-1]), out
        assert lines[-1].startswith("  NOT VERIFIED: false claim(s): "), out
        assert any(line.startswith("  FAILED  ") for line in lines[1:-1])


@pytest.fixture(scope="module")
def hostile_files(certs) -> dict[str, tuple[bytes | str, int]]:
    """case -> (file content, expected exit status)"""
    product_text = certformat.dumps(certs["product"])
    false_claim = changed(certs["product"], "claim.laws", 3)
    files = {
        "huge-literal": (product_text.replace('"rank": 1', '"rank": ' + "7" * 100_000, 1), 3),
        "huge-string-int": (text(changed(certs["product"], "lie.point.0", "9" * 5000)), 3),
        "nested": ("[" * 100_000 + "]" * 100_000, 3),
        "non-utf8": (b"\xff\xfe\x00\x80garbage", 3),
        "empty": (b"", 3),
        "garbage-1MB": (random.Random(9).randbytes(2**20), 3),
        "huge-exponent": (text(changed(certs["product"], "laws.polynomials.0",
                                       [[[[0, 1_000_000_000]], "1/1"]])), 3),
        "index-out-of-range": (text(changed(certs["product"], "model.phi.0",
                                            [[[[7, 1]], "1/1"]])), 3),
        "zero-denominator": (text(changed(certs["product"], "laws.polynomials.0.0.1",
                                          "1/0")), 3),
        "injection": (text(changed(certs["product"], "model.variables.0",
                                   PAYLOAD.format("/tmp/pwned"))), 3),
        "nan": (product_text.replace('"rank": 1', '"rank": NaN', 1), 3),
        "wrong-type": (text(changed(certs["closure"], "lie.point.0", True)), 3),
        "unknown-key": (text(changed(certs["closure"], "claim.extra", 1)), 3),
        "missing-key": (text(removed(certs["closure"], "lie.basis")), 3),
        "deep-chain": (text(changed(certs["product"], "lie.words",
                                    chain(MAX_WORD_DEPTH + 1))), 3),
        "duplicate-word": (text(changed(certs["words"], "lie.words",
                                        [[4, 0, 0], [4, 0, 1]])), 3),
        "later-right": (text(changed(certs["words"], "lie.words", [[4, 0, 5], [5, 0, 0]])), 3),
        "truncated": (product_text[: len(product_text) // 2], 3),
        "false-claim": (certformat.dumps(false_claim), 1),
        "huge-program": (text(changed(certs["words"], "model.program",
                                      [["linear", 10**6, 10**6, False]])), 3),
    }
    return files


CLI_CASES = ["huge-literal", "huge-string-int", "nested", "non-utf8", "empty", "garbage-1MB",
             "huge-exponent", "index-out-of-range", "zero-denominator", "injection", "nan",
             "wrong-type", "unknown-key", "missing-key", "deep-chain", "duplicate-word",
             "later-right", "truncated", "false-claim", "huge-program"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_on_hostile_file(hostile_files, tmp_path, case):
    data, code = hostile_files[case]
    path = tmp_path / f"{case}.json"
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    existed = os.path.exists("/tmp/pwned")
    proc = run_cli(str(path))
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.returncode == code, (proc.returncode, proc.stdout[:500], proc.stderr[:500])
    assert proc.stderr == ""
    assert_report_lines(proc.stdout, str(path), "unreadable" if code == 3 else "false")
    if case == "injection" and not existed:
        assert not os.path.exists("/tmp/pwned")


def test_cli_missing_file_and_worst_status(certs, tmp_path):
    good = tmp_path / "good.json"
    good.write_text(certformat.dumps(certs["product"]))
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    missing = tmp_path / "missing.json"
    proc = run_cli(str(missing))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert_report_lines(proc.stdout, str(missing), "unreadable")
    proc = run_cli(str(good), str(bad))
    assert proc.returncode == 3 and "Traceback" not in proc.stderr
    assert f"{good}: VERIFIED" in proc.stdout and f"{bad}: UNREADABLE" in proc.stdout


def test_cli_superscript_digit(certs, tmp_path):
    path = tmp_path / "sup.json"
    path.write_text(text(changed(certs["product"], "lie.point.0", "²")))
    proc = run_cli(str(path))
    assert proc.returncode == 3, (proc.returncode, proc.stderr)


def test_cli_many_variables_within_the_limit(certs, tmp_path):
    D = 100_000
    c = copy.deepcopy(certs["product"])
    c["model"] = {"name": "big", "variables": [f"v{i}" for i in range(D)],
                  "phi": [[[[[0, 1], [1, 1]], "1/1"]]], "fingerprint": ""}
    c["lie"]["point"] = ["1"] * D
    c["claim"]["parameters"] = D
    path = tmp_path / "many.json"
    path.write_text(text(c))
    proc = run_cli("--no-fingerprint", str(path))
    assert proc.returncode in (1, 3), (proc.returncode, proc.stderr[-300:])
    assert "Traceback" not in proc.stderr


def test_cli_large_valid_json_within_the_byte_limit(tmp_path):
    path = tmp_path / "big.json"
    n = 100 * 2**20 // 3
    with open(path, "w") as fh:
        fh.write('{"laws": [')
        fh.write("[]," * n)
        fh.write("[]]}")
    try:
        proc = run_cli(str(path))
    finally:
        path.unlink()
    assert "Traceback" not in proc.stderr
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-300:])


# ----------------------------------------------- work bombs: small legal-looking files

#: Each of these files has a few kB and, without the budget, costs minutes of
#: CPU or more. Each must be decided within the default budget of work.


def _bomb_files(template: dict) -> dict[str, dict]:
    r = random.Random(3)
    out = {}

    def base(names, model_key, model_value):
        c = copy.deepcopy(template)
        c["model"] = {"name": "bomb", "variables": names, model_key: model_value,
                      "fingerprint": ""}
        c["model"]["fingerprint"] = certformat.fingerprint(c["model"])
        c["claim"]["parameters"] = len(names)
        c["lie"]["point"] = [str(r.randrange(10**18)) for _ in names]
        c["laws"] = {"polynomials": [], "labels": [], "rank": 0, "identities": {"mode": "exact"}}
        return c

    # (1) one monomial of degree 1000 in each of 200 variables (every exponent within
    # MAX_EXPONENT): the Lie rank evaluates gradients exactly over Q before reducing mod p
    D = 200
    names = [f"t{i}" for i in range(D)]
    c = base(names, "phi", [[[[[i, 1000] for i in range(D)], "1/1"]]])
    c["lie"].update(basis=[0], rank=1, words=[])
    c["claim"].update(laws=D - 1, lie_dimension=1, bounds=[D - 1, D - 1], proof="sandwich")
    out["monomial-degree"] = c

    # (2), (3) two dense quadratic fields in 8 variables and a chain of bracket words
    D = 8
    names = [f"t{i}" for i in range(D)]

    def dense():
        return [[[[j, 2], [(j + 1) % D, 1]], f"{r.randint(1, 9)}/1"] for j in range(D)] + \
            [[[], "1/1"]]
    fields = [[[j, dense()] for j in range(D)] for _ in range(2)]
    for name, depth in (("chain-beyond-limit", MAX_WORD_DEPTH + 1), ("chain-depth-20", 20)):
        c = base(names, "fields", copy.deepcopy(fields))
        words = [[2, 0, 1]] + [[k, k % 2, k - 1] for k in range(3, depth + 2)]
        c["lie"].update(basis=[depth + 1], rank=1, words=words)
        c["claim"].update(laws=D - 1, lie_dimension=1, bounds=[D - 1, D - 1],
                          proof="sandwich")
        out[name] = c

    # (4) deterministic closure on 8 dense affine fields in 10 variables: (D - K)(K + 1)
    # polynomial determinants of size 8 (the producer would never choose this mode)
    D, K = 10, 8
    names = [f"t{i}" for i in range(D)]

    def affine():
        return [[[[j, 1]], f"{r.randint(1, 9)}/1"] for j in range(D)] + [[[], "1/1"]]
    c = base(names, "fields", [[[j, affine()] for j in range(D)] for _ in range(K)])
    c["lie"].update(basis=list(range(K)), rank=K, words=[])
    c["claim"].update(laws=D - K, lie_dimension=K, bounds=[D - K, D - K], proof="closure")
    c["closure"] = {"mode": "deterministic", "passed": True, "rounds": 0,
                    "degree_bound": 0, "height_bits": 0, "error_bound": "0/1",
                    "identities": 0, "primes": []}
    out["deterministic-closure"] = c

    # (5) a wide ring: 1500 one-term components in 3000 variables; decoding alone
    # builds a dense exponent vector per term
    D = 3000
    names = [f"a{i}" for i in range(D)]
    c = base(names, "phi", [[[[[i, 1]], "1/1"]] for i in range(1500)])
    c["lie"]["point"] = ["1"] * D
    c["lie"].update(basis=[], rank=0, words=[])
    c["claim"].update(laws=D, lie_dimension=0, bounds=[D, D], proof="sandwich")
    out["wide-ring"] = c

    # (6) ten laws of 150 terms against 30 generators of 30 dense components each
    D = 30
    names = [f"t{i}" for i in range(D)]
    phi = [[[[[i, 1], [j, 1]], f"{r.randint(1, 9)}/1"] for j in range(D) if j != i]
           for i in range(D)]
    c = base(names, "phi", phi)
    c["lie"].update(basis=list(range(D)), rank=D, words=[])
    law = [[[[i, 1], [j, 1], [k, 1]], "1/1"] for i, j, k in
           sorted({tuple(sorted(r.sample(range(D), 3))) for _ in range(400)})[:150]]
    c["laws"] = {"polynomials": [law] * 10, "labels": ["h"] * 10, "rank": 10,
                 "identities": {"mode": "exact"}}
    c["claim"].update(laws=0, lie_dimension=D, bounds=[0, 0], proof="sandwich")
    out["many-laws"] = c
    return out


@pytest.fixture(scope="module")
def bomb_texts(certs) -> dict[str, str]:
    texts = {name: certformat.dumps(c) for name, c in _bomb_files(certs["product"]).items()}
    assert all(len(s) < 100_000 for s in texts.values())
    return texts


BOMB_REASONS = {
    "monomial-degree": (
        "Was a bug: 'Lie rank' evaluates each generator exactly over Q at the point and only "
        "then reduces mod p (fields.evaluate_mod -> rings.evaluate): a 10 kB file with one "
        "monomial of exponent 1000 in 200 variables takes minutes (D=100: 34 s)"),
    "chain-beyond-limit": (
        "Was a bug: MAX_WORD_DEPTH is checked word by word while the brackets are built, so a "
        "chain deeper than the limit is refused only after 64 ever larger brackets of "
        "dense fields (depth 12 alone takes > 100 s) instead of at once"),
    "chain-depth-20": (
        "Was a bug: nothing bounds the size of recomputed bracket words: a 5 kB file with two "
        "dense quadratic fields in 8 variables and a chain of depth 20 (limit 64) does "
        "not finish (measured: depth 12 > 100 s, depth 8: 16 s)"),
    "deterministic-closure": (
        "Was a bug: the verifier runs the deterministic closure check whatever its cost "
        "(deterministic_is_cheap is only consulted by the producer): 8 dense affine "
        "fields in 10 variables do not finish in minutes (measured: K=7, D=10: 52 s; "
        "K=6: 3 s)"),
    "wide-ring": (
        "Was a bug: decoding a polynomial builds a dense exponent vector of D entries per "
        "term, uncounted: 1500 one-term components in 3000 variables (an 80 kB file) cost "
        "seconds before any claim was checked"),
    "many-laws": (
        "Was a bug: the law identities multiply every law by every component of every "
        "generator acting on it, uncounted: 10 laws of 150 terms against 30 generators "
        "of 29 components of 29 terms (a 60 kB file)"),
}


#: What each bomb must get: refused by an estimate before the work (status
#: unreadable, message with the estimate), or decided (a false claim) within
#: the budget.
#: (many-laws: the laws' gradients at the point are taken from their sparse terms,
#: so the file, refused on the estimate of dense gradients before, is now decided.)
BOMB_OUTCOMES = {"monomial-degree": "unreadable", "chain-beyond-limit": "unreadable",
                 "chain-depth-20": "refused", "deterministic-closure": "decided",
                 "wide-ring": "refused", "many-laws": "decided"}


@pytest.mark.parametrize("name", list(BOMB_REASONS))
def test_small_file_is_decided_within_the_work_budget(bomb_texts, name):
    report = verify_text(bomb_texts[name], rng=rng())
    assert verify_budget(len(bomb_texts[name])) == VERIFY_WORK  # files under 100 kB
    assert report.work <= VERIFY_WORK, (report.work, report.summary)
    outcome = BOMB_OUTCOMES[name]
    if outcome == "decided":
        assert report.status in ("false", "verified"), report.summary
        return
    assert report.status == "unreadable" and report.exit_code == 3, report.summary
    assert "\n" not in report.summary and len(report.summary) <= MAX_MESSAGE
    if outcome == "refused":
        # refused on the estimate, before the phase it names was computed
        assert report.summary.startswith("refused: "), report.summary
        assert re.search(r"needs an estimated [\d,]+ units of work", report.summary)
        assert "--work-limit" in report.summary


def test_a_refused_file_gets_past_the_refusal_with_the_work_limit_it_names(bomb_texts):
    """The refusal is a matter of budget, not of form: at the work limit it
    names, the phase it refused starts; just below, it is refused again."""
    report = verify_text(bomb_texts["wide-ring"], rng=rng())
    assert "decoding the 1500 components of model.phi" in report.summary
    limit = float(re.search(r"work limit of ([\d.]+)", report.summary).group(1))
    below = verify_text(bomb_texts["wide-ring"], rng=rng(), work_limit=limit * 0.99)
    assert "decoding the 1500 components" in below.summary
    at = verify_text(bomb_texts["wide-ring"], rng=rng(), work_limit=limit)
    assert "decoding" not in at.summary and at.work > report.work, at.summary


def test_bombs_from_the_command_line_under_a_cpu_limit(bomb_texts, tmp_path):
    """Every bomb at once from the command line, each process under
    CPU_SECONDS of CPU: none is killed by the limit, none prints a traceback."""
    procs = {}
    for name, body in bomb_texts.items():
        path = tmp_path / f"{name}.json"
        path.write_text(body)
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "exactcl", "verify", str(path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_limit_memory)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=CLI_TIMEOUT)
        assert "Traceback" not in err, err[-300:]
        expected = 1 if BOMB_OUTCOMES[name] == "decided" else 3
        assert proc.returncode == expected, (name, proc.returncode, out[-300:], err[-300:])


def test_exact_values_at_a_point_of_huge_integers_are_charged_for_their_size(certs):
    """Under --exact the words and law gradients are evaluated over Q at the
    file's point: 390-digit coordinates cost more than 61-bit ones, and the
    budget counts it (the verdict does not change: the point is only where
    ranks are taken)."""
    small = verify_text(text(certs["words"]), rng=rng(), exact=True)
    big_point = [str(10**389 + 7 * k + 1) for k in range(len(certs["words"]["lie"]["point"]))]
    big = verify_text(text(changed(certs["words"], "lie.point", big_point)), rng=rng(),
                      exact=True, check_fingerprint=False)
    assert small.ok and big.status in ("verified", "false"), big.summary
    assert big.work > 2 * small.work and big.work <= VERIFY_WORK


# ------------------------------------------------------- programs: refused before work


def _as_program(cert: dict, layers: list, *, names: list[str] | None = None,
                words: list | None = None, basis: list | None = None) -> dict:
    """``cert`` with its model replaced by the program ``layers`` (variables its
    parameters unless ``names``), the point, words and basis made to fit."""
    from exactcl.kernel.evaluator import Layout
    c = copy.deepcopy(cert)
    if names is None:
        names = list(Layout(layers).parameters)
    c["model"] = {"name": "hostile", "variables": names, "program": layers, "fingerprint": ""}
    c["model"]["fingerprint"] = certformat.fingerprint(c["model"])
    c["claim"].update(parameters=len(names), laws=len(names) - len(basis or [0]),
                      lie_dimension=len(basis or [0]), bounds=[0, 0], proof="sandwich")
    c["lie"].update(point=["3"] * len(names), words=words or [], basis=basis or [0],
                    rank=len(basis or [0]), generators={"kind": "components"})
    c["laws"] = {"polynomials": [], "labels": [], "rank": 0, "identities": {"mode": "exact"}}
    return c


def _forbidden(*args, **kwargs):
    raise AssertionError("work started before the refusal")


@pytest.fixture
def nothing_evaluated(monkeypatch):
    """The verifier must refuse before it expands or evaluates a program."""
    from exactcl.kernel import blocks, evaluator
    monkeypatch.setattr(evaluator, "Words", _forbidden)
    monkeypatch.setattr(blocks, "Words", _forbidden)
    monkeypatch.setattr(rankcheck, "program_phi", _forbidden)


@pytest.fixture
def nothing_built(monkeypatch, nothing_evaluated):
    """... and before it builds the program's layout."""
    monkeypatch.setattr(programs, "Layout", _forbidden)
    monkeypatch.setattr(programs, "BlockLayout", _forbidden)


@pytest.mark.parametrize("layers,place", [
    ([["linear", 100_000, 100_000, False]], "10,000,000,000 parameters"),
    ([["linear", 10**400, 2, False]], "parameters; a certificate holds at most 40,000"),
    ([["linear", 2, 2, False]] * 1001, "model.program must be a list of at most 1000 items"),
    ([["linear", 2, 3, False], ["linear", 4, 1, False]], "layer 2 (linear) takes 4 inputs"),
    ([["relu"], ["linear", 2, 1, False]], "layer 1 (relu) must follow a linear layer"),
    ([["linear", 2, 2, 1]], "layer 1 (linear) must be ['linear', n_in, n_out, bias]"),
    ([["conv", 2, 2]], "layer 1 (conv) must be ['conv', c_in, c_out, kernel, stride, bias, size]"),
    ([], "a program is a non-empty list of layers"),
    ([["conv", 1, 1, [2], [1], False, [10**6]]], "reads 1,000,000 positions"),
    ([["attention", "softmax", 2, 1, 1, 10**6]], "the attention has 1,000,000 tokens"),
    ([["attention", "softmax", 10**4, 10**4, 10**4, 3]], "more than 40,000 parameters"),
    ([["residual", [["linear", 2, 3, False]]]], "must map its input to the same shape"),
    ([["linear", 2, 2, False], ["attention", "linear", 2, 1, 1, 3]], "a model by itself"),
], ids=["10^10-weights", "400-digit-width", "1001-layers", "widths-differ", "relu-first",
        "int-bias", "conv-without-sizes", "empty", "10^6-positions", "10^6-tokens",
        "huge-attention", "residual-reshapes", "attention-after-a-layer"])
def test_a_hostile_program_is_refused_from_its_sizes(certs, nothing_built, layers, place):
    c = copy.deepcopy(certs["words"])
    c["model"]["program"] = layers
    report = assert_unreadable(text(c), place)
    assert report.work == 0


def test_variables_must_be_the_programs_parameters(certs):
    c = copy.deepcopy(certs["words"])
    c["model"]["variables"][3] = "W1_9_9"
    assert_unreadable(text(c), "model.variables must be the program's 8 parameters",
                      "model.variables[3]")
    c["model"]["variables"].append("extra")
    assert_unreadable(text(c), "model.variables")


def test_a_program_too_costly_to_evaluate_is_refused_on_its_estimate(certs,
                                                                     nothing_evaluated):
    """A ReLU of 4000 neurons: each probe field builds a diagonal of 16 million
    entries. The program is never expanded nor evaluated; the refusal says
    what the estimate was for."""
    layers = [["linear", 1, 4000, False], ["relu"], ["linear", 4000, 1, False]]
    names = [f"W1_{i}_0" for i in range(4000)] + [f"W2_0_{j}" for j in range(4000)]
    c = _as_program(certs["words"], layers, names=names, words=[[4000, 0, 1]], basis=[4000])
    report = verify_text(text(c), rng=rng())
    assert report.status == "unreadable", report.summary
    assert report.summary.startswith("refused: evaluating the 1 bracket words from the "
                                     "program at the point needs an estimated"), report.summary


def test_a_deep_word_of_a_program_is_refused_on_its_estimate(certs):
    """A chain of 30 brackets costs 4^30 passes of the program: refused before
    the first evaluation."""
    from exactcl.kernel.evaluator import Layout
    layers = [["linear", 2, 2, False], ["linear", 2, 2, False]]
    d = Layout(layers).components
    chain = [[d, 0, 1]] + [[d + k, k % 2, d + k - 1] for k in range(1, 30)]
    c = _as_program(certs["words"], layers, words=chain, basis=[d + 29])
    from exactcl.kernel import rankcheck
    small, rankcheck.SMALL_TERMS = rankcheck.SMALL_TERMS, 0  # evaluated, not expanded
    try:
        report = verify_text(text(c), rng=rng())
    finally:
        rankcheck.SMALL_TERMS = small
    assert report.status == "unreadable" and report.summary.startswith("refused: evaluating"), \
        report.summary
    assert report.work < VERIFY_WORK


def test_a_closure_over_a_program_too_large_to_expand_is_refused(certs):
    """The closure check needs the expanded generators: a program whose
    expansion exceeds the budget is refused on the estimate of expanding it."""
    c = copy.deepcopy(certs["closure"])
    layers = [["linear", 8, 8, False]] * 6
    from exactcl.kernel.evaluator import Layout
    lay = Layout(layers)
    c = _as_program(c, layers, basis=[0])
    c["claim"].update(proof="closure", laws=lay.D - 1, lie_dimension=1,
                      bounds=[lay.D - 1, lay.D - 1])
    c["closure"] = copy.deepcopy(certs["closure"]["closure"])
    report = verify_text(text(c), rng=rng())
    assert report.status == "unreadable", report.summary
    assert report.summary.startswith("refused: expanding the program's phi (2,396,736 "
                                     "terms built) needs an estimated"), report.summary


def test_a_program_engine_certificate_with_a_closure_section_is_false(certs):
    c = copy.deepcopy(certs["probes"])
    c["closure"] = copy.deepcopy(certs["closure"]["closure"])
    report = verify_text(text(c), rng=rng())
    assert report.status == "false"
    (check,) = [ch for ch in report.checks if ch.claim == "closure"]
    assert "program engine (probe fields), which writes no closure section" in check.detail


@pytest.mark.parametrize("layers", [
    [["attention", "softmax", 2500, 1, 1, 3]],  # d x d products of d = 2500
    [["conv", 32, 32, [3], [1], False, [4096]], ["relu"], ["conv", 32, 32, [3], [1], False,
                                                           [4094]]],
], ids=["wide-attention", "long-convolution"])
def test_a_block_program_too_costly_to_evaluate_is_refused_on_its_estimate(
        certs, nothing_evaluated, layers):
    """A block program within the size limits whose probe fields would cost
    minutes each: refused on the estimate, never evaluated."""
    from exactcl.kernel.blocks import BlockLayout
    names = list(BlockLayout(layers).parameters)
    c = _as_program(certs["words"], layers, names=names, words=[[2, 0, 1]], basis=[2])
    c["lie"]["generators"] = {"kind": "probes", "count": 2, "family": "hostile"}
    c["model"]["fingerprint"] = certformat.fingerprint(c["model"])
    report = verify_text(text(c), rng=rng())
    assert report.status == "unreadable", report.summary
    assert report.summary.startswith("refused: evaluating the 1 bracket words from the "
                                     "program at the point needs an estimated"), report.summary
