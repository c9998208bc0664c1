"""Mutation tests of the verifier, field by field, for every section kind of
certificate schemas 2 and 3.

:mod:`tests.test_mutations` mutates certificates of expanded models (phi,
fields) and two programs; this file takes one honest certificate of each
section kind and changes, one at a time, each field that carries meaning:

* ``program``: dense chains with ReLUs and biases (``linear`` sizes and
  bias flag, ``relu`` layers, the model's name and variables);
* ``conv``: Conv1d and Conv2d with stride (channels, kernel, stride, bias,
  size);
* ``residual``: the block of a residual layer;
* ``attention``: the kinds ``softmax``, ``factors`` and ``linear`` (kind,
  d, heads, head, tokens);
* ``probes``: ``lie.generators`` (kind, count, family);
* ``identities``: ``laws.identities`` of the program engine (mode, rounds
  and the stated bounds ``degree_bound`` and ``height_bits``);
* ``flow``: momentum with tau, nesterov, ``metric:diag`` (on every tensor
  or some), momentum with a metric, and the ``base`` section (name,
  variables, program or phi), with the flow model's own name, variables and
  fields;
* ``subset``: the section of ``certify(..., subset=...)`` (sandwich, bounds
  only and closure proofs; expanded, Monte Carlo and probe certificates);
* ``closure``: the closure section of the flows and subsets proved by
  closure (its mode, recorded outcome and stated bounds);
* ``claim``: every field, on every base;
* ``lie`` and ``laws``: a few fields of each, on every base;
* ``json``: a key written twice in the text (a reader could take either).

Each mutation is applied to a deep copy, serialised with
:func:`exactcl.kernel.certformat.dumps` (or written by hand when JSON itself is
the point) and verified from the text with ``check_fingerprint=False``: a
false claim must be caught by recomputation. Every instance has one of
four expectations:

* ``reject`` (MUST-REJECT): status "false", with a failing check that names
  one of the claims listed for the instance;
* ``unreadable`` (MUST-REJECT): status "unreadable", with a reason;
* ``reject or unreadable`` (MUST-REJECT): either, when a change may also
  leave the file's bracket words without the fields they name;
* ``may-pass`` (MAY-PASS): the file may still hold a valid proof (another
  point or probe family, an equivalent form of the same model or flow, a
  weaker claim). If it is verified, an oracle that does not trust the
  verifier must agree: it recounts the model the file defines with
  ``exactcl.count`` (as ``tests/test_mutations.py`` does), rebuilds a
  flow's fields from its base with :func:`exactcl.models.flows.apply_flow`,
  recounts a subset with :func:`exactcl.subset_laws`, and compares a
  built-in name with the model :func:`exactcl.models.specs.parse_spec` builds.

A kind of mutation that the verifier does not catch yet is marked
``xfail(strict=True)`` with the reason (``Kind.hole``). The verifier must
never raise. ``pytest -s tests/test_mutations_fields.py -k summary``
prints the table of kinds with their outcomes.
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
from exactcl.certificates.build import certify, model_section
from exactcl.kernel import certformat, programs, rebuild
from exactcl.kernel.flowcheck import flow_text, read_flow
from exactcl.kernel.rings import Ring
from exactcl.kernel.verifier import Report, verify_text
from exactcl.layers.program import Attention, Conv1d, Conv2d, Linear, ReLU, Residual, net
from exactcl.models.builtin import from_fields as fields_model
from exactcl.models.builtin import linear, product, relu
from exactcl.models.flows import apply_flow
from exactcl.models.specs import parse_spec, spec_parameters

MUST_REJECT = "MUST-REJECT"
MAY_PASS = "MAY-PASS"

REJECT = "reject"
UNREADABLE = "unreadable"
REFUSED = "reject or unreadable"
MAYBE = "may-pass"

# ----------------------------------------------------------------------------- bases

#: Options of the program engine with the law identities checked by Monte Carlo.
PROGRAM = {"engine": "program", "identities": "monte-carlo"}
#: The subset of relu-bias:2,2,1 that holds the law of hidden neuron 0.
NEURON0 = ["W1_0_0", "W1_0_1", "W2_0_0", "b1_0"]


def _residual_net():
    return net(Linear(2, 2), Residual(Linear(2, 2), ReLU(), Linear(2, 2)), Linear(2, 1))


#: name -> (section kind, builder, certify options, expected (proof, laws))
BASES: dict[str, tuple[str, Callable, dict, tuple]] = {
    "dense": ("program", lambda: net(Linear(2, 3, bias=True), ReLU(), Linear(3, 2, bias=True)),
              {}, ("sandwich", 3)),
    "dense-mc": ("program", lambda: relu([2, 3, 2], bias=True), PROGRAM, ("sandwich", 3)),
    "probes": ("probes", lambda: relu([2, 3, 3, 3, 2]), PROGRAM, ("sandwich", 9)),
    "probes-exact": ("probes", lambda: relu([2, 3, 3, 3, 2]), {"engine": "program"},
                     ("sandwich", 9)),
    "conv1d": ("conv", lambda: net(Conv1d(1, 2, 2, length=5), ReLU(), Linear(8, 1, bias=True)),
               {}, ("sandwich", 2)),
    "conv1d-probes": ("conv", lambda: net(Conv1d(1, 2, 2, length=5), ReLU(),
                                          Conv1d(2, 1, 2, length=4)), PROGRAM, ("sandwich", 2)),
    "conv2d": ("conv", lambda: net(Conv2d(1, 2, 2, stride=2, size=(4, 4)), ReLU(),
                                   Conv2d(2, 1, 2, size=(2, 2))), {}, ("sandwich", 2)),
    "conv2d-probes": ("conv", lambda: net(Conv2d(1, 2, 2, stride=2, size=(4, 4)), ReLU(),
                                          Linear(8, 1, bias=True)), PROGRAM, ("sandwich", 2)),
    "residual": ("residual", _residual_net, {}, ("sandwich", 5)),
    "residual-probes": ("residual", _residual_net, PROGRAM, ("sandwich", 5)),
    "attention-softmax": ("attention", lambda: net(Attention(2, 1, tokens=2)), {},
                          ("sandwich", 6)),
    "attention-softmax-probes": ("attention", lambda: net(Attention(2, 1, tokens=2)), PROGRAM,
                                 ("sandwich", 6)),
    "attention-factors": ("attention", lambda: net(Attention(2, 1, tokens=2, kind="factors")),
                          {}, ("sandwich", 6)),
    "attention-factors-probes": ("attention",
                                 lambda: net(Attention(2, 1, tokens=2, kind="factors")),
                                 PROGRAM, ("sandwich", 6)),
    "attention-linear": ("attention", lambda: net(Attention(2, 1, tokens=2, kind="linear")),
                         {}, ("sandwich", 7)),
    "attention-linear-probes": ("attention",
                                lambda: net(Attention(2, 1, tokens=2, kind="linear")),
                                PROGRAM, ("sandwich", 7)),
    "momentum": ("flow", lambda: linear([2, 2, 2]), {"flow": "momentum:1/2"}, ("sandwich", 1)),
    "momentum-phi": ("flow", lambda: product(3), {"flow": "momentum:1"}, ("sandwich", 0)),
    "nesterov": ("flow", lambda: linear([1, 2, 1]), {"flow": "nesterov"}, ("closure", 2)),
    "metric-diag": ("flow", lambda: linear([1, 2, 1]), {"flow": "metric:diag"},
                    ("closure", 3)),
    "metric-diag-W2": ("flow", lambda: linear([1, 2, 1]), {"flow": "metric:diag:W2"},
                       ("closure", 3)),
    "momentum-metric": ("flow", lambda: linear([1, 2, 1]),
                        {"flow": "momentum:1/2+metric:diag"}, ("sandwich", 4)),
    "subset-sandwich": ("subset", lambda: relu([2, 2, 1], bias=True), {"subset": NEURON0},
                        ("sandwich", 2)),
    "subset-bounds": ("subset", lambda: linear([1, 2, 2, 1]), {"subset": "W1,W2"},
                      ("closure", 7)),
    "subset-closure": ("subset", lambda: linear([1, 2, 2, 1]), {"subset": "W1,W2,W3"},
                       ("closure", 7)),
    "subset-program": ("subset", lambda: relu([2, 2, 1], bias=True),
                       dict(PROGRAM, subset=NEURON0), ("sandwich", 2)),
    "subset-probes": ("subset", _residual_net, dict(PROGRAM, subset="W2,W3"), ("sandwich", 5)),
}


@dataclass
class Base:
    name: str
    kind: str
    cert: dict

    @property
    def D(self) -> int:
        return self.cert["claim"]["parameters"]

    @property
    def model(self) -> dict:
        return self.cert["model"]

    @property
    def program(self) -> list | None:
        return self.model.get("program")

    @property
    def generators(self) -> dict:
        return self.cert["lie"]["generators"]

    @property
    def identities(self) -> dict:
        return self.cert["laws"]["identities"]

    @property
    def subset(self) -> dict | None:
        return self.cert.get("subset")


@pytest.fixture(scope="module")
def bases() -> dict[str, Base]:
    out = {}
    for name, (kind, build, options, _) in BASES.items():
        cert, _ = certify(build(), reproducible=True, **options)
        out[name] = Base(name, kind, cert)
    return out


def seeded(*parts: object) -> random.Random:
    return random.Random(zlib.crc32("|".join(map(str, parts)).encode()))


def _shape(base: Base) -> dict:
    """What makes a base the section kind it stands for."""
    layers = json.dumps(base.program) if base.program is not None else ""
    return {
        "program": "program" in base.model and "conv" not in layers
                   and "residual" not in layers and "attention" not in layers,
        "probes": base.generators["kind"] == "probes",
        "conv": '"conv"' in layers,
        "residual": '"residual"' in layers,
        "attention": '"attention"' in layers,
        "flow": "flow" in base.model and "base" in base.model,
        "subset": base.subset is not None and base.cert["version"] == 3,
    }


@pytest.mark.parametrize("name", list(BASES))
def test_base_certificate_verifies(bases, name):
    base = bases[name]
    proof, laws = BASES[name][3]
    assert (base.cert["claim"]["proof"], base.cert["claim"]["laws"]) == (proof, laws)
    assert _shape(base)[base.kind], base.kind
    if BASES[name][2].get("identities") == "monte-carlo":
        assert base.identities["mode"] == "monte-carlo"
    report = verify_text(certformat.dumps(base.cert), check_fingerprint=False,
                         rng=seeded("base", name))
    assert report.status == "verified", str(report)


def test_the_bases_cover_every_section_kind(bases):
    for kind in ("program", "probes", "conv", "residual", "attention", "flow", "subset"):
        assert any(_shape(b)[kind] for b in bases.values()), kind
    programs = [json.dumps(b.program) for b in bases.values() if b.program is not None]
    assert any('"relu"' in p and "true" in p for p in programs)  # ReLU and biases
    assert any('"conv", 1, 2, [2], ' in p for p in programs)  # Conv1d
    assert any("[2, 2], [2, 2]" in p for p in programs)  # Conv2d with stride 2
    for kind in ("softmax", "factors", "linear"):
        assert any(f'"attention", "{kind}"' in p for p in programs), kind
    flows = [b.model["flow"] for b in bases.values() if "flow" in b.model]
    assert {f["kind"] for f in flows} == {"momentum", "nesterov", "gradient"}
    assert any(f["kind"] == "momentum" and "metric" in f for f in flows)
    assert any(f.get("metric", {}).get("tensors") for f in flows)  # diag on some tensors
    assert any("phi" in b.model["base"] for b in bases.values() if "flow" in b.model)
    proofs = {b.subset["proof"] for b in bases.values() if b.subset is not None}
    assert proofs == {"sandwich", "bounds only", "closure"}
    assert any(b.subset is not None and b.generators["kind"] == "probes"
               for b in bases.values())
    assert any(b.subset is not None and b.identities["mode"] == "monte-carlo"
               for b in bases.values())


# ------------------------------------------------------------------------- oracle

_COUNTS: dict[str, object] = {}
_SUBSETS: dict[str, object] = {}


def _model_key(section: dict) -> str:
    return json.dumps({k: v for k, v in section.items() if k != "fingerprint"}, sort_keys=True)


def _fields_of(cert: dict):
    ring = rebuild.ring_of(cert)
    return ring, rebuild.generators_of(cert, ring)


def _recount(cert: dict):
    key = _model_key(cert["model"])
    if key not in _COUNTS:
        ring, generators = _fields_of(cert)
        _COUNTS[key] = exactcl.count(fields_model(ring, generators, name="oracle"))
    return _COUNTS[key]


def _contains(lo: int, hi: int, res) -> bool:
    """Whether [lo, hi] holds the true count (or its proven bounds)."""
    if res.laws is not None:
        return lo <= res.laws <= hi
    return lo <= res.lower and res.upper <= hi


def count_truth(cert: dict) -> str | None:
    """Why the claim is false, by a recount of the model in the file (None: true)."""
    res = _recount(cert)
    claim = cert["claim"]
    if claim["parameters"] != res.parameters:
        return f"D is {res.parameters}, not {claim['parameters']}"
    if claim["laws"] is not None:
        ok = (res.laws is not None and claim["laws"] == res.laws
              and claim["lie_dimension"] == res.parameters - res.laws
              and claim["bounds"] == [res.laws, res.laws])
        return None if ok else f"the model has {res.laws} laws (bounds {list(res.bounds)})"
    lo, hi = claim["bounds"]
    return None if _contains(lo, hi, res) else f"the model's bounds are {list(res.bounds)}"


def _builtin(name: object) -> bool:
    """Whether a name claims a model: a built-in spec or a ``net:`` program."""
    return (isinstance(name, str) and " under " not in name
            and name.startswith(("linear:", "relu:", "relu-bias:", "product:", "net:")))


def _generator_set(section: dict, ring: Ring) -> list[str]:
    gens = rebuild.generators_of({}, ring, section=section)
    return sorted(json.dumps(certformat.encode_field(X)) for X in gens)


def names_the_model(name: str, section: dict) -> bool:
    """Whether the built-in spec ``name`` builds the model of ``section``
    (the same variables, and the same generator fields as a set)."""
    try:
        named = model_section(parse_spec(name))
    except exactcl.ExactclError:
        return False
    if named["variables"] != section["variables"]:
        return False
    ring = Ring(tuple(section["variables"]))
    return _generator_set(named, ring) == _generator_set(section, ring)


def name_truth(cert: dict) -> str | None:
    model = cert["model"]
    if "flow" in model:
        return None  # flow_truth
    if _builtin(model["name"]) and not names_the_model(model["name"], model):
        return f"{model['name']!r} is another model"
    return None


def flow_string(flow: dict) -> str:
    parts = []
    if flow["kind"] == "momentum":
        parts.append(f"momentum:{flow['tau']}")
    elif flow["kind"] == "nesterov":
        parts.append("nesterov")
    metric = flow.get("metric")
    if metric is not None:  # diag(theta) (a matrix metric is given in Python: _flowed)
        tensors = metric["tensors"]
        parts.append("metric:diag" + (":" + ",".join(tensors) if tensors else ""))
    return "+".join(parts)


def _sympy_matrix(rows: list, names: list[str]) -> sympy.Matrix:
    """A matrix metric of a file as SymPy (entries in the base's variables)."""
    xs = sympy.symbols(names)

    def entry(poly: list) -> sympy.Expr:
        return sum((sympy.Rational(*map(int, q.split("/")))
                    * sympy.Mul(*(xs[v] ** e for v, e in mono)) for mono, q in poly),
                   sympy.Integer(0))
    return sympy.Matrix([[entry(e) for e in row] for row in rows])


def _flowed(base: dict, ring: Ring, generators: list, flow: dict):
    """The producer's model of ``flow`` applied to the base."""
    model = fields_model(ring, generators, name=base["name"])
    metric = flow.get("metric")
    if metric is not None and metric["kind"] == "matrix":
        rest = flow_string({k: v for k, v in flow.items() if k != "metric"}) or None
        return apply_flow(model, rest, _sympy_matrix(metric["rows"], base["variables"]))
    return apply_flow(model, flow_string(flow))


def _tensors(variables: list[str]) -> list[str]:
    return sorted({v.split("_")[0] for v in variables})


def flow_truth(cert: dict) -> str | None:
    """Whether the fields are the flow of the base, the base is the model its
    built-in name says, and a flow's name of the form "BASE under FLOW" says
    that flow of that base."""
    model = cert["model"]
    if "flow" not in model:
        return None
    base = model["base"]
    ring = Ring(tuple(base["variables"]))
    generators = rebuild.generators_of({}, ring, section=base)
    file_ring, file_fields = _fields_of(cert)
    theirs = [certformat.encode_field(X) for X in file_fields]
    flow = model["flow"]
    # the flow as written, and diag(theta) on every tensor written as [] or by the
    # tensors' names: the name may say any of them when the fields are the same
    variants = [flow]
    if "metric" in flow:
        for tensors in ([], _tensors(base["variables"])):
            variants.append(dict(flow, metric={"kind": "diag", "tensors": tensors}))
    names = set()
    for variant in variants:
        flowed = _flowed(base, ring, generators, variant)
        if (flowed.ring.names == file_ring.names
                and [certformat.encode_field(X) for X in flowed.generators] == theirs):
            names.add(flowed.name)
    if not names:
        return f"the fields are not the flow {flow_string(flow) or 'with a matrix metric'}"
    if _builtin(model["name"]):
        return f"the fields of a flow named as the model {model['name']!r}"
    if " under " in model["name"] and model["name"] not in names:
        return f"the name {model['name']!r} is not the flow's ({sorted(names)})"
    if _builtin(base["name"]) and not names_the_model(base["name"], base):
        return f"the base is not {base['name']!r}"
    return None


def subset_truth(cert: dict) -> str | None:
    section = cert.get("subset")
    if section is None:
        return None
    key = _model_key(cert["model"]) + json.dumps(section["parameters"])
    if key not in _SUBSETS:
        ring, generators = _fields_of(cert)
        _SUBSETS[key] = exactcl.subset_laws(fields_model(ring, generators, name="oracle"),
                                            list(section["parameters"]))
    res = _SUBSETS[key]
    if section["laws"] is not None:
        ok = res.laws is not None and section["laws"] == res.laws \
            and section["bounds"] == [res.laws, res.laws]
    else:
        lo, hi = section["bounds"]
        ok = _contains(lo, hi, res)
    return None if ok else (f"the subset has {res.laws} laws (bounds "
                            f"{[res.lower, res.upper]}), not {section['laws']} "
                            f"{section['bounds']}")


def truth(cert: dict) -> str | None:
    """Why a file is false, by the oracle; None when every claim holds."""
    for judge in (count_truth, name_truth, flow_truth, subset_truth):
        why = judge(cert)
        if why is not None:
            return f"{judge.__name__}: {why}"
    return None


# ---------------------------------------------------------------------- mutations


@dataclass
class Instance:
    where: str
    cert: dict | None = None
    text: str | None = None
    expect: str = REJECT
    claims: tuple[str, ...] = ()
    #: For a may-pass instance that is verified: what the report must also say
    #: (None when it does).
    report_check: Callable[[Report], str | None] | None = None


@dataclass(frozen=True)
class Kind:
    section: str
    field: str
    cls: str
    fn: Callable[[Base], Iterator[Instance]]
    #: Why the kind is expected to fail today (a hole of the verifier).
    hole: str | None = None


KINDS: dict[str, Kind] = {}


def kind(name: str, section: str, fld: str, cls: str, hole: str | None = None):
    def register(fn):
        KINDS[name] = Kind(section, fld, cls, fn, hole)
        return fn
    return register


def at(obj: object, path: tuple) -> object:
    for key in path:
        obj = obj[key]
    return obj


def mutated(cert: dict, *changes: Callable[[dict], object]) -> dict:
    c = copy.deepcopy(cert)
    for change in changes:
        change(c)
    return c


def put(path: tuple, value: object) -> Callable[[dict], None]:
    def change(c: dict) -> None:
        at(c, path[:-1])[path[-1]] = copy.deepcopy(value)
    return change


def drop(path: tuple) -> Callable[[dict], None]:
    def change(c: dict) -> None:
        del at(c, path[:-1])[path[-1]]
    return change


def refit(c: dict) -> None:
    """Recompute the fingerprint, as someone editing the model would."""
    c["model"]["fingerprint"] = certformat.fingerprint(c["model"])


def bump(q: str, by: int = 1) -> str:
    p, _, d = q.partition("/")
    return f"{int(p) + by}/{d}"


def unchecked_name(report: Report) -> str | None:
    """A custom name is a label: the summary of a verified file must say so."""
    said = "not a built-in spec" in report.summary and "not checked" in report.summary
    return None if said else "the summary does not say that the name was not checked"


#: The name a relabelled model is given: no spec, so nothing but recomputation
#: can judge the model.
LABEL = "a custom model"


def relabelled(fn: Callable[[Base], Iterator[Instance]]):
    """Each may-pass change of a model, also with ``model.name`` made a label:
    a name that claims a model (a built-in spec, a ``net:`` program) catches
    most changes by itself, and the relabelled file is judged by
    recomputation alone."""
    def generate(b: Base) -> Iterator[Instance]:
        for inst in fn(b):
            yield inst
            c = inst.cert
            if inst.expect == MAYBE and c is not None and "flow" not in c["model"] \
                    and _builtin(c["model"]["name"]):
                yield Instance(inst.where + "; model.name -> a label",
                               mutated(c, put(("model", "name"), LABEL), refit), expect=MAYBE)
    return generate


def reprogram(c: dict, program: list) -> None:
    """Replace the program and make the rest of the file fit it: variables
    (the new program's parameters), the point (values kept by name, new ones
    set), the laws (variables renumbered by name, terms of removed ones
    dropped) and claim.parameters."""
    old = list(c["model"]["variables"])
    layout = programs.program_layout({"program": program})
    new = list(layout.parameters)
    values = dict(zip(old, c["lie"]["point"]))
    c["model"]["program"] = program
    c["model"]["variables"] = new
    c["lie"]["point"] = [values.get(n, str(1000 + 7 * k)) for k, n in enumerate(new)]
    index = {n: k for k, n in enumerate(new)}

    def renumber(poly: list) -> list:
        out = []
        for mono, coeff in poly:
            if all(old[v] in index for v, _ in mono):
                out.append([sorted([index[old[v]], e] for v, e in mono), coeff])
        return out
    c["laws"]["polynomials"] = [renumber(h) for h in c["laws"]["polynomials"]]
    c["claim"]["parameters"] = len(new)
    refit(c)


def _linears(program: list) -> list[int]:
    return [k for k, layer in enumerate(program) if layer[0] == "linear"]


def _chain(b: Base) -> bool:
    return b.program is not None and _shape(b)["program"]


# -- program: dense chains -------------------------------------------------------------

@kind("linear.n_in changed", "program", "linear.n_in", MUST_REJECT)
def _(b):
    if _chain(b):
        k = _linears(b.program)[0]
        for delta in (1, -1):
            c = mutated(b.cert, put(("model", "program", k, 1), b.program[k][1] + delta), refit)
            yield Instance(f"layer {k + 1} n_in {b.program[k][1]} -> "
                           f"{b.program[k][1] + delta}", c, expect=UNREADABLE)


@kind("linear.n_out changed", "program", "linear.n_out", MUST_REJECT)
def _(b):
    if _chain(b):
        lin = _linears(b.program)
        k = lin[-1]
        c = mutated(b.cert, put(("model", "program", k, 2), b.program[k][2] + 1), refit)
        yield Instance("last layer n_out + 1 (another output width)", c, expect=UNREADABLE)
        if len(lin) > 1:
            def wider(c, k=lin[0], nxt=lin[1]):
                c["model"]["program"][k][2] += 1
                c["model"]["program"][nxt][1] += 1
                refit(c)
            yield Instance("hidden width + 1 on both sides", mutated(b.cert, wider),
                           expect=UNREADABLE)


@kind("linear.n_out changed, variables refitted", "program", "linear.n_out", MAY_PASS)
@relabelled
def _(b):
    # another model whose variables, point and D fit it: its count may differ
    if _chain(b) and len(_linears(b.program)) > 1:
        lin = _linears(b.program)
        program = copy.deepcopy(b.program)
        program[lin[0]][2] += 1
        program[lin[1]][1] += 1
        yield Instance("hidden width + 1, variables/point/D refitted",
                       mutated(b.cert, lambda c: reprogram(c, program)), expect=MAYBE)


@kind("linear.bias toggled", "program", "linear.bias", MUST_REJECT)
def _(b):
    if _chain(b):
        for k in _linears(b.program):
            c = mutated(b.cert, put(("model", "program", k, 3), not b.program[k][3]), refit)
            yield Instance(f"layer {k + 1} bias {b.program[k][3]} -> {not b.program[k][3]}", c,
                           expect=UNREADABLE)


@kind("linear.bias toggled, variables refitted", "program", "linear.bias", MAY_PASS)
@relabelled
def _(b):
    if _chain(b):
        for k in _linears(b.program):
            program = copy.deepcopy(b.program)
            program[k][3] = not program[k][3]
            yield Instance(f"layer {k + 1} bias toggled, variables/point/D refitted",
                           mutated(b.cert, lambda c, p=program: reprogram(c, p)),
                           expect=MAYBE)


@kind("relu removed or inserted", "program", "relu", MAY_PASS)
@relabelled
def _(b):
    # the same parameters, another phi (for one path, the same phi)
    if not _chain(b):
        return
    if ["relu"] in b.program:
        yield Instance("every ReLU removed", mutated(b.cert, put(
            ("model", "program"), [x for x in b.program if x != ["relu"]]), refit), expect=MAYBE)
        first = b.program.index(["relu"])
        yield Instance(f"ReLU {first + 1} removed", mutated(b.cert, put(
            ("model", "program"), b.program[:first] + b.program[first + 1:]), refit),
            expect=MAYBE)
    for k in _linears(b.program)[:-1]:
        if b.program[k + 1] != ["relu"]:
            yield Instance(f"ReLU inserted after layer {k + 1}", mutated(b.cert, put(
                ("model", "program"), b.program[:k + 1] + [["relu"]] + b.program[k + 1:]),
                refit), expect=MAYBE)


@kind("relu malformed", "program", "relu", MUST_REJECT)
def _(b):
    if _chain(b):
        yield Instance("ReLU appended after the last layer", mutated(b.cert, put(
            ("model", "program"), b.program + [["relu"]]), refit), expect=UNREADABLE)
        yield Instance("ReLU first", mutated(b.cert, put(
            ("model", "program"), [["relu"]] + b.program), refit), expect=UNREADABLE)
        if ["relu"] in b.program:
            k = b.program.index(["relu"])
            yield Instance("ReLU with a size", mutated(b.cert, put(
                ("model", "program", k), ["relu", 3]), refit), expect=UNREADABLE)


def _same_d_names(name: str, D: int) -> list[str]:
    """Built-in names of other models with D parameters."""
    out = [f"product:{D}"]
    if name.startswith(("linear:", "relu:", "relu-bias:")):
        family, widths = name.split(":")
        ws = widths.split(",")
        for fam in ("linear", "relu", "relu-bias"):
            for w in (ws, ws[::-1]):
                out.append(f"{fam}:{','.join(w)}")
    for extra in ("linear:2,2,2", "linear:1,2,1", "linear:2,2", "relu-bias:2,2,1",
                  "linear:4,2", "linear:3,3,2", "relu:1,2,2,1", "linear:2,4,2,1"):
        out.append(extra)
    seen, names = set(), []
    for n in out:
        if n != name and n not in seen and spec_parameters(n) == D:
            seen.add(n)
            names.append(n)
    return names


@kind("model.name -> another built-in model of the same D", "program", "model.name",
      MUST_REJECT)
def _(b):
    if "flow" in b.model:
        return
    for name in _same_d_names(b.model["name"], b.D):
        yield Instance(f"name {b.model['name']!r} -> {name!r}",
                       mutated(b.cert, put(("model", "name"), name), refit),
                       claims=("model name",))


def _other_nets(name: str) -> list[str]:
    """``net:`` names of other programs with the same parameters (a ReLU left
    out, another kind of attention), and one of another size."""
    out = []
    if ",ReLU" in name:
        out.append(name.replace(",ReLU", "", 1))
    if name.startswith("net:Attention("):
        if name.endswith(",factors)"):
            out.append(name.replace(",factors)", ")"))
        elif name.endswith(",linear)"):
            out.append(name.replace(",linear)", ",factors)"))
        else:
            out.append(name[:-1] + ",linear)")
    return out + ["net:Linear(9,9)"]


@kind("model.name -> another net: program", "program", "model.name", MUST_REJECT)
def _(b):
    if "flow" not in b.model and b.model["name"].startswith("net:"):
        for name in _other_nets(b.model["name"]):
            yield Instance(f"name -> {name!r}", mutated(b.cert, put(("model", "name"), name),
                                                         refit), claims=("model name",))


@kind("model.name -> a custom label", "program", "model.name", MAY_PASS)
def _(b):
    if "flow" not in b.model:
        for name in ("my network", "Linear(2,3) ReLU Linear(3,2)"):
            yield Instance(f"name -> {name!r}", mutated(b.cert, put(("model", "name"), name),
                                                         refit),
                           expect=MAYBE, report_check=unchecked_name)


@kind("model.variables renamed or reordered", "program", "model.variables", MUST_REJECT)
def _(b):
    if b.program is None:
        return

    def rename(c):
        c["model"]["variables"][0] = "zz0"
        refit(c)

    def swap(c):
        v = c["model"]["variables"]
        v[0], v[-1] = v[-1], v[0]
        refit(c)
    yield Instance("variables[0] -> 'zz0'", mutated(b.cert, rename), expect=UNREADABLE)
    yield Instance("variables 0 and D-1 swapped", mutated(b.cert, swap), expect=UNREADABLE)


def _needs_program(b: Base) -> bool:
    """Probe fields and Monte Carlo identities exist only for a program."""
    return b.generators["kind"] == "probes" or b.identities["mode"] == "monte-carlo"


def _as_phi(b: Base) -> dict:
    ring = rebuild.ring_of(b.cert)
    layout = programs.program_layout(b.model)
    phi = [certformat.encode_poly(p) for p in rebuild.program_phi(layout, ring)]

    def change(c):
        del c["model"]["program"]
        c["model"]["phi"] = phi
        refit(c)
    return mutated(b.cert, change)


@kind("model.program -> its expanded phi", "program", "model.program", MAY_PASS)
@relabelled
def _(b):
    # the same model given by phi: still a proof
    if b.program is not None and not _needs_program(b):
        yield Instance("program replaced by its expanded phi", _as_phi(b), expect=MAYBE)


@kind("model.program -> phi under probes or Monte Carlo identities", "program",
      "model.program", MUST_REJECT)
def _(b):
    if b.program is not None and _needs_program(b):
        yield Instance("program replaced by its expanded phi", _as_phi(b), expect=UNREADABLE)


# -- conv ------------------------------------------------------------------------------

def _convs(b: Base) -> list[int]:
    if b.program is None:
        return []
    return [k for k, layer in enumerate(b.program) if layer[0] == "conv"]


def _conv_field(b: Base, k: int, slot: int, value: object) -> dict:
    return mutated(b.cert, put(("model", "program", k, slot), value), refit)


@kind("conv.c_in / c_out changed", "conv", "conv.c_in, conv.c_out", MUST_REJECT)
def _(b):
    for k in _convs(b):
        _, c_in, c_out, *_ = b.program[k]
        yield Instance(f"layer {k + 1} c_in {c_in} -> {c_in + 1}",
                       _conv_field(b, k, 1, c_in + 1), expect=UNREADABLE)
        yield Instance(f"layer {k + 1} c_out {c_out} -> {c_out + 1}",
                       _conv_field(b, k, 2, c_out + 1), expect=UNREADABLE)


@kind("conv.kernel changed", "conv", "conv.kernel", MUST_REJECT)
def _(b):
    for k in _convs(b):
        kernel = b.program[k][3]
        bigger = [kernel[0] + 1] + kernel[1:]
        yield Instance(f"layer {k + 1} kernel {kernel} -> {bigger}",
                       _conv_field(b, k, 3, bigger), expect=UNREADABLE)
        other = kernel + [1] if len(kernel) == 1 else kernel[:1]
        yield Instance(f"layer {k + 1} kernel {kernel} -> {other} (another dimension)",
                       _conv_field(b, k, 3, other), expect=UNREADABLE)


@kind("conv.bias toggled", "conv", "conv.bias", MUST_REJECT)
def _(b):
    for k in _convs(b):
        bias = b.program[k][5]
        yield Instance(f"layer {k + 1} bias {bias} -> {not bias}",
                       _conv_field(b, k, 5, not bias), expect=UNREADABLE)


@kind("conv.bias toggled, variables refitted", "conv", "conv.bias", MAY_PASS)
@relabelled
def _(b):
    for k in _convs(b):
        program = copy.deepcopy(b.program)
        program[k][5] = not program[k][5]
        yield Instance(f"layer {k + 1} bias toggled, variables/point/D refitted",
                       mutated(b.cert, lambda c, p=program: reprogram(c, p)), expect=MAYBE)


#: Stride and size edits per conv base: (field, description, [(layer, slot, value)],
#: expectation). Slot 4 is the stride, 6 the size. A readable edit keeps the
#: parameters and changes phi (or keeps it: an input position no output reads).
CONV_EDITS: dict[str, list[tuple[str, str, list, str]]] = {
    "conv1d": [  # Conv1d(1, 2, 2, length=5) -> ReLU -> Linear(8, 1, bias)
        ("stride", "stride 1 -> 2 (2 positions for the 4 the dense layer reads)",
         [(0, 4, [2])], UNREADABLE),
        ("size", "length 5 -> 6 (5 positions for 4)", [(0, 6, [6])], UNREADABLE),
        ("stride", "stride 1 -> 2 on length 9 (4 positions, every other input)",
         [(0, 4, [2]), (0, 6, [9])], MAYBE),
    ],
    "conv1d-probes": [  # Conv1d(1, 2, 2, length=5) -> ReLU -> Conv1d(2, 1, 2, length=4)
        ("stride", "layer 3 stride 1 -> 2", [(2, 4, [2])], MAYBE),
        ("stride", "layer 1 stride 1 -> 2 alone", [(0, 4, [2])], UNREADABLE),
        ("stride", "layer 1 stride 1 -> 2, layer 3 length 4 -> 2",
         [(0, 4, [2]), (2, 6, [2])], MAYBE),
        ("size", "layer 1 length 5 -> 6 alone", [(0, 6, [6])], UNREADABLE),
        ("size", "layer 1 length 5 -> 6, layer 3 length 4 -> 5", [(0, 6, [6]), (2, 6, [5])],
         MAYBE),
        ("size", "layer 1 length 5 -> 3, layer 3 length 4 -> 2", [(0, 6, [3]), (2, 6, [2])],
         MAYBE),
    ],
    "conv2d": [  # Conv2d(1, 2, 2, stride=2, size=(4, 4)) -> ReLU -> Conv2d(2, 1, 2, size=(2, 2))
        ("stride", "layer 1 stride (2, 2) -> (1, 1) alone", [(0, 4, [1, 1])], UNREADABLE),
        ("stride", "layer 1 stride (2, 2) -> (1, 1), layer 3 size -> (3, 3)",
         [(0, 4, [1, 1]), (2, 6, [3, 3])], MAYBE),
        ("stride", "layer 1 stride (2, 2) -> (2, 1), layer 3 size -> (2, 3)",
         [(0, 4, [2, 1]), (2, 6, [2, 3])], MAYBE),
        ("stride", "layer 3 stride (1, 1) -> (1, 2) (one output either way)", [(2, 4, [1, 2])],
         MAYBE),
        ("size", "layer 1 size (4, 4) -> (5, 4) (the same 2 x 2 outputs)", [(0, 6, [5, 4])],
         MAYBE),
        ("size", "layer 1 size (4, 4) -> (6, 6), layer 3 size -> (3, 3)",
         [(0, 6, [6, 6]), (2, 6, [3, 3])], MAYBE),
        ("size", "layer 1 size (4, 4) -> (6, 6) alone", [(0, 6, [6, 6])], UNREADABLE),
    ],
    "conv2d-probes": [  # Conv2d(1, 2, 2, stride=2, size=(4, 4)) -> ReLU -> Linear(8, 1, bias)
        ("stride", "stride (2, 2) -> (1, 1) (18 outputs for 8 inputs)", [(0, 4, [1, 1])],
         UNREADABLE),
        ("stride", "stride (2, 2) -> (1, 2) on size (3, 4) (2 x 2 outputs)",
         [(0, 4, [1, 2]), (0, 6, [3, 4])], MAYBE),
        ("size", "size (4, 4) -> (5, 5) (the same 2 x 2 outputs)", [(0, 6, [5, 5])], MAYBE),
        ("size", "size (4, 4) -> (4, 6) (2 x 3 outputs)", [(0, 6, [4, 6])], UNREADABLE),
    ],
}


def _conv_edits(fld: str, readable: bool):
    def generate(b):
        for what, desc, edits, expect in CONV_EDITS.get(b.name, []):
            if what == fld and (expect == MAYBE) == readable:
                changes = [put(("model", "program", k, slot), value) for k, slot, value in edits]
                yield Instance(desc, mutated(b.cert, *changes, refit), expect=expect)
    return generate


kind("conv.stride changed (shapes kept)", "conv", "conv.stride", MAY_PASS)(
    relabelled(_conv_edits("stride", True)))
kind("conv.size changed (shapes kept)", "conv", "conv.size", MAY_PASS)(
    relabelled(_conv_edits("size", True)))
kind("conv.stride changed (shapes broken)", "conv", "conv.stride", MUST_REJECT)(
    _conv_edits("stride", False))
kind("conv.size changed (shapes broken)", "conv", "conv.size", MUST_REJECT)(
    _conv_edits("size", False))


@kind("conv.stride or size malformed", "conv", "conv.stride, conv.size", MUST_REJECT)
def _(b):
    for k in _convs(b):
        _, _, _, kernel, stride, _, size = b.program[k]
        yield Instance(f"layer {k + 1} stride 0", _conv_field(b, k, 4, [0] * len(stride)),
                       expect=UNREADABLE)
        yield Instance(f"layer {k + 1} size below the kernel",
                       _conv_field(b, k, 6, [kernel[0] - 1] + size[1:]), expect=UNREADABLE)
        yield Instance(f"layer {k + 1} size of 10**6 positions",
                       _conv_field(b, k, 6, [10**6] + size[1:]), expect=UNREADABLE)


# -- residual --------------------------------------------------------------------------

def _residuals(b: Base) -> list[int]:
    if b.program is None:
        return []
    return [k for k, layer in enumerate(b.program) if layer[0] == "residual"]


@kind("residual block changed (parameters kept)", "residual", "residual.block", MAY_PASS)
@relabelled
def _(b):
    for k in _residuals(b):
        p = b.program
        inner = p[k][1]
        edits = {
            "residual unwrapped (block(x) instead of x + block(x))": p[:k] + inner + p[k + 1:],
            "ReLU removed inside the block": p[:k] + [["residual", [x for x in inner
                                                                    if x != ["relu"]]]]
            + p[k + 1:],
            "residual nested in a residual": p[:k] + [["residual", [["residual", inner]]]]
            + p[k + 1:],
        }
        if k > 0 and p[k - 1][0] == "linear" and p[k - 1][1] == p[k - 1][2]:
            edits["the layer before moved inside the block"] = (
                p[:k - 1] + [["residual", [p[k - 1]] + inner]] + p[k + 1:])
        for desc, program in edits.items():
            yield Instance(desc, mutated(b.cert, put(("model", "program"), program), refit),
                           expect=MAYBE)


@kind("residual block malformed", "residual", "residual.block", MUST_REJECT)
def _(b):
    for k in _residuals(b):
        inner = b.program[k][1]
        yield Instance("empty block", mutated(b.cert, put(("model", "program", k, 1), []),
                                              refit), expect=UNREADABLE)
        first = next(j for j, x in enumerate(inner) if x[0] == "linear")
        yield Instance("bias toggled inside the block", mutated(
            b.cert, put(("model", "program", k, 1, first, 3), not inner[first][3]), refit),
            expect=UNREADABLE)
        yield Instance("block output widened", mutated(
            b.cert, put(("model", "program", k, 1, len(inner) - 1, 2), inner[-1][2] + 1),
            refit), expect=UNREADABLE)
        yield Instance("block given as a layer, not a list", mutated(
            b.cert, put(("model", "program", k), ["residual", inner[0]]), refit),
            expect=UNREADABLE)


# -- attention -------------------------------------------------------------------------

def _attention(b: Base) -> list | None:
    if b.program is not None and b.program[0][0] == "attention":
        return b.program[0]
    return None


@kind("attention.kind changed", "attention", "attention.kind", MAY_PASS)
@relabelled
def _(b):
    # the same parameters: softmax and factors have the same laws, linear one more
    layer = _attention(b)
    if layer is not None:
        for other in ("softmax", "factors", "linear"):
            if other != layer[1]:
                yield Instance(f"kind {layer[1]} -> {other}", mutated(
                    b.cert, put(("model", "program", 0, 1), other), refit), expect=MAYBE)


@kind("attention.kind or sizes malformed", "attention", "attention.kind, d, heads, head",
      MUST_REJECT)
def _(b):
    layer = _attention(b)
    if layer is None:
        return
    yield Instance("kind -> 'magic'", mutated(b.cert, put(("model", "program", 0, 1), "magic"),
                                              refit), expect=UNREADABLE)
    for slot, what in ((2, "d"), (3, "heads"), (4, "head")):
        yield Instance(f"{what} {layer[slot]} -> {layer[slot] + 1}", mutated(
            b.cert, put(("model", "program", 0, slot), layer[slot] + 1), refit),
            expect=UNREADABLE)
        yield Instance(f"{what} -> 0", mutated(b.cert, put(("model", "program", 0, slot), 0),
                                                 refit), expect=UNREADABLE)
    yield Instance("a dense layer after the attention", mutated(b.cert, put(
        ("model", "program"), b.program + [["linear", 2, 2, False]]), refit), expect=UNREADABLE)


@kind("attention.tokens changed", "attention", "attention.tokens", MAY_PASS)
@relabelled
def _(b):
    # factors do not read the tokens; softmax and linear attention do
    layer = _attention(b)
    if layer is not None:
        for tokens in (1, layer[5] + 1):
            yield Instance(f"tokens {layer[5]} -> {tokens}", mutated(
                b.cert, put(("model", "program", 0, 5), tokens), refit), expect=MAYBE)


@kind("attention.tokens out of range", "attention", "attention.tokens", MUST_REJECT)
def _(b):
    layer = _attention(b)
    if layer is not None:
        for tokens in (0, -1, 65, "2"):
            yield Instance(f"tokens -> {tokens!r}", mutated(
                b.cert, put(("model", "program", 0, 5), tokens), refit), expect=UNREADABLE)


# -- probes (lie.generators) -----------------------------------------------------------

def _used_fields(b: Base) -> int:
    """1 + the largest generator field id the file uses."""
    words = b.cert["lie"]["words"]
    ids = {w[0] for w in words}
    used = {x for w in words for x in w[1:] if x not in ids}
    used |= {x for x in b.cert["lie"]["basis"] if x not in ids}
    if b.subset is not None:
        used |= {x for x in b.subset["words"] if x not in ids}
    return max(used) + 1


@kind("generators.count changed", "probes", "generators.count", MAY_PASS)
def _(b):
    # other probe fields of the same family: constant combinations of the generators
    if b.generators["kind"] == "probes":
        n = b.generators["count"]
        values = {n + 1, 2 * n}
        if _used_fields(b) < n:
            values.add(n - 1)
        for count in sorted(values):
            yield Instance(f"count {n} -> {count}", mutated(
                b.cert, put(("lie", "generators", "count"), count)), expect=MAYBE)
        if b.cert["lie"]["words"]:
            for count in (n + 1, 2 * n):
                yield Instance(f"count {n} -> {count}, bracket ids renumbered", mutated(
                    b.cert, lambda c, count=count: _renumbered(c, count)), expect=MAYBE)


def _renumbered(c: dict, count: int) -> None:
    """``count`` probe fields, the ids of the bracket words moved above them."""
    old = c["lie"]["generators"]["count"]

    def new(i: int) -> int:
        return i if i < old else i + count - old
    c["lie"]["generators"]["count"] = count
    c["lie"]["words"] = [[new(i), left, new(right)] for i, left, right in c["lie"]["words"]]
    c["lie"]["basis"] = [new(i) for i in c["lie"]["basis"]]
    if "subset" in c:
        c["subset"]["words"] = [new(i) for i in c["subset"]["words"]]


@kind("generators.count below the fields used", "probes", "generators.count", MUST_REJECT)
def _(b):
    if b.generators["kind"] == "probes":
        used = _used_fields(b)
        for count in (used - 1, 0, "3", True):
            if count == 0 and used == 1:
                continue
            yield Instance(f"count -> {count!r} (ids up to {used - 1} are used)", mutated(
                b.cert, put(("lie", "generators", "count"), count)), expect=UNREADABLE)


@kind("generators.family changed", "probes", "generators.family", MAY_PASS)
def _(b):
    if b.generators["kind"] == "probes":
        family = b.generators["family"]
        for other in (family[:-1] + "1", "another family"):
            yield Instance(f"family {family!r} -> {other!r}", mutated(
                b.cert, put(("lie", "generators", "family"), other)), expect=MAYBE)


@kind("generators.family malformed", "probes", "generators.family", MUST_REJECT)
def _(b):
    if b.generators["kind"] == "probes":
        for family in ("", "f" * 101, 7, None):
            yield Instance(f"family -> {str(family)[:12]!r}", mutated(
                b.cert, put(("lie", "generators", "family"), family)), expect=UNREADABLE)


@kind("generators.kind changed", "probes", "generators.kind", MAY_PASS)
def _(b):
    if b.program is None:
        return
    if b.generators["kind"] == "probes":
        yield Instance("probes -> components", mutated(
            b.cert, put(("lie", "generators"), {"kind": "components"})), expect=MAYBE)
    else:
        yield Instance("components -> probes", mutated(b.cert, put(
            ("lie", "generators"), {"kind": "probes", "count": _used_fields(b),
                                    "family": "exactcl-probes-0"})), expect=MAYBE)


@kind("generators.kind malformed", "probes", "generators.kind", MUST_REJECT)
def _(b):
    if b.program is None:
        return
    yield Instance("kind -> 'magic'", mutated(b.cert, put(("lie", "generators", "kind"),
                                                          "magic")), expect=UNREADABLE)
    yield Instance("an unknown key", mutated(b.cert, put(("lie", "generators", "seed"), 1)),
                   expect=UNREADABLE)
    if b.generators["kind"] == "probes":
        yield Instance("probes without a family", mutated(
            b.cert, drop(("lie", "generators", "family"))), expect=UNREADABLE)


# -- identities (laws.identities) ------------------------------------------------------

def _mc(b: Base) -> bool:
    return b.identities["mode"] == "monte-carlo"


def _identities_say(text: str, what: str) -> Callable[[Report], str | None]:
    """A verified file's law identities checked by Monte Carlo must say
    ``text`` (the verifier states its own rounds and bounds, whatever the
    file says); else what is missing."""
    def check(report: Report) -> str | None:
        for c in report.checks:
            if c.claim == "law identities" and "Monte Carlo" in c.detail \
                    and text not in c.detail:
                return f"{c.claim}: {c.detail!r} does not state {what}"
        return None
    return check


def _own_bound(degree: int) -> Callable[[Report], str | None]:
    return _identities_say(f"degree <= {degree}:", f"the degree bound {degree}")


@kind("identities.mode changed", "identities", "identities.mode", MAY_PASS)
def _(b):
    # the verifier checks the identities of a program itself, whatever the file says
    if b.program is None:
        return
    if _mc(b):
        yield Instance("monte-carlo -> exact", mutated(
            b.cert, put(("laws", "identities"), {"mode": "exact"})), expect=MAYBE)
    else:
        yield Instance("exact -> monte-carlo (stated bounds generous)", mutated(
            b.cert, put(("laws", "identities"), {"mode": "monte-carlo", "rounds": 2,
                                                 "degree_bound": 100, "height_bits": 100})),
            expect=MAYBE)


@kind("identities.mode malformed", "identities", "identities.mode", MUST_REJECT)
def _(b):
    yield Instance("mode -> 'magic'", mutated(b.cert, put(("laws", "identities", "mode"),
                                                          "magic")), expect=UNREADABLE)
    if b.program is None:
        yield Instance("monte-carlo on a model without a program", mutated(b.cert, put(
            ("laws", "identities"), {"mode": "monte-carlo", "rounds": 2, "degree_bound": 4,
                                     "height_bits": 8})), expect=UNREADABLE)
    if _mc(b):
        yield Instance("monte-carlo without its rounds", mutated(
            b.cert, drop(("laws", "identities", "rounds"))), expect=UNREADABLE)
        yield Instance("exact with rounds", mutated(b.cert, put(
            ("laws", "identities", "mode"), "exact")), expect=UNREADABLE)


@kind("identities.rounds changed", "identities", "identities.rounds", MAY_PASS)
def _(b):
    # fewer rounds state a weaker bound; more are run by the verifier itself
    if _mc(b):
        for rounds in (1, 7):
            yield Instance(f"rounds {b.identities['rounds']} -> {rounds}", mutated(
                b.cert, put(("laws", "identities", "rounds"), rounds)), expect=MAYBE,
                report_check=_rounds_run(rounds))


def _rounds_run(rounds: int) -> Callable[[Report], str | None]:
    needed = max(rounds, 2)
    return _identities_say(f"at {needed} random points", f"{needed} rounds")


@kind("identities.rounds out of range", "identities", "identities.rounds", MUST_REJECT)
def _(b):
    if _mc(b):
        for rounds in (0, -1, 10_001, True, "2"):
            yield Instance(f"rounds -> {rounds!r}", mutated(
                b.cert, put(("laws", "identities", "rounds"), rounds)), expect=UNREADABLE)


def _bound_edits(key: str, understated: bool):
    def generate(b):
        if not _mc(b):
            return
        stated = b.identities[key]
        degree = b.identities["degree_bound"]
        values = sorted({stated - 1, 0} if understated else {stated + 3, 10**6})
        for value in values:
            if value < 0:
                continue
            yield Instance(f"{key} {stated} -> {value}", mutated(
                b.cert, put(("laws", "identities", key), value)),
                expect=REJECT if understated else MAYBE,
                claims=("law identities", "subset law identities"),
                report_check=_own_bound(degree))
    return generate


#: A stated bound below the program's own makes the file state an error
#: probability its rounds do not give (the viewer shows it "as the file states").
kind("identities.degree_bound understated", "identities", "identities.degree_bound",
     MUST_REJECT)(_bound_edits("degree_bound", True))
kind("identities.degree_bound overstated", "identities", "identities.degree_bound",
     MAY_PASS)(_bound_edits("degree_bound", False))
kind("identities.height_bits understated", "identities", "identities.height_bits",
     MUST_REJECT)(_bound_edits("height_bits", True))
kind("identities.height_bits overstated", "identities", "identities.height_bits",
     MAY_PASS)(_bound_edits("height_bits", False))


@kind("identities bounds malformed", "identities", "identities.degree_bound, height_bits",
      MUST_REJECT)
def _(b):
    if _mc(b):
        for key in ("degree_bound", "height_bits"):
            for value in (-1, 10**6 + 1, "4", None):
                yield Instance(f"{key} -> {value!r}", mutated(
                    b.cert, put(("laws", "identities", key), value)), expect=UNREADABLE)


# -- flow --------------------------------------------------------------------------------

def _flow(b: Base) -> dict | None:
    return b.model.get("flow")


def _flow_edit(b: Base, flow: dict) -> dict:
    return mutated(b.cert, put(("model", "flow"), flow), refit)


def flow_named(c: dict) -> None:
    """Name the flow model as exactcl names one: its base's name, " under ",
    the flow's text."""
    base = c["model"]["base"]
    flow = read_flow(c["model"]["flow"], Ring(tuple(base["variables"])))
    c["model"]["name"] = f"{base['name']} under {flow_text(flow)}"
    refit(c)


def _and_renamed(inst: Instance) -> Iterator[Instance]:
    """A may-pass change of a flow, and the same with the flow model's name
    made to say the flow as now written."""
    yield inst
    renamed = mutated(inst.cert, flow_named)
    if renamed["model"]["name"] != inst.cert["model"]["name"]:
        yield Instance(inst.where + "; model.name made to say it",
                       renamed, expect=inst.expect, report_check=inst.report_check)


@kind("flow.kind changed", "flow", "flow.kind", MUST_REJECT)
def _(b):
    flow = _flow(b)
    if flow is None:
        return
    metric = {"metric": flow["metric"]} if "metric" in flow else {}
    others = {"momentum": [{"kind": "nesterov", **metric}],
              "nesterov": [{"kind": "momentum", "tau": "3/1", **metric},
                           {"kind": "momentum", "tau": "0/1", **metric}],
              "gradient": [{"kind": "momentum", "tau": "1/2", **metric},
                           {"kind": "nesterov", **metric}]}[flow["kind"]]
    if flow["kind"] == "momentum" and metric:
        others.append({"kind": "gradient", **metric})
    for other in others:
        yield Instance(f"{flow_string(flow)} -> {flow_string(other)}", _flow_edit(b, other),
                       claims=("flow",))


@kind("flow.kind malformed", "flow", "flow.kind", MUST_REJECT)
def _(b):
    flow = _flow(b)
    if flow is not None:
        yield Instance("kind -> 'adam'", _flow_edit(b, dict(flow, kind="adam")),
                       expect=UNREADABLE)
        if flow["kind"] != "gradient" and "metric" not in flow:
            yield Instance("kind -> 'gradient' without a metric", _flow_edit(
                b, {"kind": "gradient"}), expect=UNREADABLE)


@kind("flow.tau changed", "flow", "flow.tau", MUST_REJECT)
def _(b):
    flow = _flow(b)
    if flow is not None and flow["kind"] == "momentum":
        tau = flow["tau"]
        for other in ("0/1", "1/1", "1/3", bump(tau), "2/1"):
            if other != tau and _fraction(other) != _fraction(tau):
                yield Instance(f"tau {tau} -> {other}", _flow_edit(b, dict(flow, tau=other)),
                               claims=("flow",))


def _fraction(q: str):
    from fractions import Fraction
    p, _, d = q.partition("/")
    return Fraction(int(p), int(d))


@kind("flow.tau rewritten (same value)", "flow", "flow.tau", MAY_PASS)
def _(b):
    flow = _flow(b)
    if flow is not None and flow["kind"] == "momentum":
        p, _, d = flow["tau"].partition("/")
        other = f"{3 * int(p)}/{3 * int(d)}"
        yield Instance(f"tau {flow['tau']} -> {other}", _flow_edit(b, dict(flow, tau=other)),
                       expect=MAYBE)


@kind("flow.tau malformed", "flow", "flow.tau", MUST_REJECT)
def _(b):
    flow = _flow(b)
    if flow is None:
        return
    if flow["kind"] == "momentum":
        yield Instance("tau removed", _flow_edit(b, {k: v for k, v in flow.items()
                                                     if k != "tau"}), expect=UNREADABLE)
        for tau in ("-1/2", "1/0", 0.5, "1/2/3"):
            yield Instance(f"tau -> {tau!r}", _flow_edit(b, dict(flow, tau=tau)),
                           expect=UNREADABLE)
    else:
        yield Instance(f"tau '1/2' added to {flow['kind']}",
                       _flow_edit(b, dict(flow, tau="1/2")), expect=UNREADABLE)


def _base_tensors(b: Base) -> list[str]:
    return _tensors(b.model["base"]["variables"])


@kind("flow.metric changed", "flow", "flow.metric", MUST_REJECT)
def _(b):
    flow = _flow(b)
    if flow is None:
        return
    tensors = _base_tensors(b)
    if "metric" not in flow:
        yield Instance("metric diag(theta) added", _flow_edit(
            b, dict(flow, metric={"kind": "diag", "tensors": []})), claims=("flow",))
        return
    if flow["kind"] != "gradient":
        yield Instance("metric removed", _flow_edit(
            b, {k: v for k, v in flow.items() if k != "metric"}), claims=("flow",))
    chosen = flow["metric"]["tensors"]
    for other in ([tensors[0]], [tensors[-1]], []):
        if sorted(other) != sorted(chosen) and not (not chosen and other == tensors):
            yield Instance(f"metric tensors {chosen} -> {other}", _flow_edit(
                b, dict(flow, metric={"kind": "diag", "tensors": other})), claims=("flow",))
    D = len(b.model["base"]["variables"])
    identity = [[[[[], "1/1"]] if i == j else [] for j in range(D)] for i in range(D)]
    yield Instance("metric -> the identity matrix", _flow_edit(
        b, dict(flow, metric={"kind": "matrix", "rows": identity})), claims=("flow",))
    if not chosen:
        coupled = _diag_rows(D)
        coupled[0][1] = coupled[1][0] = [[[], "1/1"]]
        yield Instance("metric -> diag(theta) as a matrix, entries (0, 1) and (1, 0) = 1",
                       _flow_edit(b, dict(flow, metric={"kind": "matrix", "rows": coupled})),
                       claims=("flow",))


def _diag_rows(D: int) -> list:
    """diag(theta) as the rows of a matrix metric."""
    return [[[[[[i, 1]], "1/1"]] if i == j else [] for j in range(D)] for i in range(D)]


@kind("flow.metric rewritten (same metric)", "flow", "flow.metric", MAY_PASS)
def _(b):
    flow = _flow(b)
    if flow is None or "metric" not in flow:
        return
    tensors = _base_tensors(b)
    chosen = flow["metric"]["tensors"]
    if not chosen:
        yield from _and_renamed(Instance(f"tensors [] -> every tensor {tensors}", _flow_edit(
            b, dict(flow, metric={"kind": "diag", "tensors": tensors})), expect=MAYBE))
        diag = _diag_rows(len(b.model["base"]["variables"]))
        yield from _and_renamed(Instance("diag(theta) written as a matrix", _flow_edit(
            b, dict(flow, metric={"kind": "matrix", "rows": diag})), expect=MAYBE))
    elif len(chosen) > 1:
        yield from _and_renamed(Instance("tensors reordered", _flow_edit(
            b, dict(flow, metric={"kind": "diag", "tensors": chosen[::-1]})), expect=MAYBE))


@kind("flow.metric malformed", "flow", "flow.metric", MUST_REJECT)
def _(b):
    flow = _flow(b)
    if flow is None:
        return
    for desc, metric in (("kind 'full'", {"kind": "full"}),
                         ("unknown tensor W9", {"kind": "diag", "tensors": ["W9"]}),
                         ("a tensor twice", {"kind": "diag", "tensors": ["W1", "W1"]}),
                         ("matrix of one row", {"kind": "matrix", "rows": [[[]]]})):
        yield Instance(desc, _flow_edit(b, dict(flow, metric=metric)), expect=UNREADABLE)
    if flow["kind"] == "gradient":
        yield Instance("the metric of a gradient flow removed", _flow_edit(b, {"kind":
                                                                                "gradient"}),
                       expect=UNREADABLE)


@kind("base.name -> another built-in model", "flow", "base.name", MUST_REJECT)
def _(b):
    if _flow(b) is None:
        return
    name = b.model["base"]["name"]
    D = len(b.model["base"]["variables"])
    others = _same_d_names(name, D) + ["linear:2,2,2,2" if D != 12 else "linear:3,3,3"]
    for other in others:
        yield Instance(f"base name {name!r} -> {other!r}", mutated(
            b.cert, put(("model", "base", "name"), other), refit),
            claims=("base model name",))


@kind("base.name -> a custom label", "flow", "base.name", MAY_PASS)
def _(b):
    if _flow(b) is not None:
        yield from _and_renamed(Instance("base name -> 'my base'", mutated(
            b.cert, put(("model", "base", "name"), "my base"), refit), expect=MAYBE,
            report_check=_unchecked_base))


def _unchecked_base(report: Report) -> str | None:
    said = "base model's" in report.summary and "not a built-in spec" in report.summary
    return None if said else "the summary does not say that the base's name is unchecked"


@kind("base.variables renamed or reordered", "flow", "base.variables", MUST_REJECT)
def _(b):
    if _flow(b) is None:
        return
    base = b.model["base"]
    # a program's variables are its parameters (unreadable); phi's are names (the
    # fields of the flow are then another model's)
    expect = UNREADABLE if "program" in base else REJECT

    def rename(c):
        c["model"]["base"]["variables"][0] = "zz0"
        refit(c)

    def swap(c):
        v = c["model"]["base"]["variables"]
        v[0], v[-1] = v[-1], v[0]
        refit(c)
    yield Instance("base variables[0] -> 'zz0'", mutated(b.cert, rename), expect=expect,
                   claims=("flow", "base model name"))
    yield Instance("base variables 0 and D-1 swapped", mutated(b.cert, swap), expect=expect,
                   claims=("flow", "base model name"))


@kind("base.program changed", "flow", "base.program", MUST_REJECT)
def _(b):
    if _flow(b) is None or "program" not in b.model["base"]:
        return
    program = b.model["base"]["program"]
    k = _linears(program)[0]
    yield Instance("ReLU inserted into the base", mutated(b.cert, put(
        ("model", "base", "program"), program[:k + 1] + [["relu"]] + program[k + 1:]), refit),
        claims=("flow", "base model name"))
    yield Instance("bias toggled in the base", mutated(b.cert, put(
        ("model", "base", "program", k, 3), not program[k][3]), refit), expect=UNREADABLE)


@kind("base.program -> its expanded phi", "flow", "base.program", MAY_PASS)
def _(b):
    if _flow(b) is None or "program" not in b.model["base"]:
        return
    base = b.model["base"]
    ring = Ring(tuple(base["variables"]))
    phi = [certformat.encode_poly(p) for p in
           rebuild.program_phi(programs.program_layout(base), ring)]

    def as_phi(c):
        del c["model"]["base"]["program"]
        c["model"]["base"]["phi"] = phi
        refit(c)
    yield Instance("base program replaced by its expanded phi", mutated(b.cert, as_phi),
                   expect=MAYBE)


@kind("base.phi changed", "flow", "base.phi", MUST_REJECT)
def _(b):
    if _flow(b) is None or "phi" not in b.model["base"]:
        return

    def change(c):
        term = c["model"]["base"]["phi"][0][0]
        term[1] = bump(term[1])
        refit(c)
    yield Instance("base phi[0] coefficient (p+1)/q", mutated(b.cert, change),
                   claims=("flow", "base model name"))

    def square(c):
        term = c["model"]["base"]["phi"][0][0]
        term[0] = [[v, 2 * e] for v, e in term[0]]
        refit(c)
    yield Instance("base phi[0] squared exponents", mutated(b.cert, square),
                   claims=("flow", "base model name"))


@kind("base.source malformed", "flow", "base", MUST_REJECT)
def _(b):
    if _flow(b) is None:
        return
    yield Instance("flow removed, base kept", mutated(b.cert, drop(("model", "flow")), refit),
                   expect=UNREADABLE)
    yield Instance("base removed, flow kept", mutated(b.cert, drop(("model", "base")), refit),
                   expect=UNREADABLE)
    yield Instance("base with a fingerprint", mutated(b.cert, put(
        ("model", "base", "fingerprint"), "0"), refit), expect=UNREADABLE)
    yield Instance("base with a flow of its own", mutated(b.cert, put(
        ("model", "base", "flow"), {"kind": "nesterov"}), refit), expect=UNREADABLE)


@kind("flow and base removed (the fields alone)", "flow", "flow, base", MAY_PASS)
def _(b):
    if _flow(b) is not None:
        def plain(c):
            del c["model"]["flow"], c["model"]["base"]
            c["model"]["name"] = "fields"
            refit(c)
        yield Instance("flow and base removed, custom name", mutated(b.cert, plain),
                       expect=MAYBE)


def _flow_name_variants(b: Base, what: str) -> Iterator[tuple[str, str]]:
    """Names of another flow of the same base (``tau``), of the same flow of
    another base (``base``) or of another kind of flow (``kind``)."""
    name = b.model["name"]
    base_name, _, text = name.partition(" under ")
    flow = _flow(b)
    if what == "tau" and flow["kind"] == "momentum":
        tau = str(_fraction(flow["tau"]))
        for other in ("1", "0", "1/3"):
            if other != tau:
                yield other, name.replace(f"tau={tau}", f"tau={other}")
    elif what == "base":
        for other in _same_d_names(base_name, len(b.model["base"]["variables"]))[:2] + \
                ["linear:3,3,3"]:
            yield other, f"{other} under {text}"
    elif what == "kind":
        if flow["kind"] == "momentum":
            yield "nesterov", name.replace(f"momentum tau={_fraction(flow['tau'])}",
                                           "nesterov (damping 3/t)")
        elif flow["kind"] == "nesterov":
            yield "momentum", name.replace("nesterov (damping 3/t)", "momentum tau=1/2")
        else:
            yield "momentum", name.replace(" under ", " under momentum tau=1/2, ")


def _flow_name_kind(what: str):
    def generate(b):
        if _flow(b) is None:
            return
        for _, name in _flow_name_variants(b, what):
            yield Instance(f"name {b.model['name']!r} -> {name!r}", mutated(
                b.cert, put(("model", "name"), name), refit), claims=("model name", "flow"))
    return generate


kind("model.name of a flow -> another tau", "flow", "model.name", MUST_REJECT)(
    _flow_name_kind("tau"))
kind("model.name of a flow -> another base", "flow", "model.name", MUST_REJECT)(
    _flow_name_kind("base"))
kind("model.name of a flow -> another kind of flow", "flow", "model.name", MUST_REJECT)(
    _flow_name_kind("kind"))


@kind("model.name of a flow -> its base's built-in name", "flow", "model.name", MUST_REJECT)
def _(b):
    if _flow(b) is not None:
        base_name = b.model["base"]["name"]
        yield Instance(f"name -> {base_name!r} (the base, not its flow)", mutated(
            b.cert, put(("model", "name"), base_name), refit), claims=("model name",))


@kind("model.variables of a flow changed", "flow", "model.variables", MUST_REJECT)
def _(b):
    if _flow(b) is None:
        return

    def rename(c, k):
        c["model"]["variables"][k] = "zz"
        refit(c)

    def swap(c):
        v = c["model"]["variables"]
        v[0], v[-1] = v[-1], v[0]
        refit(c)
    for k in sorted({0, len(b.model["variables"]) - 1}):
        yield Instance(f"variables[{k}] {b.model['variables'][k]!r} -> 'zz'",
                       mutated(b.cert, lambda c, k=k: rename(c, k)), claims=("flow",))
    yield Instance("variables 0 and D-1 swapped", mutated(b.cert, swap), claims=("flow",))


@kind("model.fields of a flow changed", "flow", "model.fields", MUST_REJECT)
def _(b):
    if _flow(b) is None:
        return
    fields = b.model["fields"]
    for f in sorted({0, len(fields) - 1}):
        def change(c, f=f):
            term = c["model"]["fields"][f][0][1][0]
            term[1] = bump(term[1])
            refit(c)
        yield Instance(f"fields[{f}] first coefficient (p+1)/q", mutated(b.cert, change),
                       claims=("flow",))
    if len(fields) > 1:
        # the words may then name a missing field (unreadable), else the flow is false
        def dropped(c):
            c["model"]["fields"].pop()
            refit(c)
        yield Instance("fields[-1] dropped", mutated(b.cert, dropped), expect=REFUSED,
                       claims=("flow",))

    def doubled(c):
        for _, poly in c["model"]["fields"][0]:
            for term in poly:
                term[1] = bump(term[1], int(term[1].split("/")[0]))
        refit(c)
    yield Instance("fields[0] doubled", mutated(b.cert, doubled), claims=("flow",))


# -- closure (the closure proofs of flows and subsets) ----------------------------------

def _closure(b: Base) -> dict | None:
    return b.cert["closure"]


@kind("closure mode or recorded outcome altered", "closure",
      "closure.mode, passed, rounds, primes, identities", MAY_PASS)
def _(b):
    # the verifier re-runs the closure check in the mode named, with its own randomness
    c = _closure(b)
    if c is None:
        return
    other = "monte-carlo" if c["mode"] == "deterministic" else "deterministic"
    yield Instance(f"mode {c['mode']} -> {other}", mutated(b.cert, put(("closure", "mode"),
                                                                       other)), expect=MAYBE)
    for key, value in (("passed", False), ("rounds", 7), ("primes", []), ("identities", 0)):
        yield Instance(f"closure.{key} -> {value!r}", mutated(
            b.cert, put(("closure", key), value)), expect=MAYBE)


@kind("closure stated bound weakened", "closure", "closure.error_bound, degree_bound",
      MAY_PASS)
def _(b):
    c = _closure(b)
    if c is not None:
        yield Instance("error_bound -> 1/1", mutated(b.cert, put(("closure", "error_bound"),
                                                                 "1/1")), expect=MAYBE)
        yield Instance(f"degree_bound {c['degree_bound']} -> {c['degree_bound'] + 5}", mutated(
            b.cert, put(("closure", "degree_bound"), c["degree_bound"] + 5)), expect=MAYBE)


@kind("closure stated bound understated (Monte Carlo)", "closure",
      "closure.error_bound, degree_bound, height_bits", MUST_REJECT)
def _(b):
    c = _closure(b)
    if c is None or c["mode"] != "monte-carlo":
        return
    p, _, q = c["error_bound"].partition("/")
    smaller = f"{p}/{int(q) * 2**64}"
    for key, value in (("error_bound", "0/1"), ("error_bound", smaller),
                       ("degree_bound", 0), ("height_bits", 0)):
        yield Instance(f"closure.{key} -> {value!r}", mutated(
            b.cert, put(("closure", key), value)), claims=("closure",))


@kind("closure malformed", "closure", "closure", MUST_REJECT)
def _(b):
    c = _closure(b)
    if c is None:
        return
    for key, value in (("error_bound", "2/1"), ("error_bound", 0.0), ("passed", "yes"),
                       ("rounds", -1), ("primes", [1])):
        yield Instance(f"closure.{key} -> {value!r}", mutated(
            b.cert, put(("closure", key), value)), expect=UNREADABLE)
    yield Instance("closure.mode -> 'magic'", mutated(b.cert, put(("closure", "mode"),
                                                                  "magic")),
                   claims=("closure",))


# -- subset ------------------------------------------------------------------------------

def _sub(b: Base) -> dict | None:
    return b.subset


def _sub_edit(b: Base, key: str, value: object) -> dict:
    return mutated(b.cert, put(("subset", key), value))


def _resubset(c: dict, names: list[str]) -> None:
    """Make the subset ``names`` (model order), the point and complements
    moved with it: a parameter leaving the subset takes its value of theta_S*
    into every complement, one joining it its value in the first."""
    variables = c["model"]["variables"]
    section = c["subset"]
    old = section["parameters"]
    inside = dict(zip(old, section["point"]))
    rest = [v for v in variables if v not in old]
    outsides = [dict(zip(rest, comp)) for comp in section["complements"]]
    chosen = [v for v in variables if v in names]
    section["parameters"] = chosen
    section["point"] = [inside.get(v, outsides[0].get(v, "5")) for v in chosen]
    section["complements"] = [[inside.get(v, out.get(v)) for v in variables if v not in names]
                              for out in outsides]


def _law_support(poly: list, variables: list[str]) -> set[str]:
    return {variables[v] for mono, _ in poly for v, _ in mono}


@kind("subset.parameters: a law's parameter swapped out", "subset", "subset.parameters",
      MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is None or not s["polynomials"]:
        return
    variables = b.model["variables"]
    inside = _law_support(s["polynomials"][0], variables)
    leaving = sorted(inside)[0]
    joining = next((v for v in variables if v not in s["parameters"]), None)
    if joining is None:  # every parameter: drop one only
        names = [v for v in s["parameters"] if v != leaving]
        desc = f"{leaving} removed"
    else:
        names = [v for v in s["parameters"] if v != leaving] + [joining]
        desc = f"{leaving} -> {joining}"
    yield Instance(f"{desc} (point and complements moved with it)", mutated(
        b.cert, lambda c: _resubset(c, names)),
        claims=("subset laws supported", "subset rank", "subset count"))


def _smaller_subset(c: dict, names: list[str]) -> None:
    """The subset ``names`` with a claim made to fit it: the laws outside it
    dropped, their rank and the count (sandwich or bounds) written from what
    is left, the rank kept (at most the size)."""
    _resubset(c, names)
    section = c["subset"]
    variables = c["model"]["variables"]
    keep = [k for k, h in enumerate(section["polynomials"])
            if _law_support(h, variables) <= set(names)]
    section["polynomials"] = [section["polynomials"][k] for k in keep]
    section["labels"] = [section["labels"][k] for k in keep]
    M, size = len(keep), len(names)
    K = min(section["rank"], size)
    section.update(laws_rank=M, rank=K)
    if section["proof"] == "sandwich" and M == size - K:
        section.update(laws=M, bounds=[M, M])
    else:
        section.update(laws=None, bounds=[M, size - K], proof="bounds only")


@kind("subset.parameters: one dropped, claim fitted", "subset", "subset.parameters",
      MAY_PASS)
def _(b):
    s = _sub(b)
    if s is None:
        return
    for k in sorted({0, len(s["parameters"]) - 1}):
        names = [v for j, v in enumerate(s["parameters"]) if j != k]
        if names:
            yield Instance(f"{s['parameters'][k]} dropped (moved to the complements, laws on "
                           f"it dropped, claim fitted)",
                           mutated(b.cert, lambda c, names=names: _smaller_subset(c, names)),
                           expect=MAYBE)


@kind("subset.parameters malformed", "subset", "subset.parameters", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is None:
        return
    names = s["parameters"]
    yield Instance("one name dropped, point left", _sub_edit(b, "parameters", names[1:]),
                   expect=UNREADABLE)
    yield Instance("a name that is no parameter", _sub_edit(b, "parameters",
                                                            ["zz"] + names[1:]),
                   expect=UNREADABLE)
    if len(names) > 1:
        yield Instance("first two swapped", _sub_edit(
            b, "parameters", [names[1], names[0]] + names[2:]), expect=UNREADABLE)
        yield Instance("a name twice", _sub_edit(b, "parameters", [names[0]] + names[:-1]),
                       expect=UNREADABLE)
    yield Instance("empty", _sub_edit(b, "parameters", []), expect=UNREADABLE)


@kind("subset.point changed", "subset", "subset.point", MAY_PASS)
def _(b):
    s = _sub(b)
    if s is None:
        return
    x = int(s["point"][0])
    for new in (x + 1, 0, 10**300 + 7):
        yield Instance(f"point[0] -> {str(new)[:12]}", _sub_edit(
            b, "point", [str(new)] + s["point"][1:]), expect=MAYBE)
    yield Instance("point -> all zeros", _sub_edit(b, "point", ["0"] * len(s["point"])),
                   expect=MAYBE)


@kind("subset.point malformed", "subset", "subset.point", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None:
        yield Instance("one coordinate short", _sub_edit(b, "point", s["point"][1:]),
                       expect=UNREADABLE)
        yield Instance("a JSON integer", _sub_edit(b, "point", [1] + s["point"][1:]),
                       expect=UNREADABLE)


@kind("subset.complements changed", "subset", "subset.complements", MAY_PASS)
def _(b):
    s = _sub(b)
    if s is None:
        return
    comps = s["complements"]
    if not comps or not comps[0]:
        return
    yield Instance("complement 0 duplicated", _sub_edit(b, "complements", comps + comps[:1]),
                   expect=MAYBE)
    first = [str(int(comps[0][0]) + 1)] + comps[0][1:]
    yield Instance("complements[0][0] + 1", _sub_edit(b, "complements", [first] + comps[1:]),
                   expect=MAYBE)
    if len(comps) > 1:
        yield Instance("last complement dropped", _sub_edit(b, "complements", comps[:-1]),
                       expect=MAYBE)


@kind("subset.complements removed", "subset", "subset.complements", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None and s["rank"] > 0:
        yield Instance("complements -> []", _sub_edit(b, "complements", []),
                       claims=("subset rank",))


@kind("subset.complements malformed", "subset", "subset.complements", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None and s["complements"] and s["complements"][0]:
        comp = s["complements"][0]
        yield Instance("a complement one short", _sub_edit(
            b, "complements", [comp[1:]] + s["complements"][1:]), expect=UNREADABLE)
        yield Instance("1001 complements", _sub_edit(b, "complements", [comp] * 1001),
                       expect=UNREADABLE)


@kind("subset.words changed", "subset", "subset.words", MAY_PASS)
def _(b):
    s = _sub(b)
    if s is None:
        return
    words = s["words"]
    for k in sorted({0, len(words) - 1}):
        yield Instance(f"word {words[k]} dropped", _sub_edit(
            b, "words", words[:k] + words[k + 1:]), expect=MAYBE)
    extra = [w for w in b.cert["lie"]["basis"] if w not in words]
    if extra:
        yield Instance(f"basis word {extra[0]} added", _sub_edit(b, "words", words + extra[:1]),
                       expect=MAYBE)


@kind("subset.words removed", "subset", "subset.words", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None and s["rank"] > 0:
        yield Instance("words -> []", _sub_edit(b, "words", []), claims=("subset rank",))


@kind("subset.words malformed", "subset", "subset.words", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None:
        for bad in (10**6, -1, "0"):
            yield Instance(f"word id {bad!r} added", _sub_edit(b, "words", s["words"] + [bad]),
                           expect=UNREADABLE)


@kind("subset.rank +-1", "subset", "subset.rank", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None:
        for delta in (1, -1):
            value = s["rank"] + delta
            yield Instance(f"rank {s['rank']} -> {value}", _sub_edit(b, "rank", value),
                           expect=UNREADABLE if value < 0 else REJECT,
                           claims=("subset rank",))


@kind("subset.polynomials changed", "subset", "subset.polynomials", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is None:
        return
    polys = s["polynomials"]
    for k in sorted({0, len(polys) - 1}) if polys else ():
        def coeff(c, k=k):
            term = c["subset"]["polynomials"][k][0]
            term[1] = bump(term[1])
        yield Instance(f"subset law {k} coefficient (p+1)/q", mutated(b.cert, coeff),
                       claims=("subset law identities",))

        def dropped(c, k=k):
            del c["subset"]["polynomials"][k], c["subset"]["labels"][k]
        yield Instance(f"subset law {k} dropped", mutated(b.cert, dropped),
                       claims=("subset laws independent",))

        def twice(c, k=k):
            c["subset"]["polynomials"].append(copy.deepcopy(polys[k]))
            c["subset"]["labels"].append(s["labels"][k])
        yield Instance(f"subset law {k} twice", mutated(b.cert, twice),
                       claims=("subset laws independent",))
    variables = b.model["variables"]
    outside = [law for law in b.cert["laws"]["polynomials"]
               if not _law_support(law, variables) <= set(s["parameters"])]
    if outside:
        def foreign(c):
            c["subset"]["polynomials"].append(copy.deepcopy(outside[0]))
            c["subset"]["labels"].append("a law of the model")
            c["subset"]["laws_rank"] += 1
        yield Instance("a law involving other parameters added, laws_rank adjusted",
                       mutated(b.cert, foreign), claims=("subset laws supported",))
    yield Instance("a coordinate added as a law, laws_rank adjusted", mutated(
        b.cert, lambda c: (c["subset"]["polynomials"].append([[[[variables.index(
            s["parameters"][0]), 1]], "1/1"]]), c["subset"]["labels"].append("fake"),
            c["subset"].__setitem__("laws_rank", s["laws_rank"] + 1))),
        claims=("subset law identities",))


@kind("subset.labels changed", "subset", "subset.labels", MAY_PASS)
def _(b):
    # labels are descriptions; nothing is claimed by them
    s = _sub(b)
    if s is not None and s["labels"]:
        yield Instance("label 0 reworded", _sub_edit(b, "labels", ["another law"]
                                                     + s["labels"][1:]), expect=MAYBE)


@kind("subset.labels malformed", "subset", "subset.labels", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None:
        yield Instance("one label more", _sub_edit(b, "labels", s["labels"] + ["x"]),
                       expect=UNREADABLE)
        if s["labels"]:
            yield Instance("a label that is no string", _sub_edit(b, "labels",
                                                                  [1] + s["labels"][1:]),
                           expect=UNREADABLE)


@kind("subset.laws_rank +-1", "subset", "subset.laws_rank", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None:
        for delta in (1, -1):
            value = s["laws_rank"] + delta
            yield Instance(f"laws_rank {s['laws_rank']} -> {value}",
                           _sub_edit(b, "laws_rank", value),
                           expect=UNREADABLE if value < 0 else REJECT,
                           claims=("subset laws independent",))


@kind("subset.laws changed", "subset", "subset.laws", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is None:
        return
    laws = s["laws"]
    if laws is None:
        lo, hi = s["bounds"]
        for value in sorted({lo, hi}):
            yield Instance(f"laws null -> {value}", _sub_edit(b, "laws", value),
                           claims=("subset count",))
        return
    for value in (laws + 1, laws - 1, None):
        if value is not None and value < 0:
            yield Instance(f"laws {laws} -> {value}", _sub_edit(b, "laws", value),
                           expect=UNREADABLE)
        else:
            yield Instance(f"laws {laws} -> {value}", _sub_edit(b, "laws", value),
                           claims=("subset count",))


@kind("subset.laws and bounds moved together", "subset", "subset.laws, subset.bounds",
      MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is not None and s["laws"] is not None:
        for value in (s["laws"] + 1, s["laws"] - 1):
            if value >= 0:
                def change(c, value=value):
                    c["subset"]["laws"] = value
                    c["subset"]["bounds"] = [value, value]
                yield Instance(f"laws and bounds -> {value}", mutated(b.cert, change),
                               claims=("subset count",))


@kind("subset.bounds changed", "subset", "subset.bounds", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is None:
        return
    lo, hi = s["bounds"]
    seen = {(lo, hi)}
    for new in ((lo - 1, hi), (lo, hi + 1), (lo + 1, hi + 1), (hi, lo) if hi != lo else
                (lo + 1, lo)):
        if new not in seen:
            seen.add(new)
            yield Instance(f"bounds -> {list(new)}", _sub_edit(b, "bounds", list(new)),
                           claims=("subset count",))
    yield Instance("bounds of three numbers", _sub_edit(b, "bounds", [lo, hi, hi]),
                   expect=UNREADABLE)


@kind("subset.proof changed", "subset", "subset.proof", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is None:
        return
    for proof in ("sandwich", "closure", "bounds only", "magic", ""):
        if proof != s["proof"]:
            yield Instance(f"proof {s['proof']!r} -> {proof!r}", _sub_edit(b, "proof", proof),
                           claims=("subset count",))


@kind("subset weakened to bounds only", "subset", "subset.proof", MAY_PASS)
def _(b):
    s = _sub(b)
    if s is not None and s["proof"] != "bounds only":
        size = len(s["parameters"])

        def change(c):
            c["subset"].update(laws=None, proof="bounds only",
                               bounds=[s["laws_rank"], size - s["rank"]])
        yield Instance(f"bounds only [{s['laws_rank']}, {size - s['rank']}]",
                       mutated(b.cert, change), expect=MAYBE)


@kind("subset section against the version", "subset", "subset, version", MUST_REJECT)
def _(b):
    s = _sub(b)
    if s is None:
        return
    yield Instance("version 3 -> 2, subset kept", mutated(b.cert, put(("version",), 2)),
                   expect=UNREADABLE)
    yield Instance("subset removed, version 3 kept", mutated(b.cert, drop(("subset",))),
                   expect=UNREADABLE)
    yield Instance("an unknown key in the subset", _sub_edit(b, "seed", 1), expect=UNREADABLE)
    yield Instance("subset.rank removed", mutated(b.cert, drop(("subset", "rank"))),
                   expect=UNREADABLE)


@kind("subset section removed with version 2", "subset", "subset", MAY_PASS)
def _(b):
    if _sub(b) is not None:
        yield Instance("subset removed, version 2", mutated(b.cert, drop(("subset",)),
                                                            put(("version",), 2)),
                       expect=MAYBE)


@kind("subset added to a version 2 file", "subset", "subset", MUST_REJECT)
def _(b):
    # a subset that is every parameter, claiming the count's own number of laws
    # with a word rank the file's words cannot reach
    if _sub(b) is not None or b.cert["claim"]["laws"] is None:
        return
    variables = b.model["variables"]

    def add(c):
        c["version"] = 3
        c["subset"] = {"parameters": list(variables), "point": list(c["lie"]["point"]),
                       "complements": [[]], "words": list(c["lie"]["basis"]),
                       "rank": b.D, "polynomials": [], "labels": [], "laws_rank": 0,
                       "laws": 0, "bounds": [0, 0], "proof": "sandwich"}
    if b.cert["claim"]["laws"] > 0:
        yield Instance("a subset of every parameter claiming no law", mutated(b.cert, add),
                       claims=("subset rank", "subset count"))


# -- claim -------------------------------------------------------------------------------

def _int_shift(b: Base, path: tuple, claims: tuple[str, ...]) -> Iterator[Instance]:
    value = at(b.cert, path)
    if value is None:
        return
    for delta in (1, -1):
        new = value + delta
        yield Instance(f"{'.'.join(map(str, path))} {value} -> {new}",
                       mutated(b.cert, put(path, new)),
                       expect=UNREADABLE if new < 0 else REJECT, claims=claims)


@kind("claim.parameters +-1", "claim", "claim.parameters", MUST_REJECT)
def _(b):
    yield from _int_shift(b, ("claim", "parameters"), ("parameters",))


@kind("claim.laws +-1", "claim", "claim.laws", MUST_REJECT)
def _(b):
    yield from _int_shift(b, ("claim", "laws"), ("count",))


@kind("claim.lie_dimension +-1", "claim", "claim.lie_dimension", MUST_REJECT)
def _(b):
    yield from _int_shift(b, ("claim", "lie_dimension"), ("count",))


@kind("claim laws, lie_dimension and bounds moved together", "claim",
      "claim.laws, lie_dimension, bounds", MUST_REJECT)
def _(b):
    claim = b.cert["claim"]
    if claim["laws"] is not None:
        for delta in (1, -1):
            laws = claim["laws"] + delta
            if laws >= 0:
                yield Instance(f"a consistent claim of {laws} laws", mutated(
                    b.cert, put(("claim", "laws"), laws),
                    put(("claim", "lie_dimension"), b.D - laws),
                    put(("claim", "bounds"), [laws, laws])), claims=("count",))


@kind("claim.bounds changed", "claim", "claim.bounds", MUST_REJECT)
def _(b):
    lo, hi = b.cert["claim"]["bounds"]
    seen = {(lo, hi)}
    for new in ((lo - 1, hi), (lo, hi + 1), (0, b.D), (hi + 1, lo + 1)):
        if new not in seen:
            seen.add(new)
            yield Instance(f"bounds -> {list(new)}",
                           mutated(b.cert, put(("claim", "bounds"), list(new))),
                           claims=("count",))


@kind("claim.status changed", "claim", "claim.status", MUST_REJECT)
def _(b):
    for status in ("bounds", "uncertified", ""):
        yield Instance(f"status -> {status!r}", mutated(b.cert, put(("claim", "status"),
                                                                    status)),
                       claims=("count",))


@kind("claim.proof changed", "claim", "claim.proof", MUST_REJECT)
def _(b):
    proof = b.cert["claim"]["proof"]
    for other in ("sandwich", "closure", "bounds only", "magic"):
        if other != proof:
            yield Instance(f"proof {proof!r} -> {other!r}",
                           mutated(b.cert, put(("claim", "proof"), other)),
                           claims=("count", "closure"))


@kind("claim weakened to bounds only", "claim", "claim.proof", MAY_PASS)
def _(b):
    M = len(b.cert["laws"]["polynomials"])
    K = len(b.cert["lie"]["basis"])

    def change(c):
        c["claim"].update(laws=None, lie_dimension=None, bounds=[M, b.D - K],
                          status="bounds", proof="bounds only")
        c["closure"] = None
    yield Instance(f"bounds only [{M}, {b.D - K}]", mutated(b.cert, change), expect=MAYBE)


@kind("claim malformed", "claim", "claim", MUST_REJECT)
def _(b):
    yield Instance("claim.laws -> '3'", mutated(b.cert, put(("claim", "laws"), "3")),
                   expect=UNREADABLE)
    yield Instance("claim.parameters -> 2.0", mutated(b.cert, put(("claim", "parameters"),
                                                                  2.0)),
                   expect=UNREADABLE)
    yield Instance("claim.bounds -> [1]", mutated(b.cert, put(("claim", "bounds"), [1])),
                   expect=UNREADABLE)
    yield Instance("an unknown key in the claim", mutated(b.cert, put(("claim", "exact"),
                                                                      True)),
                   expect=UNREADABLE)


# -- lie and laws, on every section kind -------------------------------------------------

@kind("lie.rank +-1", "lie", "lie.rank", MUST_REJECT)
def _(b):
    yield from _int_shift(b, ("lie", "rank"), ("Lie rank",))


@kind("lie.basis: a word dropped, rank adjusted", "lie", "lie.basis", MUST_REJECT)
def _(b):
    basis = b.cert["lie"]["basis"]
    for k in sorted({0, len(basis) - 1}):
        def change(c, k=k):
            c["lie"]["basis"].pop(k)
            c["lie"]["rank"] -= 1
        yield Instance(f"basis[{k}] = {basis[k]} dropped", mutated(b.cert, change),
                       claims=("count", "closure"))


@kind("lie.basis: a word repeated", "lie", "lie.basis", MUST_REJECT)
def _(b):
    basis = b.cert["lie"]["basis"]
    if len(basis) > 1:
        yield Instance(f"basis[-1] -> basis[0] = {basis[0]}", mutated(
            b.cert, put(("lie", "basis", len(basis) - 1), basis[0])), claims=("Lie rank",))


@kind("lie.point and prime changed", "lie", "lie.point, lie.prime", MAY_PASS)
def _(b):
    point = b.cert["lie"]["point"]
    yield Instance("point[0] + 1", mutated(b.cert, put(("lie", "point", 0),
                                                       str(int(point[0]) + 1))), expect=MAYBE)
    yield Instance("point -> all ones", mutated(b.cert, put(("lie", "point"),
                                                            ["1"] * len(point))),
                   expect=MAYBE)
    yield Instance("prime -> 101", mutated(b.cert, put(("lie", "prime"), "101")),
                   expect=MAYBE)


@kind("lie.words: a right operand changed", "lie", "lie.words", MAY_PASS)
def _(b):
    words = b.cert["lie"]["words"]
    if words:
        node, left, right = words[-1]
        other = 0 if right != 0 else 1
        yield Instance(f"word {node} = [{left}, {right}] -> [{left}, {other}]", mutated(
            b.cert, put(("lie", "words", len(words) - 1, 2), other)), expect=MAYBE)


@kind("laws.rank +-1", "laws", "laws.rank", MUST_REJECT)
def _(b):
    yield from _int_shift(b, ("laws", "rank"), ("laws independent",))


@kind("laws.polynomials changed", "laws", "laws.polynomials", MUST_REJECT)
def _(b):
    polys = b.cert["laws"]["polynomials"]
    if polys:
        def coeff(c):
            term = c["laws"]["polynomials"][0][0]
            term[1] = bump(term[1])
        yield Instance("law 0 coefficient (p+1)/q", mutated(b.cert, coeff),
                       claims=("law identities",))

        def dropped(c):
            del c["laws"]["polynomials"][0], c["laws"]["labels"][0]
        yield Instance("law 0 dropped", mutated(b.cert, dropped),
                       claims=("laws independent",))

    def fake(c):
        c["laws"]["polynomials"].append([[[[b.D - 1, 1]], "1/1"]])
        c["laws"]["labels"].append("fake")
        c["laws"]["rank"] += 1
    yield Instance(f"the coordinate x{b.D - 1} added as a law, rank adjusted",
                   mutated(b.cert, fake), claims=("law identities",))


@kind("laws.labels reworded", "laws", "laws.labels", MAY_PASS)
def _(b):
    labels = b.cert["laws"]["labels"]
    if labels:
        yield Instance("label 0 reworded", mutated(b.cert, put(("laws", "labels", 0),
                                                               "another law")), expect=MAYBE)


# -- json: keys written twice ------------------------------------------------------------

_SENTINEL = "@@DUPLICATE@@"


def with_duplicate(cert: dict, path: tuple, first: object) -> str:
    """The certificate's text with the key at ``path`` written twice: first
    with ``first``, then with its true value (Python's json keeps the last;
    a person or grep reads the first)."""
    value = at(cert, path)
    marked = mutated(cert, put(path, _SENTINEL))
    text = certformat.dumps(marked)
    line = next(x for x in text.split("\n") if f'"{_SENTINEL}"' in x)
    indent = line[:len(line) - len(line.lstrip())]
    key = json.dumps(path[-1])
    comma = "," if line.endswith(",") else ""
    twice = (f"{indent}{key}: {json.dumps(first, sort_keys=True)},\n"
             f"{indent}{key}: {json.dumps(value, sort_keys=True)}{comma}")
    assert json.loads(text.replace(line, twice)) == cert  # the last value is the true one
    return text.replace(line, twice)


@kind("a key written twice", "json", "duplicate keys", MUST_REJECT)
def _(b):
    claim = b.cert["claim"]
    if claim["laws"] is not None:
        yield Instance(f'claim: "laws": {claim["laws"] + 2} then "laws": {claim["laws"]}',
                       text=with_duplicate(b.cert, ("claim", "laws"), claim["laws"] + 2),
                       expect=UNREADABLE)
    other = copy.deepcopy(b.model)
    other["name"] = "another model"
    yield Instance('two "model" keys (another model first)',
                   text=with_duplicate(b.cert, ("model",), other), expect=UNREADABLE)
    if "flow" in b.model and b.model["flow"]["kind"] == "momentum":
        yield Instance('flow: "tau": "1/1" then the true tau',
                       text=with_duplicate(b.cert, ("model", "flow", "tau"), "1/1"),
                       expect=UNREADABLE)
    if b.subset is not None and b.subset["laws"] is not None:
        yield Instance(f'subset: "laws": {b.subset["laws"] + 1} then the true count',
                       text=with_duplicate(b.cert, ("subset", "laws"), b.subset["laws"] + 1),
                       expect=UNREADABLE)
    if b.generators["kind"] == "probes":
        yield Instance('lie.generators: "count": 1 then the true count',
                       text=with_duplicate(b.cert, ("lie", "generators", "count"), 1),
                       expect=UNREADABLE)
    if _mc(b):
        yield Instance('laws.identities: "degree_bound": 1 then the true bound',
                       text=with_duplicate(b.cert, ("laws", "identities", "degree_bound"), 1),
                       expect=UNREADABLE)


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
    valid: bool = False  # verified, and the oracle confirms the file


def run_instance(kind_name: str, base: Base, inst: Instance) -> Outcome:
    text = inst.text if inst.text is not None else certformat.dumps(inst.cert)
    try:
        report = verify_text(text, check_fingerprint=False,
                             rng=seeded(kind_name, base.name, inst.where))
    except Exception as err:  # noqa: BLE001 - the verifier must never raise
        return Outcome(kind_name, base.name, inst, "raised", (), "",
                       f"verify_text raised {type(err).__name__}: {err}")
    failed = tuple(c.claim for c in report.checks if not c.passed)
    out = Outcome(kind_name, base.name, inst, report.status, failed, report.summary)
    if report.status not in ("verified", "false", "unreadable"):
        out.error = f"unknown status {report.status!r}"
    elif inst.expect == UNREADABLE:
        if report.status != "unreadable" or not report.summary:
            out.error = f"expected unreadable, got {report.status}: {report.summary}"
    elif inst.expect == REFUSED:
        if report.status == "verified":
            out.error = f"expected a rejection, got verified: {report.summary}"
        elif report.status == "false" and not set(failed) & set(inst.claims):
            out.error = f"failed checks {failed} name none of {inst.claims}"
    elif inst.expect == REJECT:
        if report.status != "false":
            out.error = f"expected a false claim, got {report.status}: {report.summary}"
        elif not set(failed) & set(inst.claims):
            out.error = f"failed checks {failed} name none of {inst.claims}"
    elif report.status == "verified":
        why = truth(inst.cert)
        if why is not None:
            out.error = f"VERIFIED WHILE FALSE ({why})"
        elif inst.report_check is not None and inst.report_check(report) is not None:
            out.error = inst.report_check(report)
        else:
            out.valid = True
    return out


_RESULTS: dict[str, list[Outcome]] = {}


def run_kind(bases: dict[str, Base], kind_name: str) -> list[Outcome]:
    if kind_name not in _RESULTS:
        fn = KINDS[kind_name].fn
        _RESULTS[kind_name] = [run_instance(kind_name, base, inst)
                               for base in bases.values() for inst in fn(base)]
    return _RESULTS[kind_name]


def _kind_params():
    for name, k in KINDS.items():
        marks = [pytest.mark.xfail(reason=k.hole, strict=True)] if k.hole else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("kind_name", list(_kind_params()))
def test_mutation_kind(bases, kind_name):
    k = KINDS[kind_name]
    outcomes = run_kind(bases, kind_name)
    assert outcomes, f"{kind_name}: no instance applies to any base"
    bad = [f"{o.base} / {o.inst.where}: {o.error}" for o in outcomes if o.error]
    assert not bad, "\n".join(bad)
    if k.cls == MUST_REJECT:
        assert all(o.status in ("false", "unreadable") for o in outcomes)


def test_every_section_kind_has_a_mutation_per_field(bases):
    """Each section kind is mutated, and each kind of mutation applies somewhere."""
    by_section: dict[str, set[str]] = {}
    for k in KINDS.values():
        by_section.setdefault(k.section, set()).add(k.field)
    expected = {
        "program": {"linear.n_in", "linear.n_out", "linear.bias", "relu", "model.name",
                    "model.variables", "model.program"},
        "conv": {"conv.c_in, conv.c_out", "conv.kernel", "conv.bias", "conv.stride",
                 "conv.size"},
        "residual": {"residual.block"},
        "attention": {"attention.kind", "attention.tokens"},
        "probes": {"generators.count", "generators.family", "generators.kind"},
        "identities": {"identities.mode", "identities.rounds", "identities.degree_bound",
                       "identities.height_bits"},
        "flow": {"flow.kind", "flow.tau", "flow.metric", "base.name", "base.variables",
                 "base.program", "base.phi", "model.name", "model.variables",
                 "model.fields"},
        "closure": {"closure.mode, passed, rounds, primes, identities",
                    "closure.error_bound, degree_bound"},
        "subset": {"subset.parameters", "subset.point", "subset.complements",
                   "subset.words", "subset.rank", "subset.polynomials", "subset.labels",
                   "subset.laws_rank", "subset.laws", "subset.bounds", "subset.proof"},
        "claim": {"claim.parameters", "claim.laws", "claim.lie_dimension", "claim.bounds",
                  "claim.status", "claim.proof"},
    }
    for section, fields in expected.items():
        assert fields <= by_section.get(section, set()), (section, fields)
    for name, k in KINDS.items():
        assert any(True for b in bases.values() for _ in k.fn(b)), name


def test_mutation_summary(bases):
    """Every kind on every base; prints the table (``pytest -s``). Kinds that
    are known holes (xfail) are left out of the totals."""
    rows = []
    for name, k in KINDS.items():
        outcomes = run_kind(bases, name)
        rejected = sum(o.status in ("false", "unreadable") for o in outcomes)
        unreadable = sum(o.status == "unreadable" for o in outcomes)
        valid = sum(o.valid for o in outcomes)
        errors = sum(bool(o.error) for o in outcomes)
        rows.append((k.section, name + (" [hole]" if k.hole else ""), k.cls,
                     len({o.base for o in outcomes}), len(outcomes), rejected, unreadable,
                     valid, errors))
    head = ("section", "kind", "class", "bases", "instances", "rejected", "(unreadable)",
            "passed-as-valid", "errors")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print()
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths)))
    for r in rows:
        print(line.format(*r))
    sound = [r for r, k in zip(rows, KINDS.values()) if not k.hole]
    total = [sum(r[i] for r in sound) for i in (4, 5, 6, 7, 8)]
    print(line.format("TOTAL", "", "", "", *total))
    assert all(r[4] == r[5] for r in sound if r[2] == MUST_REJECT)
    assert all(r[4] - r[5] == r[7] for r in sound if r[2] == MAY_PASS)
    assert not total[4], "some instance broke its expectation (see test_mutation_kind)"
