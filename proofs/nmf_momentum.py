"""NMF with momentum in its mirror geometry (Marcotte, Gribonval, Peyre,
Keep the Momentum, ICML 2024): the paper trains U V^T with

    theta'' + tau theta' = -diag(tau theta + theta') grad E

(``--flow mirror-momentum:TAU``: the force depends on the velocity; the
quantity w = theta' + tau theta follows the multiplicative flow
w' = -diag(w) grad E) and states that none of the mirror flow's laws
persists. The other way to add momentum to the mirror flow,

    theta'' + tau theta' = -diag(theta) grad E

(``--flow momentum:TAU+metric:diag``, the metric applied to the force),
keeps two laws per rank-one component k, functions of
e^(tau t) (sum_i U'_ik - sum_j V'_jk) and
sum_i U_ik - sum_j V_jk + (sum_i U'_ik - sum_j V'_jk) / tau (with
- t (...) for tau = 0).

Cases: both flows on nmf:n,m,r for ranks 1 and 2, dampings 0, 1/2, 1 and 2,
each lifted to (s, theta, theta') with s = e^(tau t) (s = t when tau = 0).
Each count is checked against SymPy alone in tests/test_mirror_momentum.py.

Run: python proofs/nmf_momentum.py [--check] [--quick]
"""

from fractions import Fraction

from exactcl.models.flows import nmf
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "nmf_momentum"
TITLE = ("NMF with momentum: the paper's mirror momentum keeps no law; the metric applied to "
         "the force keeps two per rank-one component")
SOURCE = ("Marcotte, Gribonval, Peyre, Keep the Momentum: Conservation Laws beyond Euclidean "
          "Gradient Flows (ICML 2024), NMF under momentum in its mirror geometry")

#: (n, m, r, tau): the sizes and dampings of both flows.
SIZES = [(1, 1, 1, 1), (2, 1, 1, 1), (2, 2, 1, 0), (2, 2, 1, Fraction(1, 2)), (2, 2, 1, 1),
         (3, 2, 1, 2), (2, 2, 2, 1), (2, 3, 2, Fraction(1, 2)), (3, 3, 2, 2), (3, 3, 3, 1)]


def _tag(tau) -> str:
    return "tau" + str(Fraction(tau)).replace("/", "_")


def _laws_note(result):
    strings = result.laws_strings()
    if not strings:
        return "no law: the Lie algebra of the drift and the data fields spans the phase space."
    shown = "; ".join(f"`{s}`" for s in strings[:2])
    more = f" (and {len(strings) - 2} more)" if len(strings) > 2 else ""
    return f"exhibited: {shown}{more}."


def cases():
    out = []
    for n, m, r, tau in SIZES:
        tau = Fraction(tau)
        size = f"n{n}_m{m}_r{r}_{_tag(tau)}"
        out.append(Case(f"mirror_momentum_{size}", lambda n=n, m=m, r=r: nmf(n, m, r),
                        "0 (the paper: no law of the mirror flow persists under its momentum "
                        "theta'' + tau theta' = -diag(tau theta + theta') grad E)", 0,
                        quick=(n, m, r, tau) == (2, 2, 1, 1),
                        options={"flow": f"mirror-momentum:{tau}"}, follow_up=_laws_note))
        out.append(Case(f"metric_momentum_{size}", lambda n=n, m=m, r=r: nmf(n, m, r),
                        f"{2 * r} (theta'' + tau theta' = -diag(theta) grad E: two laws per "
                        f"rank-one component)", 2 * r,
                        quick=(n, m, r, tau) == (2, 2, 1, 1),
                        options={"flow": f"momentum:{tau}+metric:diag"}, follow_up=_laws_note))
    return out


def finding(outcomes):
    mirror = [o for o in outcomes if o.case.name.startswith("mirror_")]
    metric = [o for o in outcomes if o.case.name.startswith("metric_")]
    parts = []
    if mirror:
        parts.append(f"Under the paper's mirror momentum theta'' + tau theta' = "
                     f"-diag(tau theta + theta') grad E, {sum(o.laws == 0 for o in mirror)} of "
                     f"{len(mirror)} NMF cases keep no law, as the paper states "
                     f"({sum(o.proof == 'sandwich' for o in mirror)} proven by sandwich: the "
                     f"Lie algebra spans the whole phase space).")
    if metric:
        two = sum(o.agrees is True for o in metric)
        parts.append(f"Under theta'' + tau theta' = -diag(theta) grad E (the metric applied to "
                     f"the force, `momentum:TAU+metric:diag`), {two} of {len(metric)} keep "
                     f"exactly two laws per rank-one component "
                     f"({sum(o.proof == 'sandwich' for o in metric)} proven by sandwich): the "
                     f"mirror flow's linear law sum_i U_ik - sum_j V_jk moved to the phase space.")
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
