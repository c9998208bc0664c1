"""Mutation tests of the certificate verifier.

Honest certificates are built once per module; each mutation is applied to
a deep copy, serialised with :func:`exactcl.kernel.certformat.dumps` and verified
from the text (the path a file takes) with ``check_fingerprint=False``: the
fingerprint is an integrity check, so a false claim must be caught by
recomputation alone. Instances that need no parsing step are also verified
directly with ``verify_certificate`` on the mutated dict, and both outcomes
must agree.

Every mutation kind is classified:

* MUST-REJECT: the claim becomes false, or the file unsupported by what it
  records (a proof kind whose evidence is absent). The verifier must not
  say "verified", must not raise, and the failing check must name the claim
  (or, for a malformed file, the status must be "unreadable").
* MAY-PASS: a still-valid proof may remain (another point or prime where
  the rank still holds, a rescaled generator, another genuine bracket
  word, ...). If the verifier accepts, an oracle that does not trust it
  rebuilds the mutated model from the file (``generators_of`` +
  ``models.from_fields``) and recounts with ``exactcl.count``: the claimed
  count must be the true one.

``pytest -s tests/test_mutations.py -k summary`` prints the table of kinds,
instances, rejections and passes-as-still-valid.
"""

from __future__ import annotations

import copy
import json
import random
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import sympy

import exactcl
from exactcl.certificates.build import certify
from exactcl.kernel import certformat, programs, rebuild
from exactcl.kernel.verifier import verify_certificate, verify_text
from exactcl.models.builtin import from_fields as fields_model
from exactcl.models.builtin import linear, product, relu

MUST_REJECT = "MUST-REJECT"
MAY_PASS = "MAY-PASS"

# expectations of one instance
REJECT = "reject"          # readable, status "false", a named check fails
UNREADABLE = "unreadable"  # malformed: status "unreadable"
MAYBE = "may-pass"         # either way; if verified the oracle must agree

# ----------------------------------------------------------------------------- bases

XS = sympy.symbols("x0:4")
YS = sympy.symbols("y0:5")


def random_field(seed: int = 1) -> list[sympy.Expr]:
    """A seeded random polynomial vector field on R^4 (degree <= 4)."""
    rnd = random.Random(seed)
    comps = []
    for _ in range(4):
        expr = sympy.Integer(0)
        for _ in range(3):
            mono = sympy.Integer(rnd.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]))
            for v in rnd.sample(XS, rnd.randint(0, 2)):
                mono *= v ** rnd.randint(1, 2)
            expr += mono
        comps.append(sympy.expand(expr))
    return comps


FIELD = random_field()

#: name -> (builder, certify options, expected (proof, laws, exhibited, closure mode))
BASES: dict[str, tuple[Callable, dict, tuple]] = {
    "linear:2,2,2": (lambda: linear([2, 2, 2]), {}, ("sandwich", 3, 3, None)),
    "relu-bias:2,3,2": (lambda: relu([2, 3, 2], bias=True), {}, ("sandwich", 3, 3, None)),
    "product:3": (lambda: product(3), {}, ("sandwich", 2, 2, None)),
    "linear:1,2,2,1": (lambda: linear([1, 2, 2, 1]), {},
                       ("closure", 7, 6, "deterministic")),
    "field4": (lambda: exactcl.from_fields([FIELD], XS, name="random-field"), {},
               ("closure", 3, 0, "deterministic")),
    "field4-mc": (lambda: exactcl.from_fields([FIELD], XS, name="random-field"),
                  {"closure": "monte-carlo"}, ("closure", 3, 0, "monte-carlo")),
    # Not in the brief's list: the bases above hold one bracket word between
    # them; this one has a chain of three nested words for the word mutations.
    "chain5": (lambda: exactcl.from_fields(
        [[1, 0, 0, 0, 0], [0, YS[0], YS[0] ** 2, YS[0] ** 3, YS[0] ** 4]], YS, name="chain"),
        {}, ("sandwich", 0, 0, None)),
    # Certificates of the program engine, verified by evaluation (EVALUATED): the
    # generators themselves, and random probe fields (relu:2,4,4,4,2 has 256
    # components for D = 48).
    "linear:2,3,2-program": (lambda: linear([2, 3, 2]),
                             {"engine": "program", "identities": "monte-carlo"},
                             ("sandwich", 6, 6, None)),
    "relu:2,4,4,4,2-probes": (lambda: relu([2, 4, 4, 4, 2]),
                              {"engine": "program", "identities": "monte-carlo"},
                              ("sandwich", 12, 12, None)),
}
#: Bases verified by evaluation, never expanded (the verifier's size switch at 0).
EVALUATED = {"linear:2,3,2-program", "relu:2,4,4,4,2-probes"}


@dataclass
class Base:
    name: str
    model: object
    cert: dict
    result: object

    @property
    def D(self) -> int:
        return self.cert["claim"]["parameters"]

    @property
    def proof(self) -> str:
        return self.cert["claim"]["proof"]

    @property
    def ngens(self) -> int:
        """The number of generator fields the words are made of."""
        model = self.cert["model"]
        kinds = self.cert["lie"]["generators"]
        if kinds["kind"] == "probes":
            return kinds["count"]
        if "program" in model:
            return programs.program_layout(model).components
        return len(model["phi"] if "phi" in model else model["fields"])

    @property
    def program(self) -> bool:
        return "program" in self.cert["model"]


