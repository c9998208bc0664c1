"""ReLU networks, NMF and the two-layer ICNN under momentum (Marcotte,
Gribonval, Peyre, Keep the Momentum, ICML 2024): the heavy ball
theta'' + tau theta' = -M(theta) grad E, lifted to (s, theta, theta') with
s = e^(tau t) (s = t when tau = 0).

Cases:

* ReLU networks with and without biases, depth 2 and 3, dampings 0, 1/2,
  1 and 2: the paper states that no law remains.
* NMF U V^T with its mirror metric M = diag(theta) (the model's own flow,
  to which momentum adds): the paper's abstract states that none of the
  gradient flow's laws persists under momentum.
* NMF with the Euclidean heavy ball, for contrast: U V^T with M = I is the
  linear network x -> U (V^T x), i.e. linear:m,r,n.
* The two-layer ICNN x -> W2 relu(W1 x (+ b1)) with the mirror metric on
  W2 (our reading of the paper's ICNN: the non-negativity of W2 is carried
  by the metric, not by the model), under momentum.

The notes give the exhibited laws as exactcl prints them (s printed as
exp(tau*t), or t when tau = 0).

Run: python proofs/momentum_relu_nmf_icnn.py [--check] [--quick]
"""

from fractions import Fraction

import exactcl
from exactcl.models.flows import icnn, nmf
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "momentum_relu_nmf_icnn"
TITLE = "ReLU networks, NMF and the ICNN under momentum"
SOURCE = ("Marcotte, Gribonval, Peyre, Keep the Momentum: Conservation Laws beyond Euclidean "
          "Gradient Flows (ICML 2024), ReLU networks and NMF under the heavy ball")


def _tag(tau: Fraction) -> str:
    return "tau" + str(tau).replace("/", "_")


def _laws_note(result):
    strings = result.laws_strings()
    if not strings:
        return ""
    shown = "; ".join(f"`{s}`" for s in strings[:2])
    more = f" (and {len(strings) - 2} more)" if len(strings) > 2 else ""
    return f"exhibited: {shown}{more}."


def _nmf_note(r: int, tau: Fraction):
    def note(result):
        if tau == 0:
            forms = "sum(U'_k) - sum(V'_k) and sum(U_k) - sum(V_k) - t (sum(U'_k) - sum(V'_k))"
        else:
            inv = "" if tau == 1 else f"{1 / tau} "
            forms = (f"e^(tau t) (sum(U'_k) - sum(V'_k)) and sum(U_k) - sum(V_k) + "
                     f"{inv}(sum(U'_k) - sum(V'_k))")
        return (f"two laws per rank-one component k (functions of {forms}, sums over the "
                f"column k of U and of V: the linear law of the mirror flow, "
                f"sum_i U_ik - sum_j V_jk, moved into the phase space); " + _laws_note(result))
    return note


def relu_cases():
    out = []
    for bias in (False, True):
        for widths, tau in [((1, 1, 1), 1), ((1, 2, 1), 1), ((2, 2, 2), 1), ((2, 2, 2), 0),
                            ((2, 2, 2), Fraction(1, 2)), ((2, 3, 1), 2), ((3, 2, 2), 1),
                            ((1, 2, 2, 1), 1), ((2, 2, 2, 2), Fraction(1, 2))]:
            name = ("relu_bias_" if bias else "relu_") + "_".join(map(str, widths))
            out.append(Case(f"{name}_{_tag(Fraction(tau))}",
                            lambda widths=widths, bias=bias: exactcl.relu(list(widths),
                                                                         bias=bias),
                            "0 (no law remains for ReLU networks)", 0,
                            quick=(widths, tau, bias) == ((2, 2, 2), 1, True),
                            options={"flow": f"momentum:{Fraction(tau)}"}))
    return out


