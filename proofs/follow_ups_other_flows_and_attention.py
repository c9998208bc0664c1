"""Checks of the follow-up papers that the engine covers as they stand:
non-Euclidean flows theta' = -M(theta) grad E, given by their fields
M(theta) grad phi_i (Keep the Momentum, ICML 2024: NMF with M = diag(theta)
has one law per rank-one component, sum_i U_ik - sum_j V_jk), and the
factorisation of single-head attention through (Q^T K, V^T O)
(Transformative or Conservative?, ICML 2025: laws are functions of
Q Q^T - K K^T and V V^T - O O^T).

Run: python proofs/follow_ups_other_flows_and_attention.py [--check] [--quick]
"""

import sympy

import exactcl
from exactcl.workflows.reproduce import Case, script_main

CLAIM_ID = "follow_ups_other_flows_and_attention"
TITLE = "Follow-ups: NMF under the mirror metric diag(theta), and single-head attention"
SOURCE = ("Marcotte, Gribonval, Peyre, Keep the Momentum (ICML 2024), NMF with M = diag(theta); "
          "Transformative or Conservative? (ICML 2025), single-head attention")


def nmf(n: int, m: int, r: int):
    """phi = U V^T with the flow theta' = -diag(theta) grad E: fields diag(theta) grad phi_ij."""
    U = sympy.Matrix(n, r, lambda i, k: sympy.Symbol(f"U{i}_{k}"))
    V = sympy.Matrix(m, r, lambda j, k: sympy.Symbol(f"V{j}_{k}"))
    theta = list(U) + list(V)
    phi = U * V.T
    fields = [[t * sympy.diff(phi[i, j], t) for t in theta] for i in range(n) for j in range(m)]
    return exactcl.from_fields(fields, theta, name=f"NMF n={n} m={m} r={r}, M = diag(theta)")


def attention(d: int, k: int, kv: int):
    """phi = (Q^T K, V^T O) with Q, K of shape k x d and V, O of shape kv x d."""
    Q = sympy.Matrix(k, d, lambda a, b: sympy.Symbol(f"Q{a}_{b}"))
    K = sympy.Matrix(k, d, lambda a, b: sympy.Symbol(f"K{a}_{b}"))
    V = sympy.Matrix(kv, d, lambda a, b: sympy.Symbol(f"V{a}_{b}"))
    O = sympy.Matrix(kv, d, lambda a, b: sympy.Symbol(f"O{a}_{b}"))  # noqa: E741 (the paper's name)
    phi = list(Q.T * K) + list(V.T * O)
    params = list(Q) + list(K) + list(V) + list(O)
    return exactcl.from_phi(phi, params, name=f"attention d={d} k={k} kv={kv}")


def _nmf_laws(n, m, r):
    def note(result):
        found = exactcl.laws(nmf(n, m, r), 1)
        return (f"degree-1 search: {len(found.laws)} linear laws, e.g. {found.strings()[0]}"
                if found.laws else "no linear law")
    return note


def cases():
    out = [Case(f"nmf_n{n}_m{m}_r{r}", lambda n=n, m=m, r=r: nmf(n, m, r),
                f"r = {r} (one per rank-one component)", r, quick=(n, m, r) == (2, 2, 2),
                follow_up=_nmf_laws(n, m, r))
           for n, m, r in [(1, 1, 1), (2, 2, 1), (2, 2, 2), (3, 2, 2), (2, 3, 3), (3, 3, 2)]]
    out += [Case(f"attention_d{d}_k{k}_kv{kv}", lambda d=d, k=k, kv=kv: attention(d, k, kv),
                 f"k(k+1)/2 + kv(kv+1)/2 = {k * (k + 1) // 2 + kv * (kv + 1) // 2} "
                 f"(functions of QQ^T - KK^T, VV^T - OO^T)",
                 k * (k + 1) // 2 + kv * (kv + 1) // 2, quick=(d, k, kv) == (2, 1, 1))
            for d, k, kv in [(2, 1, 1), (2, 2, 1), (2, 2, 2), (3, 2, 2)]]
    return out


def finding(outcomes):
    agree = sum(o.agrees is True for o in outcomes)
    return (f"{agree} of {len(outcomes)} cases certified as the follow-up papers state "
            f"(NMF under diag(theta): one linear law per rank-one component; attention: the "
            f"laws of its two two-layer linear factors).")


if __name__ == "__main__":
    raise SystemExit(script_main(__file__))
