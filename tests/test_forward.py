"""The exact forward interpreter (exactcl.layers.forward) computes what the engine's
programs mean: at integer points and inputs, its output is the output of the
block evaluator's own forward pass (the one phi and every generator come
from) modulo p, on the activation pattern it decides exactly. Together with
the output check of from_torch (the interpreter against a module's forward),
this ties a torch module to the phi that exactcl counts."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exactcl.layers.forward import output, relu_patterns

from .helpers import draw_forward_case, engine_output

PRIME = 1_000_003

PROGRAMS = {
    "mlp": [["linear", 3, 4, True], ["relu"], ["linear", 4, 2, True]],
    "deep": [["linear", 2, 3, False], ["relu"], ["linear", 3, 3, True], ["relu"],
             ["linear", 3, 1, False]],
    "residual": [["linear", 2, 3, True], ["residual", [["linear", 3, 2, True], ["relu"],
                                                        ["linear", 2, 3, False]]],
                 ["relu"], ["linear", 3, 2, False]],
    "nested": [["residual", [["linear", 2, 2, False], ["residual", [["linear", 2, 2, True]]]]]],
    "conv1d": [["conv", 2, 3, [2], [2], True, [7]], ["relu"], ["conv", 3, 2, [2], [1], False, [3]],
               ["linear", 4, 2, True]],
    "conv2d": [["conv", 1, 2, [2, 2], [1, 2], True, [3, 4]], ["relu"], ["linear", 8, 1, False]],
    "leaky": [["linear", 3, 4, True], ["leaky_relu", "1/5"], ["residual", [["linear", 4, 4, True],
              ["leaky_relu", "-3/2"], ["linear", 4, 4, False]]], ["linear", 4, 2, False]],
    "avgpool1d": [["conv", 1, 2, [2], [1], True, [7]], ["avgpool", 2, [2], [2], [6]], ["relu"],
                  ["linear", 6, 1, False]],
    "maxpool2d": [["conv", 1, 2, [2, 2], [1, 1], False, [4, 5]], ["relu"],
                  ["maxpool", 2, [2, 2], [1, 2], [3, 4]], ["linear", 8, 2, True]],
    "overlapping": [["conv", 2, 2, [2], [1], False, [6]], ["maxpool", 2, [3], [1], [5]],
                    ["maxpool", 2, [2], [1], [3]], ["avgpool", 2, [2], [1], [2]],
                    ["linear", 2, 1, True]],
    "global": [["conv", 1, 3, [2, 2], [1, 1], True, [3, 5]], ["relu"],
               ["avgpool", 3, [2, 4], [2, 4], [2, 4]], ["linear", 3, 2, False]],
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_the_exact_forward_is_the_engines_forward(name, data):
    layers = PROGRAMS[name]
    lay, point, x, exact, sigma = draw_forward_case(data, layers)
    assert [len(s) for s in sigma] == lay.relu_widths
    # a rational (a LeakyReLU's slope) reduced mod p as numerator / denominator
    assert [Fraction(v).numerator * pow(Fraction(v).denominator, -1, PRIME) % PRIME
            for v in exact] == engine_output(layers, point, x, sigma, PRIME)


def test_rationals_stay_exact_and_units_switch_on_the_sign():
    layers = [["linear", 1, 2, True], ["relu"], ["linear", 2, 1, False]]
    values = {"W1_0_0": 1, "W1_1_0": -1, "b1_0": Fraction(-1, 3), "b1_1": Fraction(1, 3),
              "W2_0_0": 3, "W2_0_1": 5}
    assert output(layers, values, [Fraction(1, 2)]) == [Fraction(1, 2)]
    assert relu_patterns(layers, values, [Fraction(1, 2)]) == [[1, 0]]
    assert relu_patterns(layers, values, [Fraction(1, 3)]) == [[0, 0]]  # zero is off


def test_a_missing_parameter_is_named():
    with pytest.raises(ValueError, match="no value for the parameter 'b1_0'"):
        output([["linear", 1, 1, True]], {"W1_0_0": 1}, [1])