def nmf_cases():
    out = []
    for (n, m, r), tau in [((1, 1, 1), 1), ((2, 1, 1), 1), ((2, 2, 1), 1), ((2, 2, 1), 0),
                           ((2, 2, 1), Fraction(1, 2)), ((3, 2, 1), 1), ((2, 2, 2), 1),
                           ((2, 3, 2), Fraction(1, 2)), ((3, 3, 2), 2)]:
        tau = Fraction(tau)
        out.append(Case(f"nmf_n{n}_m{m}_r{r}_{_tag(tau)}", lambda n=n, m=m, r=r: nmf(n, m, r),
                        "0 (no law of the mirror flow persists under momentum)", 0,
                        quick=(n, m, r, tau) == (2, 2, 1, 1),
                        options={"flow": f"momentum:{tau}"}, follow_up=_nmf_note(r, tau)))
    # the Euclidean heavy ball on U V^T: the linear network x -> U (V^T x)
    for n, m, r in [(2, 2, 1), (2, 2, 2), (3, 2, 2)]:
        out.append(Case(f"nmf_euclidean_n{n}_m{m}_r{r}_tau1",
                        lambda n=n, m=m, r=r: exactcl.linear([m, r, n]),
                        f"{r * (r - 1) // 2} (U V^T with M = I is linear:{m},{r},{n}: the "
                        f"antisymmetric part of balancedness, r(r-1)/2)", r * (r - 1) // 2,
                        options={"flow": "momentum:1"}, follow_up=_laws_note))
    return out


def icnn_cases():
    out = []
    for widths, bias, tau in [((1, 1, 1), False, 1), ((1, 2, 1), False, 1),
                              ((2, 2, 1), False, 1), ((2, 2, 1), False, 0),
                              ((2, 3, 1), False, Fraction(1, 2)), ((2, 2, 2), False, 1),
                              ((1, 2, 1), True, 1), ((2, 2, 1), True, 1), ((2, 2, 2), True, 2)]:
        tau = Fraction(tau)
        name = ("icnn_bias_" if bias else "icnn_") + "_".join(map(str, widths))
        out.append(Case(f"{name}_{_tag(tau)}",
                        lambda widths=widths, bias=bias: icnn(list(widths), bias=bias),
                        "0 (a ReLU network under momentum keeps none)", 0,
                        options={"flow": f"momentum:{tau}"}))
    return out


def cases():
    return relu_cases() + nmf_cases() + icnn_cases()


def finding(outcomes):
    def group(prefix):
        return [o for o in outcomes if o.case.name.startswith(prefix)]

    relu = group("relu_")
    mirror = [o for o in group("nmf_") if "euclidean" not in o.case.name]
    euclid = group("nmf_euclidean")
    icnns = group("icnn")
    parts = []
    if relu:
        parts.append(f"{sum(o.agrees is True for o in relu)} of {len(relu)} ReLU networks "
                     f"(with and without biases, depth 2 and 3, dampings 0 to 2) keep no law "
                     f"under momentum, as the paper states.")
    if mirror:
        two = sum(o.laws == 2 * int(o.case.name.split("_r")[1].split("_")[0]) for o in mirror)
        parts.append(f"NMF with its mirror metric DIFFERS from the statement that no law "
                     f"persists under momentum: {sum(o.agrees is False for o in mirror)} of "
                     f"{len(mirror)} cases keep laws, {two} of them exactly two per rank-one "
                     f"component (proofs: "
                     f"{', '.join(sorted({o.proof for o in mirror}))}): functions of "
                     f"e^(tau t) (sum_i U'_ik - sum_j V'_jk) and sum_i U_ik - sum_j V_jk + "
                     f"(sum_i U'_ik - sum_j V'_jk) / tau (with - t (...) at tau = 0), the "
                     f"mirror flow's linear law moved to the phase space, since "
                     f"sum_i U_ik d_U E - sum_j V_jk d_V E = 0 makes the force "
                     f"diag(theta) grad E orthogonal to it. This is the flow "
                     f"theta'' + tau theta' = -diag(theta) grad E (the metric applied to the "
                     f"force), not the paper's: its NMF momentum, theta'' + tau theta' = "
                     f"-diag(tau theta + theta') grad E (--flow mirror-momentum:TAU), keeps no "
                     f"law (data/nmf_momentum).")
    if euclid:
        parts.append(f"With the Euclidean heavy ball U V^T is a linear network: "
                     f"{sum(o.agrees is True for o in euclid)} of {len(euclid)} cases have "
                     f"r(r-1)/2 laws, none for rank 1.")
    if icnns:
        parts.append(f"{sum(o.agrees is True for o in icnns)} of {len(icnns)} ICNNs (mirror "
                     f"metric on W2, our reading of the paper's ICNN) keep no law under "
                     f"momentum.")
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
