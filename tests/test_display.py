"""Rich display in Jupyter: ``_repr_markdown_`` of every result class.

IPython is not needed: the methods are called directly. Each test builds
real objects (sandwich, closure, bounds-only counts; law searches; growth;
certificates read back from files; verifier reports; a sweep) and checks
the content against values computed independently here (the numbers from
the objects' own attributes, the LaTeX of a law from ``sympy.latex``), the
caps on how many and how long laws are shown, the escaping of Markdown's
special characters, and that every ``$`` opens or closes math.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
import sympy

import exactcl
from exactcl import from_fields, from_phi, linear, product
from exactcl.certificates import view as certview
from exactcl.certificates.view import Certificate
from exactcl.engine.display import (
    MAX_LAW_CHARS,
    MAX_LAW_TERMS,
    MAX_LAWS_SHOWN,
    law_items,
    markdown_escape,
)
from exactcl.errors import CertificateFormatError, InputError
from exactcl.kernel import certformat
from exactcl.kernel.brackets import format_probability
from exactcl.kernel.rings import Ring
from exactcl.kernel.verifier import verify, verify_certificate, verify_text
from exactcl.workflows.grid import Case
from exactcl.workflows.sweep import SweepResult, sweep
from exactcl.workflows.tables import markdown_table

x, y, z = sympy.symbols("x y z")
t1, t2, t3 = sympy.symbols("t1 t2 t3")

MATH = re.compile(r"(?<!\\)\$([^$]*)(?<!\\)\$")


def single_field():
    return from_fields([[y * z, x**2 + z, x]], [x, y, z])


def math_spans(md: str) -> list[str]:
    """The contents of the inline math of a Markdown text, after checking
    that its unescaped ``$`` are balanced and that no math is empty."""
    assert len(re.findall(r"(?<!\\)\$", md)) % 2 == 0, md
    spans = MATH.findall(md)
    assert all(s.strip() for s in spans), md
    return spans


def numbered_items(md: str) -> list[str]:
    return [line for line in md.splitlines() if re.match(r"\d+\. \$", line)]


def proof_line(md: str) -> str:
    return next(line for line in md.splitlines()
                if line.startswith(("- proved by", "- bounds only")))


# -- the objects ------------------------------------------------------------------

@pytest.fixture(scope="module")
def sandwich():
    return exactcl.count(linear([2, 2, 2]))


@pytest.fixture(scope="module")
def closure_exact():
    return exactcl.count(single_field())


@pytest.fixture(scope="module")
def closure_monte_carlo():
    return exactcl.count(single_field(), closure="monte-carlo")


@pytest.fixture(scope="module")
def bounds_only():
    # growth stopped at depth 0 misses [X2, X4]: the generators alone do not close up
    return exactcl.count(linear([2, 2, 2]), max_depth=0)


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """(result, certificate file) for each kind of proof."""
    folder = tmp_path_factory.mktemp("certificates")
    out = {}
    for name, model, options in [
            ("sandwich", linear([2, 2, 2]), {}),
            ("closure", single_field(), {}),
            ("monte-carlo", single_field(), {"closure": "monte-carlo"}),
            ("bounds", linear([2, 2, 2]), {"max_depth": 0})]:
        path = folder / f"{name}_cert.json"
        _, result = exactcl.certify(model, path, reproducible=True, **options)
        out[name] = (result, path)
    return out


# -- CountResult ------------------------------------------------------------------------

def test_count_sandwich(sandwich):
    md = sandwich._repr_markdown_()
    lines = md.splitlines()
    assert lines[0] == ("**linear:2,2,2**: D = 8, **3** independent conservation laws "
                        "(certified)")
    assert "- bounds: [3, 3]" in lines
    assert r"- $\dim \mathrm{Lie}(W) = 5$" in lines
    assert proof_line(md) == (
        "- proved by sandwich: 3 exhibited laws, each an exact identity, and 5 bracket "
        "words independent at a point, so there are at most 8 - 5 = 3 laws")
    assert "- rank per bracket depth: 4, 5 (depths 0 to 1)" in lines
    assert "Exhibited laws (3):" in lines
    items = numbered_items(md)
    assert len(items) == 3
    for k, (item, law, label) in enumerate(zip(items, sandwich.laws_sympy(),
                                               sandwich.exhibited_labels)):
        assert item == f"{k + 1}. ${sympy.latex(law)}$: {markdown_escape(label)}"
    assert math_spans(md)[1:] == [sympy.latex(e) for e in sandwich.laws_sympy()]


@pytest.mark.parametrize("mode", ["deterministic", "monte-carlo"])
def test_count_closure(mode, closure_exact, closure_monte_carlo):
    r = closure_exact if mode == "deterministic" else closure_monte_carlo
    assert (r.proof, r.closure.mode, r.explicit_laws) == ("closure", mode, 0)
    md = r._repr_markdown_()
    assert md.startswith("**custom**: D = 3, **2** independent conservation laws (certified)")
    assert r"$\dim \mathrm{Lie}(W) = 1$" in md
    proof = proof_line(md)
    assert proof.startswith("- proved by closure: 1 bracket word independent at a point spans "
                            "a distribution closed under bracketing with the generators")
    assert "so dim Lie = 1 and there are 3 - 1 = 2 laws, 0 of them exhibited" in proof
    if mode == "deterministic":
        assert (f"(deterministic: {r.closure.identities} cofactor identities checked exactly "
                "over Q)") in proof
    else:
        bits = format_probability(r.closure.error_bound).removeprefix("2^-")
        assert int(bits) >= 100
        assert (f"(Monte Carlo, {r.closure.rounds} rounds: error probability "
                f"$\\leq 2^{{-{bits}}}$)") in proof
    assert md.endswith("No law exhibited.")
    assert numbered_items(md) == []
    math_spans(md)


def test_count_bounds_only(bounds_only):
    r = bounds_only
    assert (r.laws, r.bounds, r.lie_dimension, r.status) == (None, (3, 4), None, "bounds")
    md = r._repr_markdown_()
    assert md.splitlines()[0] == ("**linear:2,2,2**: D = 8, between 3 and 4 independent "
                                  "conservation laws (bounds)")
    assert "- bounds: [3, 4]" in md
    assert r"$\dim \mathrm{Lie}(W) \geq 4$ (the rank at a point)" in md
    assert proof_line(md).startswith(
        "- bounds only: 3 exhibited laws, each an exact identity, and 4 bracket words "
        "independent at a point; the closure check failed (deterministic: ")
    assert "- rank per bracket depth: 4 (depth 0)" in md
    assert len(numbered_items(md)) == 3
    math_spans(md)


def test_count_caps_the_number_of_laws():
    r = exactcl.count(linear([1, 20, 1]))  # one rescaling law per hidden neuron and more
    assert r.explicit_laws > MAX_LAWS_SHOWN
    md = r._repr_markdown_()
    items = numbered_items(md)
    assert len(items) == MAX_LAWS_SHOWN
    assert items[-1].startswith(f"{MAX_LAWS_SHOWN}. ")
    assert md.endswith(f"... and {r.explicit_laws - MAX_LAWS_SHOWN} more.")
    assert f"Exhibited laws ({r.explicit_laws})" in md
    math_spans(md)


def test_count_cuts_a_long_law():
    r = exactcl.count(linear([20, 1, 20]))  # one law: 40 squares
    md = r._repr_markdown_()
    (item,) = numbered_items(md)
    whole = sympy.latex(r.laws_sympy()[0])
    assert len(whole) > MAX_LAW_CHARS
    tex = math_spans(item)[0]
    assert tex.endswith(r" + \dots") and len(tex) <= MAX_LAW_CHARS + len(r" + \dots")
    shown = int(re.search(r"\((\d+) of 40 terms shown\)", item).group(1))
    assert 1 <= shown < 40 and tex.count("^{2}") == shown
    # the terms shown are the leading ones, as sympy.latex writes them
    assert whole.startswith(tex.removesuffix(r" + \dots"))


def test_count_escapes_the_model_name():
    u, v = sympy.symbols("u v")
    r = exactcl.count(from_phi([u * v**2], [u, v], name="my_net|2*3 $x$"))
    md = r._repr_markdown_()
    assert md.startswith(r"**my\_net\|2\*3 \$x\$**: D = 2, **1** independent")
    math_spans(md)


# -- LawSearch ---------------------------------------------------------------------------

def test_law_search():
    s = exactcl.laws(product(3), 2)
    md = s._repr_markdown_()
    assert md.splitlines()[0] == (
        "**2 polynomial conservation laws** of degree <= 2; 2 functionally independent "
        "(the rank of their gradients at a point)")
    expected = sympy.latex(t1**2 - t3**2)
    assert f"1. ${expected}$" in md.splitlines()
    assert numbered_items(md) == [f"{k + 1}. ${tex}$" for k, tex in enumerate(s.latex())]
    math_spans(md)


def test_law_search_without_laws_and_with_a_lower_bound():
    assert exactcl.laws(product(3), 1)._repr_markdown_() == (
        "**No polynomial conservation law** of degree <= 1.")
    s = exactcl.laws(product(3), 4, homogeneous=True)
    assert (len(s.laws), s.independent) == (3, 2) and s.independence_error > 0
    md = s._repr_markdown_()
    bits = format_probability(s.independence_error).removeprefix("2^-")
    assert md.splitlines()[0] == (
        "**3 polynomial conservation laws** homogeneous of degree 4; 2 functionally "
        "independent (the rank of their gradients at a point: a lower bound, exact unless "
        f"the point is unlucky, probability $\\leq 2^{{-{bits}}}$)")
    assert len(numbered_items(md)) == 3
    math_spans(md)


def test_law_search_caps_the_number_of_laws():
    s = exactcl.laws(product(25), 2)  # t_i^2 - t_25^2
    assert len(s.laws) == 24
    md = s._repr_markdown_()
    assert numbered_items(md) == [f"{k + 1}. ${tex}$"
                                  for k, tex in enumerate(s.latex()[:MAX_LAWS_SHOWN])]
    assert md.endswith(f"... and {24 - MAX_LAWS_SHOWN} more.")
    math_spans(md)


def test_a_huge_law_is_converted_in_part():
    ring = Ring(tuple(f"x{i}" for i in range(MAX_LAW_TERMS + 50)))
    h = sum(g**2 for g in ring.gens)
    (item,) = law_items([h], ring)
    assert item.startswith("1. $") and f" of {MAX_LAW_TERMS + 50} terms shown)" in item
    assert len(math_spans(item)[0]) <= MAX_LAW_CHARS + len(r" + \dots")


# -- Growth --------------------------------------------------------------------------------

def test_growth(sandwich, bounds_only):
    g = sandwich.growth
    md = g._repr_markdown_()
    assert md.splitlines()[0] == (
        f"**Lie algebra growth**: rank 5 at the point (mod p = {g.prime}), a lower bound on "
        r"$\dim \mathrm{Lie}(W)$")
    assert "- rank per bracket depth: 4, 5 (depths 0 to 1)" in md
    assert f"- stopped: reached the target rank {g.target} (D minus the proven laws)" in md
    assert (f"- provenance graph: {g.graph.number_of_nodes()} words, {len(g.basis)} kept"
            in md)
    assert "- stopped: reached the deepest depth allowed" in bounds_only.growth._repr_markdown_()
    math_spans(md)


# -- Certificate -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["sandwich", "closure", "monte-carlo", "bounds"])
def test_certificate_properties(kind, certificates):
    result, path = certificates[kind]
    c = Certificate.load(path)
    assert c.source == str(path)
    assert (c.model, c.parameters, c.laws, c.bounds, c.lie_dimension, c.status, c.proof) == (
        result.model, result.parameters, result.laws, result.bounds, result.lie_dimension,
        result.status, result.proof)
    assert (c.explicit_laws, c.bracket_words) == (result.explicit_laws, result.lie_rank)
    if result.proof != "closure":  # only a closure proof carries its check
        assert (c.closure_mode, c.error_bound) == (None, None)
    else:
        assert (c.closure_mode, c.error_bound) == (result.closure.mode,
                                                   result.closure.error_bound)
    assert set(c.software) == {"exactcl", "python-flint", "python"}
    assert c.software["exactcl"] == exactcl.__version__
    assert c.seconds is None  # reproducible
    assert c.as_dict() == json.loads(path.read_text()) and c.as_dict() is not c.data


@pytest.mark.parametrize("kind", ["sandwich", "closure", "monte-carlo", "bounds"])
def test_certificate_summary_and_markdown(kind, certificates):
    result, path = certificates[kind]
    c = Certificate.load(path)
    text = c.summary()
    lines = text.splitlines()
    assert 3 <= len(lines) <= 6
    claim = (f"exactly {result.laws} independent conservation laws" if result.laws is not None
             else f"between {result.lower} and {result.upper} independent conservation laws")
    # a built-in spec's name is checked by the verifier; a custom one by nothing
    note = "unchecked name" if result.model == "custom" else "name not checked until verified"
    assert lines[0] == (f"Certificate of {result.model} (D = {result.parameters}; {note}): "
                        f"claims {claim}.")
    assert lines[-1] == f"Not verified yet: run exactcl.verify({str(path)!r})."
    # it never says it was verified
    unsaid = text.lower().replace("until verified", "")
    assert unsaid.count("verified") == 1 and "not verified yet" in unsaid
    assert "\n" not in repr(c)
    assert repr(c).startswith(f"Certificate({result.model!r} ({note}), D={result.parameters}, "
                              f"laws=")

    md = c._repr_markdown_()
    head, *_ = md.splitlines()
    assert head == (f"Certificate of **{markdown_escape(result.model)}** "
                    f"(D = {result.parameters}; {note}): claims {claim}.")
    assert md.endswith(f"*Not verified yet: run `exactcl.verify({str(path)!r})`.*")
    assert "\n- Written by exactcl " in md
    if kind == "monte-carlo":
        bits = format_probability(result.closure.error_bound).removeprefix("2^-")
        assert (f"- Closure check: Monte Carlo, 2 rounds, error probability "
                f"$\\leq 2^{{-{bits}}}$; passed.") in md
    elif kind == "closure":
        assert (f"- Closure check: deterministic, {result.closure.identities} cofactor "
                "identities checked exactly over Q; passed.") in md
    elif kind == "bounds":
        assert r"- dim Lie \>= 4; bounds [3, 4]." in md
    else:
        assert "- Proof: sandwich: 3 exhibited laws and 5 bracket words independent at a " \
               "point." in md
    math_spans(md)


def test_certificate_from_dict_and_seconds(tmp_path):
    cert, result = exactcl.certify(product(3))  # not reproducible: the time is in it
    c = Certificate.from_dict(cert)
    assert c.source is None and c.seconds == cert["seconds"] and c.seconds is not None
    assert c.laws == result.laws == 2
    assert c.summary().splitlines()[-1] == ("Not verified yet: run exactcl.verify(path) on its "
                                            "file.")
    assert "*Not verified yet: run `exactcl.verify(path)` on its file.*" in c._repr_markdown_()
    cert["claim"]["laws"] = 99  # the wrapper holds its own copy
    assert c.laws == 2


def test_certificate_escapes_the_model_name():
    cert, _ = exactcl.certify(product(2), reproducible=True)
    cert["model"]["name"] = "a_b|c*d"
    cert["claim"]["laws"] = 1
    c = Certificate.from_dict(cert)
    assert c.laws == 1 and c.summary().startswith("Certificate of a_b|c*d (D = 2; unchecked "
                                                  "name): claims exactly 1 independent "
                                                  "conservation law.")
    assert c._repr_markdown_().startswith(r"Certificate of **a\_b\|c\*d** (D = 2; unchecked "
                                          r"name)")


def test_certificate_refuses_bad_input(tmp_path, monkeypatch):
    with pytest.raises(InputError, match="Argument 'path' must be a path"):
        Certificate.load(3)
    with pytest.raises(InputError, match="Argument 'cert' must be a certificate dict"):
        Certificate.from_dict([1])
    with pytest.raises(CertificateFormatError, match="Cannot read the certificate"):
        Certificate.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CertificateFormatError, match="not valid JSON"):
        Certificate.load(bad)
    cert, _ = exactcl.certify(product(2), reproducible=True)
    good = tmp_path / "good.json"
    exactcl.certify(product(2), good, reproducible=True)
    for change, message in [
            (lambda c: c["claim"].update(laws="two"), "claim.laws must be an integer"),
            (lambda c: c["claim"].update(bounds=[1]), "claim.bounds must be a list of 2"),
            (lambda c: c.update(version=4), "Schema version 4 is not supported"),
            (lambda c: c["claim"].update(parameters=object()), "not JSON data")]:
        broken = json.loads(json.dumps(cert))
        change(broken)
        with pytest.raises(CertificateFormatError, match=message):
            Certificate.from_dict(broken)
    # the file size bound is the verifier's
    size = good.stat().st_size
    monkeypatch.setattr(certformat, "MAX_FILE_BYTES", size - 1)
    monkeypatch.setattr(certview, "MAX_FILE_BYTES", size - 1)
    with pytest.raises(CertificateFormatError, match=f"at most {size - 1} are read"):
        Certificate.load(good)


def test_certificate_is_exported_lazily_and_reads_without_the_producer(certificates):
    assert exactcl.Certificate is Certificate and "Certificate" in exactcl.__all__
    path = certificates["sandwich"][1]
    code = ("import sys, exactcl\n"
            "assert 'exactcl.certificates.view' not in sys.modules\n"
            f"c = exactcl.Certificate.load({str(path)!r})\n"
            "c._repr_markdown_(); c.summary()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sympy', 'networkx')"
            " or m in ('exactcl.engine.growth', 'exactcl.engine.search',"
            " 'exactcl.engine.counting', 'exactcl.models.symbolic',"
            " 'exactcl.certificates.build')))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    assert proc.stdout.strip() == "[]"


# -- Report ----------------------------------------------------------------------------------

def test_report_verified(certificates):
    path = certificates["sandwich"][1]
    report = verify(path)
    md = report._repr_markdown_()
    lines = md.splitlines()
    assert lines[0] == f"**VERIFIED**: {markdown_escape(str(path))}"
    assert "_cert" in str(path) and r"\_cert" in lines[0]
    checks = [line for line in lines if line.startswith("- ")]
    assert len(checks) == len(report.checks)
    assert all(line.startswith(f"- passed: {markdown_escape(c.claim)}: ")
               for line, c in zip(checks, report.checks))
    assert lines[-1] == markdown_escape(report.summary)
    math_spans(md)


def test_report_false_and_unreadable(certificates):
    cert = json.loads(certificates["sandwich"][1].read_text())
    cert["laws"]["polynomials"][0][0][1] = "2/1"
    report = verify_certificate(cert, check_fingerprint=False)
    md = report._repr_markdown_()
    assert md.startswith(r"**FALSE**: \<certificate\>")
    assert "- **FAILED**: law identities: law 0 (" in md
    assert "- passed: Lie rank: " in md
    assert md.endswith("NOT VERIFIED: false claim(s): law identities")
    unreadable = verify_text("{}")._repr_markdown_()
    assert unreadable.startswith(r"**UNREADABLE**: \<certificate\>")
    assert "lacks the key(s)" in unreadable and "\n- " not in unreadable


# -- SweepResult ------------------------------------------------------------------------------

def test_sweep_result(tmp_path):
    cases = [Case(spec="linear:2,2,2"), Case(spec="product:3")]
    result = sweep(cases, tmp_path, jobs=1, progress=False)
    md = result._repr_markdown_()
    summary, table = md.split("\n\n", 1)
    assert summary == markdown_escape(result.summary())
    assert summary.startswith("2 of 2 cases done, 2 certified, 0 failed")
    assert table == markdown_table([(c, result.records[c.id]) for c in cases])
    rows = [line for line in table.splitlines() if line.startswith("| linear")]
    assert rows[0].split(" | ")[1:5] == ["8", "5", "3", "3"]
    # a sweep with a case not run yet
    pending = SweepResult(str(tmp_path), cases, {cases[0].id: result.records[cases[0].id],
                                                 cases[1].id: None})
    assert "| product:3 |  |  |  |  | not run yet |" in pending._repr_markdown_()


# -- every display is a string with balanced math -------------------------------------

def test_every_display_is_a_string(sandwich, closure_exact, closure_monte_carlo, bounds_only,
                                   certificates):
    objects = [sandwich, closure_exact, closure_monte_carlo, bounds_only,
               exactcl.count(from_phi([x * y], [x, y])), exactcl.laws(product(2), 0),
               exactcl.laws(product(3), 3), sandwich.growth, closure_exact.growth,
               verify_text("not json")]
    objects += [Certificate.load(p) for _, p in certificates.values()]
    for obj in objects:
        md = obj._repr_markdown_()
        assert isinstance(md, str) and md.strip()
        math_spans(md)