@pytest.fixture(scope="module")
def bases() -> dict[str, Base]:
    out = {}
    for name, (build, options, _) in BASES.items():
        model = build()
        cert, result = certify(model, reproducible=True, **options)
        out[name] = Base(name, model, cert, result)
    return out


def seeded(*parts: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(map(str, parts)).encode()))


@pytest.mark.parametrize("name", list(BASES))
def test_base_certificate_verifies(bases, name):
    base = bases[name]
    proof, laws, exhibited, mode = BASES[name][2]
    cert = base.cert
    assert cert["claim"]["proof"] == proof
    assert cert["claim"]["laws"] == laws
    assert len(cert["laws"]["polynomials"]) == exhibited
    assert (cert["closure"] or {}).get("mode") == mode
    for check_fp in (True, False):
        report = verify_text(certformat.dumps(cert), check_fingerprint=check_fp,
                             rng=seeded("base", name))
        assert report.status == "verified", str(report)
        assert report.exit_code == 0
        assert all(c.passed for c in report.checks)
    assert verify_certificate(copy.deepcopy(cert), rng=seeded("dict", name)).status == "verified"


# ------------------------------------------------------------------------- oracle

_ORACLE: dict[str, object] = {}


def true_count(cert: dict):
    """Recount the model the (mutated) file defines, without the verifier."""
    body = {k: v for k, v in cert["model"].items() if k != "fingerprint"}
    key = json.dumps(body, sort_keys=True)
    if key not in _ORACLE:
        ring = rebuild.ring_of(cert)
        generators = rebuild.generators_of(cert, ring)
        _ORACLE[key] = exactcl.count(fields_model(ring, generators, name="oracle"))
    return _ORACLE[key]


def claim_is_true(cert: dict) -> tuple[bool, str]:
    res = true_count(cert)
    claim = cert["claim"]
    truth = (f"oracle: {res.laws} laws" if res.laws is not None
             else f"oracle: bounds {list(res.bounds)}")
    if claim["parameters"] != res.parameters:
        return False, truth
    if claim["laws"] is not None:
        ok = (res.laws is not None and claim["laws"] == res.laws
              and claim["lie_dimension"] == res.parameters - res.laws
              and claim["bounds"] == [res.laws, res.laws])
        return ok, truth
    lo, hi = claim["bounds"]
    if res.laws is not None:
        return lo <= res.laws <= hi, truth
    return lo <= res.lower and res.upper <= hi, truth


# ---------------------------------------------------------------------- mutations


@dataclass
class Instance:
    where: str
    cert: dict | None = None
    text: str | None = None
    expect: str = REJECT
    claims: tuple[str, ...] = ()
    dict_ok: bool = True  # also verify the dict directly (no parsing step)


def mutated(cert: dict, change: Callable[[dict], object]) -> dict:
    c = copy.deepcopy(cert)
    change(c)
    return c


def bump(q: str) -> str:
    """'p/q' -> '(p+1)/q'."""
    p, _, d = q.partition("/")
    return f"{int(p) + 1}/{d}"


def _set(path: tuple, value: object) -> Callable[[dict], None]:
    def change(c: dict) -> None:
        obj = c
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return change


def int_shift(base: Base, path: tuple, claims: tuple[str, ...]) -> Iterator[Instance]:
    obj = base.cert
    for key in path:
        obj = obj[key]
    if obj is None:
        return
    for delta in (1, -1):
        value = int(obj) + delta
        yield Instance(f"{'.'.join(map(str, path))} {obj} -> {value}",
                       mutated(base.cert, _set(path, value)),
                       expect=UNREADABLE if value < 0 else REJECT, claims=claims)


def drop_law(c: dict, k: int) -> None:
    del c["laws"]["polynomials"][k]
    del c["laws"]["labels"][k]


def add_law(c: dict, poly: list, label: str) -> None:
    c["laws"]["polynomials"].append(poly)
    c["laws"]["labels"].append(label)


def vanishes_at_zero(cert: dict) -> bool:
    """Whether every generator is zero at the origin, read off the file
    (a gradient is nonzero there iff phi has a linear term; a field iff it
    has a constant term), so every bracket word is zero there too."""
    model = cert["model"]
    if "program" in model:  # a linear term: one layer, or a bias on the last one
        linears = [layer for layer in model["program"] if layer[0] == "linear"]
        return len(linears) > 1 and not linears[-1][3]
    if "phi" in model:
        return not any(sum(e for _, e in mono) == 1 for p in model["phi"] for mono, _ in p)
    return not any(not mono for f in model["fields"] for _, p in f for mono, _ in p)


# each kind: (class, function base -> instances)
KINDS: dict[str, tuple[str, Callable[[Base], Iterator[Instance]]]] = {}


def kind(name: str, cls: str):
    def register(fn):
        KINDS[name] = (cls, fn)
        return fn
    return register


@kind("claim.laws +-1", MUST_REJECT)
def _(b):
    yield from int_shift(b, ("claim", "laws"), ("count",))


@kind("claim.lie_dimension +-1", MUST_REJECT)
def _(b):
    yield from int_shift(b, ("claim", "lie_dimension"), ("count",))


@kind("claim.bounds changed", MUST_REJECT)
def _(b):
    lo, hi = b.cert["claim"]["bounds"]
    seen = {(lo, hi)}
    for new in ((lo - 1, hi), (lo, hi + 1), (lo + 1, hi + 1), (lo - 1, hi - 1), (0, b.D),
                (hi, lo + 1)):
        if new not in seen:
            seen.add(new)
            yield Instance(f"bounds -> {list(new)}",
                           mutated(b.cert, _set(("claim", "bounds"), list(new))),
                           claims=("count",))


