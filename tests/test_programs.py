"""Models written as programs of layers: the model of a program, its laws
and its count; ``net:`` specs on the command line and in sweeps; bad
programs refused with one line naming the layer."""

from __future__ import annotations

import pytest

import exactcl
from exactcl.models import from_polynomials, from_program, linear, relu
from exactcl.program import Linear, ReLU, from_family, net

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


@pytest.mark.parametrize("key", sorted(GENERIC))
def test_every_candidate_law_of_a_generic_program_is_conserved(key):
    model = from_program(GENERIC[key])
    r = exactcl.count(model)
    assert r.rejected == ()
    assert r.status == "certified" and len(r.exhibited) == len(model.candidates) == r.laws
    other = exactcl.count(from_polynomials(model.ring, model.phi))
    assert other.laws == r.laws


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
