"""Models written as programs of layers: the model of a program, its laws
and its count; ``net:`` specs on the command line and in sweeps; bad
programs refused with one line naming the layer."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

import exactcl
from exactcl.kernel.namecheck import check_name, is_builtin_name
from exactcl.kernel.rings import poly_terms
from exactcl.kernel.verifier import verify
from exactcl.layers.program import Linear, ReLU, from_family, net
from exactcl.models.builtin import from_polynomials, from_program, linear, relu
from exactcl.models.specs import parse_spec, spec_parameters
from exactcl.workflows.grid import load_config
from exactcl.workflows.sweep import sweep

from .helpers import assert_refused, run_cli

# -------------------------------------------------- short names are the built-in models

#: (family, widths) whose program must give the builder's model exactly.
FAMILY_CASES = [
    ("linear", (2, 2)), ("linear", (2, 2, 2)), ("linear", (3, 2, 4)), ("linear", (1, 2, 2, 1)),
    ("relu", (2, 3, 2)), ("relu", (3, 4, 2)), ("relu", (1, 2, 2, 1)),
    ("relu-bias", (2, 3, 1)), ("relu-bias", (2, 3, 3, 2)),
]


def _builder(family: str, widths: tuple[int, ...]):
    return linear(widths) if family == "linear" else relu(widths, bias=family == "relu-bias")


def _same_model(a, b) -> None:
    assert (a.name, a.parameters) == (b.name, b.parameters)
    assert [p.str() for p in a.phi] == [p.str() for p in b.phi]
    assert [X.key for X in a.generators] == [X.key for X in b.generators]
    assert [h.str() for h in a.candidates] == [h.str() for h in b.candidates]
    assert a.candidate_labels == b.candidate_labels
    assert a.generator_labels == b.generator_labels


@pytest.mark.parametrize("family, widths", FAMILY_CASES,
                         ids=[f"{f}:{','.join(map(str, w))}" for f, w in FAMILY_CASES])
def test_the_program_of_a_short_name_is_the_built_in_model(family, widths):
    prog = from_family(family, widths)
    assert prog.family == family
    _same_model(from_program(prog), _builder(family, widths))


# -------------------------------------------------- programs with no short name

#: Programs no short name gives: ReLUs in some places only, biases anywhere.
GENERIC = {
    "relu-then-linear": net(Linear(2, 3), ReLU(), Linear(3, 2), Linear(2, 2)),
    "biased-2-layer": net(Linear(2, 3, bias=True), Linear(3, 2, bias=True)),
    "biased-3-layer": net(Linear(2, 2, bias=True), Linear(2, 2, bias=True),
                          Linear(2, 1, bias=True)),
    "biased-relu": net(Linear(2, 3, bias=True), ReLU(), Linear(3, 2, bias=True), ReLU(),
                       Linear(2, 1, bias=True)),
    "linear-then-relu": net(Linear(1, 2), Linear(2, 2, bias=True), ReLU(), Linear(2, 1)),
    "one-biased-layer": net(Linear(3, 2, bias=True)),
}


def test_generic_programs_have_no_short_name():
    for prog in GENERIC.values():
        assert prog.family is None and prog.name == prog.spec


def test_a_generic_program_counts_as_its_expanded_phi():
    prog = GENERIC["relu-then-linear"]
    model = from_program(prog)
    assert not model.expanded
    assert (model.name, model.D, model.n_generators) == (prog.spec, 16, 12)
    r = exactcl.count(model)
    # an independent construction from the same polynomials: the gradients
    # and the law search (no candidates) are its own
    other = exactcl.count(from_polynomials(model.ring, model.phi))
    assert (r.laws, r.proof, r.rejected) == (6, "sandwich", ())
    assert (other.laws, other.lie_dimension) == (r.laws, r.lie_dimension)


def test_the_expanded_phi_is_the_evaluators():
    # phi of net(Linear(1, 2), ReLU(), Linear(2, 1), Linear(1, 1)) by hand
    model = from_program(net(Linear(1, 2), ReLU(), Linear(2, 1), Linear(1, 1)))
    assert [p.str() for p in model.phi] == ["W1_0_0*W2_0_0*W3_0_0", "W1_1_0*W2_0_1*W3_0_0"]
    assert model.generator_labels == ("∇φ1, φ1 = paths x0→0→y0", "∇φ2, φ2 = paths x0→1→y0")


@pytest.mark.parametrize("engine", ["expanded", "program"])
@pytest.mark.parametrize("key", sorted(GENERIC))
def test_every_candidate_law_of_a_generic_program_is_conserved(key, engine):
    model = from_program(GENERIC[key])
    r = exactcl.count(model, engine=engine)
    assert r.rejected == ()
    assert r.status == "certified" and len(r.exhibited) == len(model.candidates) == r.laws
    other = exactcl.count(from_polynomials(model.ring, model.phi))
    assert other.laws == r.laws


@pytest.mark.parametrize("key", sorted(GENERIC))
def test_the_sparse_terms_of_the_candidates_are_the_candidates(key):
    model = from_program(GENERIC[key])
    for k, h in enumerate(model.candidates):
        kept = sorted((mono, Fraction(c)) for mono, c in model.candidate_terms(k))
        assert kept == sorted(poly_terms(h)), model.candidate_labels[k]


def test_count_takes_a_program():
    prog = GENERIC["biased-relu"]
    assert exactcl.count(prog).laws == exactcl.count(from_program(prog)).laws == 5


def test_candidate_labels_name_the_layers_and_the_biases():
    model = from_program(GENERIC["biased-2-layer"])
    assert model.candidate_labels[:2] == ("(W1 W1^T + b1 b1^T - W2^T W2)[0,0]",
                                          "(W1 W1^T + b1 b1^T - W2^T W2)[0,1]")
    model = from_program(GENERIC["biased-relu"])
    assert model.candidate_labels == tuple(
        [f"neuron {j} of hidden layer 1" for j in range(3)]
        + [f"neuron {j} of hidden layer 2" for j in range(2)])
    assert str(model.candidates[0]) == "W1_0_0^2 + W1_0_1^2 - W2_0_0^2 - W2_1_0^2 + b1_0^2"


def test_a_generic_program_too_large_is_refused_before_it_is_expanded():
    model = from_program(net(Linear(8, 8), ReLU(), Linear(8, 8), Linear(8, 8)), max_memory=10**5)
    with pytest.raises(exactcl.ResourceError, match="net:Linear"):
        _ = model.generators
    assert not model.expanded


# -------------------------------------------------- net: specs

def test_a_net_spec_is_the_model_of_its_program():
    spec = "net:Linear(2,3),ReLU,Linear(3,2),Linear(2,2)"
    model = parse_spec(spec)
    assert model.name == spec and model.program == GENERIC["relu-then-linear"]
    assert spec_parameters(spec) == model.D == 16
    # written with spaces and lower case, it is the same program
    assert parse_spec("net: linear(2, 3), relu, Linear(3,2), Linear(2,2)").name == spec


@pytest.mark.parametrize("family, widths", FAMILY_CASES,
                         ids=[f"{f}:{','.join(map(str, w))}" for f, w in FAMILY_CASES])
def test_a_net_spec_of_a_short_name_is_the_built_in_model(family, widths):
    short = f"{family}:" + ",".join(map(str, widths))
    model = parse_spec(from_family(family, widths).spec)
    _same_model(model, parse_spec(short))
    assert spec_parameters(from_family(family, widths).spec) == spec_parameters(short)


def test_the_cli_counts_a_net_spec_like_the_python_api(capsys):
    spec = "net:Linear(2,3,bias),Linear(3,2)"
    rc, out, err = run_cli(capsys, "count", spec, "--json")
    assert rc == 0, err
    record = json.loads(out)
    reference = exactcl.count(from_program(net(Linear(2, 3, bias=True), Linear(3, 2))))
    assert (record["model"], record["parameters"], record["laws"], record["rejected_candidates"]
            ) == (spec, 15, reference.laws, [])


def test_a_net_certificate_verifies_with_its_name_checked(capsys, tmp_path):
    spec = "net:Linear(2,2,bias),ReLU,Linear(2,1,bias)"
    path = tmp_path / "net.json"
    rc, _, err = run_cli(capsys, "certify", spec, "-o", str(path), "--reproducible")
    assert rc == 0, err
    report = verify(str(path))
    assert report.status == "verified", report.summary
    assert "name not checked" not in report.summary
    assert is_builtin_name(spec)
    cert = json.loads(path.read_text())
    passed, detail = check_name(cert["model"])
    assert passed and "the layers parsed from the name are the program in the file" in detail
    assert cert["model"]["name"] == spec
    for other in ("net:Linear(2,2),ReLU,Linear(2,1,bias)", "net:Linear(2,2,bias),Linear(2,1)",
                  "net:Linear(2,2,bias),ReLU,Linear(2,1,bias),ReLU", "net:Linear(2, 2,bias)",
                  "relu-bias:2,2,1"):
        assert not check_name(dict(cert["model"], name=other))[0], other


def test_a_sweep_config_with_net_specs_runs_and_verifies(capsys, tmp_path):
    config = tmp_path / "grid.toml"
    config.write_text('specs = ["net:Linear(2,3,bias),Linear(3,1)", '
                      '"net:Linear(1,2),ReLU,Linear(2,1)", "relu:1,2,1"]\n')
    cases, options = load_config(config)
    # the program a short name gives is that case (one case, named as the model)
    assert [c.spec for c in cases] == ["net:Linear(2,3,bias),Linear(3,1)", "relu:1,2,1"]
    assert [c.id for c in cases] == ["net_linear2-3-bias_linear3-1", "relu_1-2-1"]
    result = sweep(cases, str(tmp_path / "out"), jobs=1, progress=False, **options)
    assert result.ok, result.summary()
    record = result.records["net_linear2-3-bias_linear3-1"]
    reference = exactcl.count(from_program(net(Linear(2, 3, bias=True), Linear(3, 1))))
    assert (record["parameters"], record["laws"]) == (12, reference.laws)
    assert "net:Linear(2,3,bias),Linear(3,1)" in (tmp_path / "out" / "results.md").read_text()
    rc, out, err = run_cli(capsys, "verify", str(tmp_path / "out"), "-q")
    assert rc == 0, out + err


# -------------------------------------------------- bad programs

#: (argv, fragments of the one line): the layer at fault, what was expected, what came.
CLI_BAD = [
    pytest.param(["count", "net:Linear(3,4),ReLU,Linear(5,2)"],
                 ["'SPEC'", "layer 3 (linear)", "takes 5 inputs", "has 4 outputs",
                  "'net:Linear(3,4),ReLU,Linear(5,2)'"], id="sizes-do-not-chain"),
    pytest.param(["count", "net:Linear(3,4),Linear(5,2)"],
                 ["layer 2 (linear)", "takes 5 inputs", "has 4 outputs"], id="no-relu-chain"),
    pytest.param(["count", "net:Linear(0,3)"],
                 ["'SPEC'", "layer 1", "'Linear(0,3)'", "positive int sizes", "(0, 3)"],
                 id="zero-width"),
    pytest.param(["count", "net:Linear(2,3),ReLU,Linear(3,-1)"],
                 ["layer 3", "'Linear(3,-1)'", "positive int sizes", "(3, -1)"],
                 id="negative-width"),
    pytest.param(["count", "net:Linear(2,x),ReLU,Linear(3,1)"],
                 ["layer 1", "'Linear(2,x)'", "positive int sizes", "(2, x)"], id="width-not-int"),
    pytest.param(["count", "net:Linear(3,4),Conv(2),Linear(4,2)"],
                 ["'SPEC'", "unknown layer 2", "'Conv(2)'", "expected Linear(n_in,n_out[,bias])",
                  "ReLU"], id="unknown-layer"),
    pytest.param(["count", "net:Linear(3,4),,Linear(4,2)"], ["unknown layer 2", "''"],
                 id="empty-layer"),
    pytest.param(["count", "net:Linear(3,4),ReLU"],
                 ["the last layer (layer 2) must be linear, not relu"], id="ends-with-relu"),
    pytest.param(["count", "net:ReLU,Linear(3,4)"],
                 ["layer 1 (relu) must follow a linear layer"], id="starts-with-relu"),
    pytest.param(["count", "net:"], ["'SPEC'", "must list layers after 'net:'"], id="no-layer"),
    pytest.param(["laws", "net:Linear(3,4),Linear(5,2)", "--degree", "2"],
                 ["layer 2 (linear)", "takes 5 inputs"], id="laws"),
    pytest.param(["certify", "net:Linear(3,4),Linear(5,2)", "-o", "unused.json"],
                 ["layer 2 (linear)", "takes 5 inputs"], id="certify"),
    pytest.param(["sweep", "--spec", "net:Linear(3,4),Linear(5,2)", "--out", "unused"],
                 ["'--spec'", "layer 2 (linear)", "takes 5 inputs"], id="sweep"),
    pytest.param(["count", "conv:3"], ["'SPEC'", "net:Linear(n_in,n_out),ReLU,..."],
                 id="unknown-family-lists-net"),
]


@pytest.mark.parametrize("argv, fragments", CLI_BAD)
def test_a_bad_program_on_the_command_line_gets_one_line(capsys, tmp_path, monkeypatch, argv,
                                                          fragments):
    monkeypatch.chdir(tmp_path)
    assert_refused(capsys, argv, fragments)
    assert not list(tmp_path.iterdir())  # nothing written


def test_a_bad_net_spec_in_a_sweep_config_names_the_file(tmp_path):
    config = tmp_path / "grid.toml"
    config.write_text('specs = ["net:Linear(3,4),ReLU,Linear(5,2)"]\n')
    with pytest.raises(exactcl.InputError, match=r"specs.*layer 3 \(linear\) takes 5 inputs"):
        load_config(config)


#: (call, fragments of the InputError).
API_BAD = [
    pytest.param(lambda: net(Linear(3, 4), Linear(5, 2)),
                 ["'layers'", "layer 2 (linear) takes 5 inputs", "has 4 outputs"],
                 id="sizes-do-not-chain"),
    pytest.param(lambda: Linear(0, 3), ["'in_features'", "Linear(0, 3)", "positive int", "0"],
                 id="zero-width"),
    pytest.param(lambda: Linear(3, -2), ["'out_features'", "positive int", "-2"],
                 id="negative-width"),
    pytest.param(lambda: Linear(3, 2.0), ["'out_features'", "positive int", "2.0"],
                 id="float-width"),
    pytest.param(lambda: Linear(3, 2, bias=1), ["'bias'", "a bool", "1"], id="bias-not-bool"),
    pytest.param(lambda: net("relu"), ["'layers'", "Linear(3, 4) or ReLU()", "'relu'",
                                       "layer 1", "str"], id="a-string"),
    pytest.param(lambda: net(Linear(3, 4), ReLU, Linear(4, 1)),
                 ["'layers'", "the class ReLU", "layer 2", "write ReLU()"], id="the-class"),
    pytest.param(lambda: net(), ["'layers'", "non-empty"], id="no-layer"),
    pytest.param(lambda: net(Linear(3, 4), ReLU()), ["the last layer (layer 2) must be linear"],
                 id="ends-with-relu"),
    pytest.param(lambda: from_program("relu:3,4,2"), ["'program'", "Program", "'relu:3,4,2'"],
                 id="from-program-of-a-string"),
]


@pytest.mark.parametrize("call, fragments", API_BAD)
def test_a_bad_program_in_python_is_an_input_error(call, fragments):
    with pytest.raises(exactcl.InputError) as info:
        call()
    message = str(info.value)
    assert message.count("\n") == 0
    for frag in fragments:
        assert frag in message, (frag, message)
    assert isinstance(info.value, ValueError)


def test_count_certify_and_laws_take_a_program_directly(tmp_path):
    prog = exactcl.net(exactcl.Linear(2, 3), exactcl.ReLU(), exactcl.Linear(3, 2))
    assert exactcl.count(prog).laws == 3
    cert, result = exactcl.certify(prog, tmp_path / "c.json")
    assert result.laws == 3 and exactcl.verify(tmp_path / "c.json").ok
    assert cert["model"]["program"] == prog.canonical()
    assert exactcl.laws(prog, 2).independent == 3