@kind("claim.parameters changed", MUST_REJECT)
def _(b):
    for value in (b.D + 1, b.D - 1, 2 * b.D + 5):
        yield Instance(f"parameters -> {value}",
                       mutated(b.cert, _set(("claim", "parameters"), value)),
                       claims=("parameters",))


@kind("claim.proof swapped", MUST_REJECT)
def _(b):
    for proof in ("sandwich", "closure", "bounds only", "magic", ""):
        if proof != b.proof:
            yield Instance(f"proof {b.proof!r} -> {proof!r}",
                           mutated(b.cert, _set(("claim", "proof"), proof)),
                           claims=("count", "closure"))


@kind("claim.status changed", MUST_REJECT)
def _(b):
    for status in ("bounds", "uncertified", "CERTIFIED", ""):
        yield Instance(f"status -> {status!r}",
                       mutated(b.cert, _set(("claim", "status"), status)), claims=("count",))


@kind("claim weakened to bounds only", MAY_PASS)
def _(b):
    M = len(b.cert["laws"]["polynomials"])
    K = len(b.cert["lie"]["basis"])

    def change(c):
        c["claim"].update(laws=None, lie_dimension=None, bounds=[M, b.D - K],
                          status="bounds", proof="bounds only")
    yield Instance(f"bounds only [{M}, {b.D - K}]", mutated(b.cert, change), expect=MAYBE)


@kind("law coefficient changed", MUST_REJECT)
def _(b):
    for k, poly in enumerate(b.cert["laws"]["polynomials"]):
        for t in sorted({0, len(poly) - 1}):
            def change(c, k=k, t=t):
                term = c["laws"]["polynomials"][k][t]
                term[1] = bump(term[1])
            yield Instance(f"law {k}, term {t}", mutated(b.cert, change),
                           claims=("law identities",))


@kind("law dropped", MUST_REJECT)
def _(b):
    for k in range(len(b.cert["laws"]["polynomials"])):
        yield Instance(f"law {k}", mutated(b.cert, lambda c, k=k: drop_law(c, k)),
                       claims=("laws independent",))


def _drop_adjusted(b):
    for k in range(len(b.cert["laws"]["polynomials"])):
        def change(c, k=k):
            drop_law(c, k)
            c["laws"]["rank"] -= 1
        yield k, mutated(b.cert, change)


@kind("law dropped, laws.rank adjusted (sandwich)", MUST_REJECT)
def _(b):
    if b.proof == "sandwich":
        for k, c in _drop_adjusted(b):
            yield Instance(f"law {k}", c, claims=("count",))


@kind("law dropped, laws.rank adjusted (closure)", MAY_PASS)
def _(b):
    if b.proof == "closure":
        for k, c in _drop_adjusted(b):
            yield Instance(f"law {k}", c, expect=MAYBE)


@kind("law duplicated", MUST_REJECT)
def _(b):
    laws = b.cert["laws"]
    for k in range(len(laws["polynomials"])):
        for adjust in (0, 1):
            def change(c, k=k, adjust=adjust):
                add_law(c, copy.deepcopy(laws["polynomials"][k]), laws["labels"][k])
                c["laws"]["rank"] += adjust
            yield Instance(f"law {k}{', rank adjusted' if adjust else ''}",
                           mutated(b.cert, change), claims=("laws independent",))


@kind("law replaced by zero", MUST_REJECT)
def _(b):
    for k in range(len(b.cert["laws"]["polynomials"])):
        yield Instance(f"law {k}", mutated(b.cert, _set(("laws", "polynomials", k), [])),
                       claims=("laws independent",))


@kind("law replaced by a constant", MUST_REJECT)
def _(b):
    for k in range(len(b.cert["laws"]["polynomials"])):
        yield Instance(f"law {k}",
                       mutated(b.cert, _set(("laws", "polynomials", k), [[[], "5/3"]])),
                       claims=("laws independent",))


@kind("fake law added", MUST_REJECT)
def _(b):
    # a coordinate is never a law of these models; the claim is made consistent
    for v in sorted({0, b.D - 1}):
        def change(c, v=v):
            add_law(c, [[[[v, 1]], "1/1"]], "fake")
            c["laws"]["rank"] += 1
        yield Instance(f"x{v}", mutated(b.cert, change), claims=("law identities",))


@kind("dependent law added", MUST_REJECT)
def _(b):
    polys = b.cert["laws"]["polynomials"]
    if len(polys) < 2:
        return
    ring = rebuild.ring_of(b.cert)
    h0 = certformat.decode_poly(polys[0], ring, "law 0")
    h1 = certformat.decode_poly(polys[1], ring, "law 1")
    for label, h in (("h0 + h1", h0 + h1), ("h0 * h1", h0 * h1), ("2 h0", 2 * h0)):
        def change(c, h=h, label=label):
            add_law(c, certformat.encode_poly(h), label)
            c["laws"]["rank"] += 1
        yield Instance(label, mutated(b.cert, change), claims=("laws independent",))


def _word_ids(b: Base) -> set[int]:
    return set(range(b.ngens)) | {w[0] for w in b.cert["lie"]["words"]}


