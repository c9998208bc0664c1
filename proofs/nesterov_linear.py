"""Linear networks under Nesterov's flow theta'' + (3/t) theta' = -grad E
(the damping 3/t of Nesterov's accelerated method in continuous time; Keep
the Momentum, ICML 2024, lifted to (t, theta, theta')). With the damping
3/t the factor e^(tau t) of the heavy-ball laws becomes t^3: per hidden
layer of width n_l, the n_l (n_l - 1) / 2 entries a < b of

    t^3 (W_l W_l'^T - W_l' W_l^T + W_{l+1}^T W_{l+1}' - W_{l+1}'^T W_{l+1}).

Cases: linear networks of depth 2 and 3 (over-parameterised ones
included), the scalar networks 1 -> n -> 1 (with and without a polynomial
search of degree 5, which exhibits the laws t^3 times the antisymmetric
part of W1 W2' - W1' W2), and ReLU networks for contrast (none expected).

Run: python proofs/nesterov_linear.py [--check] [--quick]
"""

import exactcl
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "nesterov_linear"
TITLE = "Linear networks under Nesterov's flow: t^3 times the antisymmetric part of balancedness"
SOURCE = ("Marcotte, Gribonval, Peyre, Keep the Momentum: Conservation Laws beyond Euclidean "
          "Gradient Flows (ICML 2024), momentum with the damping 3/t")


def predicted(widths) -> int:
    return sum(n * (n - 1) // 2 for n in widths[1:-1])


def _form(widths) -> str:
    if len(widths) == 3:
        return ("t^3 (W1 W1'^T - W1' W1^T + W2^T W2' - W2'^T W2), antisymmetric part, "
                "per hidden layer")
    return ("t^3 (W_l W_l'^T - W_l' W_l^T + W_(l+1)^T W_(l+1)' - W_(l+1)'^T W_(l+1)), "
            f"antisymmetric part, per hidden layer l = 1..{len(widths) - 2}")


def _note(widths):
    def note(result):
        strings, labels = result.laws_strings(), result.exhibited_labels
        listed = [s for s, lab in zip(strings, labels) if "search" not in lab]
        found = [s for s, lab in zip(strings, labels) if "search" in lab]
        parts = []
        if listed:
            parts.append(f"{len(listed)} exhibited law{'s' if len(listed) != 1 else ''} of the "
                         f"form {_form(widths)}, e.g. `{listed[0]}`")
        if found:
            parts.append(f"the degree-5 search adds {len(found)}, t^3 times the antisymmetric "
                         f"part of W1 W2' - W1' W2, e.g. `{found[0]}`")
        missing = (result.laws or 0) - result.explicit_laws
        if missing > 0:
            parts.append(f"{missing} more law{'s' if missing > 1 else ''} certified by the "
                         f"closure check and not exhibited")
        return "; ".join(parts) + "." if parts else ""
    return note


def linear_case(widths, *, search=None, quick=False):
    name = "linear_" + "_".join(map(str, widths)) + (f"_search{search}" if search else "")
    options = {"flow": "nesterov"}
    if search:
        options["search_degree"] = search
    k = predicted(widths)
    claim = f"{k} (n_l(n_l-1)/2 per hidden layer, times t^3)"
    if len(widths) == 3 and widths[0] == widths[2] == 1 and widths[1] > 1:
        claim += "; phi is one polynomial with a gradient linear in theta"
    return Case(name, lambda widths=widths: exactcl.linear(list(widths)), claim, k, quick=quick,
                options=options, follow_up=_note(widths))


def relu_case(widths, bias):
    name = ("relu_bias_" if bias else "relu_") + "_".join(map(str, widths))
    return Case(name, lambda widths=widths, bias=bias: exactcl.relu(list(widths), bias=bias),
                "0 (no law remains for ReLU networks under momentum)", 0,
                options={"flow": "nesterov"})


def cases():
    out = [linear_case(w, quick=w == (2, 2, 2))
           for w in [(1, 1, 1), (2, 1, 2), (2, 2, 2), (2, 3, 2), (3, 3, 3), (1, 3, 2), (2, 5, 2),
                     (1, 1, 1, 1), (2, 2, 2, 2), (1, 2, 2, 1), (2, 3, 3, 2), (1, 3, 3, 1)]]
    out += [linear_case((1, n, 1)) for n in (2, 3, 4)]
    out += [linear_case((1, n, 1), search=5) for n in (2, 3)]
    out += [relu_case(w, b) for w, b in [((1, 2, 1), False), ((2, 2, 2), False),
                                         ((1, 2, 1), True), ((2, 2, 2), True),
                                         ((2, 2, 2, 2), False)]]
    return out


def finding(outcomes):
    lin = [o for o in outcomes if o.case.name.startswith("linear_")]
    relu = [o for o in outcomes if o.case.name.startswith("relu_")]
    agree = [o for o in lin if o.agrees is True]
    differ = [o for o in lin if o.agrees is False]
    parts = [f"{len(agree)} of {len(lin)} linear networks have exactly the antisymmetric "
             f"balancedness laws times t^3, n_l(n_l-1)/2 per hidden layer."]
    if differ:
        shown = ", ".join(f"{o.model.split(' ')[0]}: {o.laws} ({o.proof})" for o in differ)
        parts.append(f"The scalar networks 1 -> n -> 1 DIFFER, as under the heavy ball: {shown}; "
                     f"the extra laws are t^3 times the antisymmetric part of W1 W2' - W1' W2 "
                     f"(exhibited by the degree-5 search, which turns the closure proof into a "
                     f"sandwich).")
    if relu:
        parts.append(f"{sum(o.agrees is True for o in relu)} of {len(relu)} ReLU networks keep "
                     f"no law.")
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