def _sample(items: list, n: int = 6) -> list:
    """At most about ``n`` of ``items``, evenly spread, the first and last included."""
    step = max(1, len(items) // n)
    chosen = sorted(set(range(0, len(items), step)) | ({len(items) - 1} if items else set()))
    return [items[k] for k in chosen]


@kind("word left operand changed", MAY_PASS)
def _(b):
    for k, (node, left, right) in _sample(list(enumerate(b.cert["lie"]["words"])), 8):
        for g in _sample(list(range(b.ngens)), 12):
            if g != left:
                yield Instance(f"word {node} = [{left}, {right}]: left -> {g}",
                               mutated(b.cert, _set(("lie", "words", k, 1), g)), expect=MAYBE)


@kind("word right operand changed", MAY_PASS)
def _(b):
    ids = _word_ids(b)
    for k, (node, left, right) in _sample(list(enumerate(b.cert["lie"]["words"])), 8):
        for r in _sample(sorted(i for i in ids if i < node and i != right), 12):
            yield Instance(f"word {node} = [{left}, {right}]: right -> {r}",
                           mutated(b.cert, _set(("lie", "words", k, 2), r)), expect=MAYBE)


@kind("word removed from lie.words", MUST_REJECT)
def _(b):
    # every recorded word is needed by the basis or a later word
    for k, (node, _, _) in enumerate(b.cert["lie"]["words"]):
        yield Instance(f"word {node}", mutated(b.cert, lambda c, k=k: c["lie"]["words"].pop(k)),
                       expect=UNREADABLE)


@kind("basis id removed", MUST_REJECT)
def _(b):
    basis = b.cert["lie"]["basis"]
    for k in range(len(basis)):
        yield Instance(f"basis[{k}] = {basis[k]}",
                       mutated(b.cert, lambda c, k=k: c["lie"]["basis"].pop(k)),
                       claims=("Lie rank",))


@kind("basis id removed, lie.rank adjusted", MUST_REJECT)
def _(b):
    basis = b.cert["lie"]["basis"]
    for k in range(len(basis)):
        def change(c, k=k):
            c["lie"]["basis"].pop(k)
            c["lie"]["rank"] -= 1
        yield Instance(f"basis[{k}] = {basis[k]}", mutated(b.cert, change),
                       claims=("count", "closure"))


@kind("coordinated false count", MUST_REJECT)
def _(b):
    # one word fewer and every number of the claim moved to match it
    basis = b.cert["lie"]["basis"]
    for k in sorted({0, len(basis) - 1}):
        def change(c, k=k):
            c["lie"]["basis"].pop(k)
            c["lie"]["rank"] -= 1
            cl = c["claim"]
            cl["laws"] += 1
            cl["lie_dimension"] -= 1
            cl["bounds"] = [cl["laws"], cl["laws"]]
        yield Instance(f"without basis[{k}], claim {b.cert['claim']['laws'] + 1} laws",
                       mutated(b.cert, change), claims=("count", "closure"))


@kind("basis id duplicated", MUST_REJECT)
def _(b):
    basis = b.cert["lie"]["basis"]
    K = len(basis)
    for i, j in sorted({(0, K - 1), (K - 1, 0), (K // 2, 0)}):
        if i != j:
            yield Instance(f"basis[{i}] -> basis[{j}] = {basis[j]}",
                           mutated(b.cert, _set(("lie", "basis", i), basis[j])),
                           claims=("Lie rank",))
    for j in sorted({0, K - 1}):
        def change(c, j=j):
            c["lie"]["basis"].append(basis[j])
            c["lie"]["rank"] += 1
        yield Instance(f"basis[{j}] appended again, rank adjusted", mutated(b.cert, change),
                       expect=UNREADABLE if K + 1 > b.D else REJECT, claims=("Lie rank",))


@kind("lie.rank +-1", MUST_REJECT)
def _(b):
    yield from int_shift(b, ("lie", "rank"), ("Lie rank",))


@kind("laws.rank +-1", MUST_REJECT)
def _(b):
    yield from int_shift(b, ("laws", "rank"), ("laws independent",))


@kind("point coordinate changed", MAY_PASS)
def _(b):
    point = b.cert["lie"]["point"]
    for i in sorted({0, b.D // 2, b.D - 1}):
        x = int(point[i])
        for new in (x + 1, 1, -x, 10**300 + 7):
            yield Instance(f"point[{i}] -> {str(new)[:12]}",
                           mutated(b.cert, _set(("lie", "point", i), str(new))), expect=MAYBE)


@kind("point all zeros (generators vanish at 0)", MUST_REJECT)
def _(b):
    if vanishes_at_zero(b.cert):
        yield Instance("point -> 0", mutated(b.cert, _set(("lie", "point"), ["0"] * b.D)),
                       claims=("Lie rank",))


@kind("point all zeros (a generator is nonzero at 0)", MAY_PASS)
def _(b):
    if not vanishes_at_zero(b.cert):
        yield Instance("point -> 0", mutated(b.cert, _set(("lie", "point"), ["0"] * b.D)),
                       expect=MAYBE)


@kind("recorded prime changed", MAY_PASS)
def _(b):
    p = int(b.cert["lie"]["prime"])
    for new in (2**61 - 1, p + 1, 2, 101):
        yield Instance(f"prime -> {new}", mutated(b.cert, _set(("lie", "prime"), str(new))),
                       expect=MAYBE)


def _generator_terms(b: Base) -> Iterator[tuple[str, tuple]]:
    """(description, path to a term) for the first term of each generator
    component (at most 6 per base)."""
    model = b.cert["model"]
    out = []
    if "program" in model:  # no polynomial: the program mutations below
        return iter(())
    if "phi" in model:
        for i, p in enumerate(model["phi"]):
            out.append((f"phi[{i}] term 0", ("model", "phi", i, 0)))
            if len(p) > 1:
                out.append((f"phi[{i}] term {len(p) - 1}", ("model", "phi", i, len(p) - 1)))
    else:
        for f, fld in enumerate(model["fields"]):
            for j, (v, _) in enumerate(fld):
                out.append((f"fields[{f}] component {v} term 0",
                            ("model", "fields", f, j, 1, 0)))
    step = max(1, len(out) // 6)
    return iter(out[::step])


def _bump_term(path, then=None):
    """An edit: the coefficient of the term at ``path`` goes from p/q to
    (p+1)/q, then ``then(cert)`` (e.g. the fingerprint recomputed)."""
    def change(c):
        obj = c
        for key in path:
            obj = obj[key]
        obj[1] = bump(obj[1])
        if then is not None:
            then(c)
    return change


@kind("generator coefficient changed", MAY_PASS)
def _(b):
    for desc, path in _generator_terms(b):
        yield Instance(desc + " (p+1)/q", mutated(b.cert, _bump_term(path)), expect=MAYBE)
    model = b.cert["model"]
    if b.program:
        return
    key = "phi" if "phi" in model else "fields"

    def scale(c):  # every coefficient of generator 0 doubled: same Lie algebra
        g = c["model"][key][0]
        for poly in ([g] if key == "phi" else [comp[1] for comp in g]):
            for term in poly:
                p, _, q = term[1].partition("/")
                term[1] = f"{2 * int(p)}/{q}"
    yield Instance(f"{key}[0] doubled", mutated(b.cert, scale), expect=MAYBE)


@kind("generator component dropped", MAY_PASS)
def _(b):
    model = b.cert["model"]
    if b.program:
        return
    if "phi" in model:
        n = len(model["phi"])
        for i in sorted(set(range(0, n, max(1, n // 5))) | {n - 1}):
            yield Instance(f"phi[{i}] dropped",
                           mutated(b.cert, lambda c, i=i: c["model"]["phi"].pop(i)),
                           expect=MAYBE)
    else:
        for f, fld in enumerate(model["fields"]):
            for j, (v, _) in enumerate(fld):
                yield Instance(f"fields[{f}] component {v} dropped",
                               mutated(b.cert, lambda c, f=f, j=j: c["model"]["fields"][f].pop(j)),
                               expect=MAYBE)
        if len(model["fields"]) > 1:
            yield Instance("fields[-1] dropped",
                           mutated(b.cert, lambda c: c["model"]["fields"].pop()), expect=MAYBE)


#: Built-in names the name mutations put on the bases (none names a base's model
#: but its own name).
BUILTIN_NAMES = ("relu-bias:2,3,3,2", "relu:2,2,2", "linear:2,2,2", "relu:2,3,2",
                 "relu-bias:2,3,2", "product:3", "product:8", "linear:1,2,2,1", "linear:4,2")


def refit(c: dict) -> None:
    """Recompute the fingerprint, as someone editing the model would."""
    c["model"]["fingerprint"] = certformat.fingerprint(c["model"])


def builtin_named(b: Base) -> bool:
    return b.cert["model"]["name"] in BASES and ":" in b.cert["model"]["name"]


@kind("built-in name over another model (fingerprint recomputed)", MUST_REJECT)
def _(b):
    for name in BUILTIN_NAMES:
        if name != b.cert["model"]["name"]:
            def change(c, name=name):
                c["model"]["name"] = name
                refit(c)
            yield Instance(f"name -> {name}", mutated(b.cert, change), claims=("model name",))


@kind("phi coefficient changed under a built-in name (fingerprint recomputed)", MUST_REJECT)
def _(b):
    if not builtin_named(b):
        return
    for desc, path in _generator_terms(b):
        yield Instance(desc + " (p+1)/q", mutated(b.cert, _bump_term(path, refit)),
                       claims=("model name",))


def _renamed(c: dict, i: int, new: str) -> None:
    c["model"]["variables"][i] = new
    refit(c)


def _swapped(c: dict, i: int, j: int) -> None:
    names = c["model"]["variables"]
    names[i], names[j] = names[j], names[i]
    refit(c)


@kind("variables renamed under a built-in name", MUST_REJECT)
def _(b):
    if builtin_named(b):
        for i in sorted({0, b.D - 1}):
            yield Instance(f"variables[{i}] -> zz{i}",
                           mutated(b.cert, lambda c, i=i: _renamed(c, i, f"zz{i}")),
                           expect=UNREADABLE if b.program else REJECT, claims=("model name",))


@kind("variables reordered under a built-in name", MUST_REJECT)
def _(b):
    if builtin_named(b):
        expect = UNREADABLE if b.program else REJECT
        yield Instance("variables 0 and 1 swapped", mutated(b.cert, lambda c: _swapped(c, 0, 1)),
                       expect=expect, claims=("model name",))
        yield Instance("variables 0 and D-1 swapped",
                       mutated(b.cert, lambda c: _swapped(c, 0, b.D - 1)),
                       expect=expect, claims=("model name",))


@kind("variables renamed under a custom name", MAY_PASS)
def _(b):
    # the same model with other names: nothing but a built-in name could object
    if not builtin_named(b):
        yield Instance("variables[0] -> zz0",
                       mutated(b.cert, lambda c: _renamed(c, 0, "zz0")), expect=MAYBE)


@kind("closure section removed", MUST_REJECT)
def _(b):
    if b.cert["closure"] is not None:
        yield Instance("closure -> null", mutated(b.cert, _set(("closure",), None)),
                       claims=("closure",))


@kind("closure mode unknown", MUST_REJECT)
def _(b):
    if b.cert["closure"] is not None:
        for mode in ("magic", "", "Deterministic", "monte carlo"):
            yield Instance(f"mode -> {mode!r}",
                           mutated(b.cert, _set(("closure", "mode"), mode)),
                           claims=("closure",))


@kind("closure mode swapped", MAY_PASS)
def _(b):
    if b.cert["closure"] is not None:
        mode = b.cert["closure"]["mode"]
        other = "monte-carlo" if mode == "deterministic" else "deterministic"
        yield Instance(f"{mode} -> {other}", mutated(b.cert, _set(("closure", "mode"), other)),
                       expect=MAYBE)


@kind("closure recorded outcome altered", MAY_PASS)
def _(b):
    # the verifier re-runs the check with its own randomness and ignores these
    if b.cert["closure"] is not None:
        for key, value in (("passed", False), ("error_bound", "1/1"), ("primes", []),
                           ("rounds", 0)):
            yield Instance(f"closure.{key} -> {value!r}",
                           mutated(b.cert, _set(("closure", key), value)), expect=MAYBE)


@kind("schema version changed", MUST_REJECT)
def _(b):
    for version in (0, 1, 3, -1, "2", True, None, [2]):
        yield Instance(f"version -> {version!r}",
                       mutated(b.cert, _set(("version",), version)), expect=UNREADABLE,
                       dict_ok=False)
    yield Instance("schema -> 'exactcl-certificate-v2'",
                   mutated(b.cert, _set(("schema",), "exactcl-certificate-v2")),
                   expect=UNREADABLE, dict_ok=False)


# ------------------------------------------------------- schema 2: programs and their checks

def _linears(cert: dict) -> list[int]:
    return [k for k, layer in enumerate(cert["model"]["program"]) if layer[0] == "linear"]


@kind("program width bumped", MUST_REJECT)
def _(b):
    # every width change makes other parameters: the variables are no longer the program's
    if not b.program:
        return
    lin = _linears(b.cert)
    for t, k in enumerate(lin):
        def alone(c, k=k):
            c["model"]["program"][k][2] += 1
            refit(c)
        yield Instance(f"layer {k} n_out + 1", mutated(b.cert, alone), expect=UNREADABLE)
        if t + 1 < len(lin):
            def both(c, k=k, nxt=lin[t + 1]):
                c["model"]["program"][k][2] += 1
                c["model"]["program"][nxt][1] += 1
                refit(c)
            yield Instance(f"hidden width after layer {k} + 1, both sides",
                           mutated(b.cert, both), expect=UNREADABLE)


@kind("program bias or ReLU toggled", MUST_REJECT)
def _(b):
    if not b.program:
        return
    k = _linears(b.cert)[0]

    def bias(c):
        c["model"]["program"][k][3] = not c["model"]["program"][k][3]
        refit(c)
    yield Instance(f"layer {k} bias toggled", mutated(b.cert, bias), expect=UNREADABLE)


@kind("program ReLUs removed", MAY_PASS)
def _(b):
    # fewer components (word ids out of range) or other fields and another name
    if b.program and ["relu"] in b.cert["model"]["program"]:
        def drop(c):
            c["model"]["program"] = [layer for layer in c["model"]["program"]
                                     if layer != ["relu"]]
            refit(c)
        yield Instance("every ReLU removed", mutated(b.cert, drop), expect=MAYBE)


@kind("program removed", MUST_REJECT)
def _(b):
    if b.program:
        def change(c):
            del c["model"]["program"]
        yield Instance("model.program deleted", mutated(b.cert, change), expect=UNREADABLE)
        yield Instance("model.program -> []",
                       mutated(b.cert, _set(("model", "program"), [])), expect=UNREADABLE)


@kind("generator fields changed", MAY_PASS)
def _(b):
    # other fields in W: their words may prove the same rank (a valid proof), or not
    if not b.program:
        return
    kinds = b.cert["lie"]["generators"]
    if kinds["kind"] == "components":
        yield Instance("components -> probes", mutated(b.cert, _set(
            ("lie", "generators"), {"kind": "probes", "count": b.ngens,
                                    "family": "exactcl-probes-0"})), expect=MAYBE)
        return
    yield Instance("probes -> components", mutated(b.cert, _set(
        ("lie", "generators"), {"kind": "components"})), expect=MAYBE)
    for delta in (-1, 1, 100):
        yield Instance(f"count {kinds['count']} -> {kinds['count'] + delta}",
                       mutated(b.cert, _set(("lie", "generators", "count"),
                                            kinds["count"] + delta)), expect=MAYBE)
    for family in ("exactcl-probes-1", "other"):
        yield Instance(f"family -> {family!r}",
                       mutated(b.cert, _set(("lie", "generators", "family"), family)),
                       expect=MAYBE)


@kind("generator fields malformed", MUST_REJECT)
def _(b):
    yield Instance("kind -> 'magic'", mutated(b.cert, _set(("lie", "generators", "kind"),
                                                           "magic")), expect=UNREADABLE)
    yield Instance("generators removed",
                   mutated(b.cert, lambda c: c["lie"].pop("generators")), expect=UNREADABLE)
    probes = {"kind": "probes", "count": 3, "family": "f"}
    if not b.program:  # probe fields exist only for a program
        yield Instance("probes on a model without a program",
                       mutated(b.cert, _set(("lie", "generators"), probes)), expect=UNREADABLE)
    for bad in ({"count": 0}, {"family": ""}, {"family": "f" * 101}, {"count": "3"}):
        yield Instance(f"probes with {bad}", mutated(b.cert, _set(
            ("lie", "generators"), dict(probes, **bad))), expect=UNREADABLE)


def _program_identities(b: Base) -> bool:
    return b.cert["laws"]["identities"]["mode"] == "monte-carlo"


@kind("identities rounds changed", MAY_PASS)
def _(b):
    # the verifier runs at least the stated rounds with its own randomness: a valid
    # claim stays proven (its report names the rounds run), a false law fails
    if _program_identities(b):
        for rounds in (1, 3, 7):
            yield Instance(f"rounds -> {rounds}", mutated(b.cert, _set(
                ("laws", "identities", "rounds"), rounds)), expect=MAYBE)


@kind("identities rounds out of range", MUST_REJECT)
def _(b):
    if _program_identities(b):
        for rounds in (0, -1, 10_001, True, "2"):
            yield Instance(f"rounds -> {rounds!r}", mutated(b.cert, _set(
                ("laws", "identities", "rounds"), rounds)), expect=UNREADABLE)


@kind("identities mode changed", MAY_PASS)
def _(b):
    # a program's identities are re-checked by the verifier, whatever the file says
    if _program_identities(b):
        yield Instance("monte-carlo -> exact", mutated(b.cert, _set(
            ("laws", "identities"), {"mode": "exact"})), expect=MAYBE)
    elif b.program:
        yield Instance("exact -> monte-carlo", mutated(b.cert, _set(
            ("laws", "identities"), {"mode": "monte-carlo", "rounds": 2, "degree_bound": 4,
                                     "height_bits": 8})), expect=MAYBE)


@kind("identities malformed", MUST_REJECT)
def _(b):
    yield Instance("mode -> 'magic'", mutated(b.cert, _set(("laws", "identities", "mode"),
                                                           "magic")), expect=UNREADABLE)
    yield Instance("identities removed",
                   mutated(b.cert, lambda c: c["laws"].pop("identities")), expect=UNREADABLE)
    if not b.program:  # Monte Carlo only for a program
        yield Instance("monte-carlo on a model without a program", mutated(b.cert, _set(
            ("laws", "identities"), {"mode": "monte-carlo", "rounds": 2, "degree_bound": 4,
                                     "height_bits": 8})), expect=UNREADABLE)


#: A closure section of the kind the expanded engine writes.
CLOSURE = {"mode": "deterministic", "passed": True, "rounds": 0, "degree_bound": 0,
           "height_bits": 0, "error_bound": "0/1", "identities": 0, "primes": []}


@kind("closure section added to a program-engine certificate", MUST_REJECT)
def _(b):
    if _program_identities(b) or b.cert["lie"]["generators"]["kind"] == "probes":
        yield Instance("closure added", mutated(b.cert, _set(("closure",), dict(CLOSURE))),
                       claims=("closure",))

        def as_closure(c):
            c["closure"] = dict(CLOSURE)
            c["claim"]["proof"] = "closure"
        yield Instance("closure added, proof 'closure'", mutated(b.cert, as_closure),
                       claims=("closure",))


@kind("truncated JSON", MUST_REJECT)
def _(b):
    text = certformat.dumps(b.cert)
    n = len(text.rstrip())  # text[:n] is the whole object
    for cut in sorted({0, 1, 2, 17, n // 7, n // 3, n // 2, 2 * n // 3, n - 40, n - 2, n - 1}):
        yield Instance(f"first {cut} of {n} chars", text=text[:cut], expect=UNREADABLE,
                       dict_ok=False)


# -------------------------------------------------------------------------- running

@dataclass
class Outcome:
    kind: str
    base: str
    inst: Instance
    status: str
    failed: tuple[str, ...]
    summary: str
    error: str | None = None  # why the instance breaks its expectation
    valid: bool = False  # passed and the oracle confirms the claim


def run_instance(kind_name: str, base: Base, inst: Instance) -> Outcome:
    from exactcl.kernel import rankcheck
    small = rankcheck.SMALL_TERMS
    rankcheck.SMALL_TERMS = 0 if base.name in EVALUATED else small
    try:
        return _run_instance(kind_name, base, inst)
    finally:
        rankcheck.SMALL_TERMS = small


def _run_instance(kind_name: str, base: Base, inst: Instance) -> Outcome:
    rng_seed = (kind_name, base.name, inst.where)
    text = inst.text if inst.text is not None else certformat.dumps(inst.cert)
    try:
        report = verify_text(text, check_fingerprint=False, rng=seeded(*rng_seed))
    except Exception as err:  # noqa: BLE001 - the verifier must never raise
        return Outcome(kind_name, base.name, inst, "raised", (), "",
                       f"verify_text raised {type(err).__name__}: {err}")
    failed = tuple(c.claim for c in report.checks if not c.passed)
    out = Outcome(kind_name, base.name, inst, report.status, failed, report.summary)
    if inst.cert is not None and inst.dict_ok:
        try:
            direct = verify_certificate(copy.deepcopy(inst.cert), check_fingerprint=False,
                                        rng=seeded(*rng_seed, "dict"))
        except Exception as err:  # noqa: BLE001
            out.error = f"verify_certificate raised {type(err).__name__}: {err}"
            return out
        if direct.status != report.status:
            out.error = (f"verify_certificate says {direct.status}, verify_text says "
                         f"{report.status}")
            return out
    if report.status not in ("verified", "false", "unreadable"):
        out.error = f"unknown status {report.status!r}"
    elif inst.expect == UNREADABLE:
        if report.status != "unreadable" or not report.summary:
            out.error = f"expected unreadable, got {report.status}: {report.summary}"
    elif inst.expect == REJECT:
        if report.status != "false":
            out.error = f"expected a false claim, got {report.status}: {report.summary}"
        elif not set(failed) & set(inst.claims):
            out.error = f"failed checks {failed} name none of {inst.claims}"
    elif report.status == "verified":
        ok, truth = claim_is_true(inst.cert)
        out.valid = ok
        if not ok:
            out.error = (f"verified a false claim {inst.cert['claim']} ({truth})")
    return out


_RESULTS: dict[str, list[Outcome]] = {}


def run_kind(bases: dict[str, Base], kind_name: str) -> list[Outcome]:
    if kind_name not in _RESULTS:
        _, fn = KINDS[kind_name]
        _RESULTS[kind_name] = [run_instance(kind_name, base, inst)
                               for base in bases.values() for inst in fn(base)]
    return _RESULTS[kind_name]


@pytest.mark.parametrize("kind_name", list(KINDS))
def test_mutation_kind(bases, kind_name):
    cls, _ = KINDS[kind_name]
    outcomes = run_kind(bases, kind_name)
    assert outcomes, f"{kind_name}: no instance applies to any base"
    bad = [f"{o.base} / {o.inst.where}: {o.error}" for o in outcomes if o.error]
    assert not bad, "\n".join(bad)
    if cls == MUST_REJECT:
        assert all(o.status in ("false", "unreadable") for o in outcomes)


def test_mutation_summary(bases):
    """Every kind on every base; prints the table (``pytest -s``)."""
    rows = []
    for kind_name, (cls, _) in KINDS.items():
        outcomes = run_kind(bases, kind_name)
        rejected = sum(o.status in ("false", "unreadable") for o in outcomes)
        valid = sum(o.valid for o in outcomes)
        unreadable = sum(o.status == "unreadable" for o in outcomes)
        bases_hit = len({o.base for o in outcomes})
        rows.append((kind_name, cls, bases_hit, len(outcomes), rejected, unreadable, valid,
                     sum(bool(o.error) for o in outcomes)))
    head = ("kind", "class", "bases", "instances", "rejected", "(unreadable)",
            "passed-as-valid", "errors")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
    total = [sum(r[i] for r in rows) for i in (3, 4, 5, 6, 7)]
    print(line.format("TOTAL", "", "", *total))
    must = [(r[0], r[3], r[4]) for r in rows if r[1] == MUST_REJECT]
    assert all(n == rej for _, n, rej in must), [m for m in must if m[1] != m[2]]
    may = [r for r in rows if r[1] == MAY_PASS]
    # MAY-PASS instances that passed were all confirmed by the oracle
    assert all(r[3] - r[4] == r[6] for r in may), may
    assert not total[4], "some instance broke its expectation (see test_mutation_kind)"
    assert len(rows) >= 30 and total[0] >= 400


# --------------------------------------------------------------------- fingerprint

def _model_span(text: str) -> tuple[int, int]:
    start = text.index('\n "model": ') + 1
    end = text.index('\n "schema": ', start)
    return start + len(' "model": '), end


@pytest.mark.parametrize("name", list(BASES))
def test_fingerprint_catches_every_model_byte(bases, name):
    """With check_fingerprint=True, any change of a byte of the model section
    (digits, letters, signs; the fingerprint itself included) that leaves a
    readable file with another model makes the "model fingerprint" check
    fail. Large sections are sampled at about 400 positions. (A program's
    variables are its parameters: editing them makes the file unreadable.)"""
    base = bases[name]
    text = certformat.dumps(base.cert)
    lo, hi = _model_span(text)
    positions = [i for i in range(lo, hi) if text[i].isalnum() or text[i] in "-_"]
    step = max(1, len(positions) // 400)
    positions = positions[::step]
    caught = unreadable = 0
    for i in positions:
        ch = text[i]
        if ch.isdigit():
            new = str((int(ch) + 1) % 10)
        elif ch.isalpha():
            new = "b" if ch != "b" else "c"
        else:
            new = "+" if ch == "-" else "-"
        altered = text[:i] + new + text[i + 1:]
        try:
            parsed = certformat.loads(altered)
        except exactcl.CertificateFormatError:
            parsed = None
        if parsed is not None and parsed["model"] == base.cert["model"]:
            continue  # not a change of the model (cannot happen for these bytes)
        report = verify_text(altered, check_fingerprint=True, rng=seeded("fp", name, i))
        assert report.status != "verified", (i, ch, new)
        if report.status == "unreadable":
            unreadable += 1
            continue
        failed = [c.claim for c in report.checks if not c.passed]
        assert "model fingerprint" in failed, (i, ch, new, str(report))
        caught += 1
    if "program" in base.cert["model"]:
        # the variables must be the program's parameters: an edit of one is unreadable
        assert caught >= 20, (caught, unreadable, len(positions))
    else:
        assert caught >= min(len(positions) // 3, 100), (caught, unreadable, len(positions))
    # and without the alteration the same text passes the fingerprint check
    report = verify_text(text, check_fingerprint=True, rng=seeded("fp", name))
    assert report.status == "verified"
