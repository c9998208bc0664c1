"""NMF under momentum, counted by SymPy alone: the independent side of
tests/test_mirror_momentum.py and of proofs/nmf_momentum.py.

Run as ``python -m tests.sympy_nmf_flows`` with ``SYMPY_GROUND_TYPES=python``
(so that SymPy does not use python-flint, which exactcl uses) and a JSON
request on standard input: ``{"cases": [[n, m, r, "p/q", kind, fields], ...]}``
with kind ``"mirror"`` (theta'' + tau theta' = -diag(tau theta + theta') grad E)
or ``"diag"`` (theta'' + tau theta' = -diag(theta) grad E), and fields either
null or exactcl's fields as lists of strings, to be compared with the ones
written here. It prints one JSON answer per case: the dimension 2 D + 1 of the
phase space, a rank of the Lie algebra at a random integer point (a lower
bound, so dim - rank bounds the laws from above), how many of the laws
written by hand below are annihilated by every field and independent at the
point (a lower bound), and whether the given fields are these.

Nothing of exactcl is imported here.
"""

from __future__ import annotations

import json
import random
import sys

import sympy
from sympy.external.gmpy import GROUND_TYPES


def phase_space(n: int, m: int, r: int):
    """(s, theta, v): s, U row by row then V row by row, their velocities."""
    theta = ([sympy.Symbol(f"U{i}_{k}") for i in range(n) for k in range(r)]
             + [sympy.Symbol(f"V{j}_{k}") for j in range(m) for k in range(r)])
    return sympy.Symbol("s"), theta, [sympy.Symbol(f"{x}_dot") for x in theta]


def fields(n: int, m: int, r: int, tau, kind: str) -> list[list]:
    """The drift (tau s, v, -tau v) ((1, v, 0) for tau = 0) and, per entry
    (i, j) of U V^T, the data field (0, 0, mult * grad (U V^T)_ij), mult the
    diagonal diag(tau theta + v) ("mirror") or diag(theta) ("diag")."""
    s, theta, vel = phase_space(n, m, r)
    D = len(theta)
    drift = [tau * s if tau else sympy.Integer(1)] + vel + [-tau * w for w in vel]
    out = [drift]
    for i in range(n):
        for j in range(m):
            entry = sum(theta[i * r + k] * theta[n * r + j * r + k] for k in range(r))
            mult = ([tau * x + w for x, w in zip(theta, vel)] if kind == "mirror" else theta)
            data = [sympy.expand(a * sympy.diff(entry, x)) for a, x in zip(mult, theta)]
            out.append([sympy.Integer(0)] * (D + 1) + data)
    return out


def bracket(X: list, Y: list, z: list) -> list:
    """[X, Y] = (DY) X - (DX) Y."""
    return [sympy.expand(sum(sympy.diff(Y[a], z[b]) * X[b] - sympy.diff(X[a], z[b]) * Y[b]
                             for b in range(len(z))))
            for a in range(len(z))]


def lie_rank(gens: list, z: list, point: dict) -> int:
    """The rank at ``point`` of brackets of the generators, grown depth by
    depth and keeping the brackets that raise it (each kept one is a field of
    the Lie algebra, so the rank is a lower bound on its dimension there)."""
    def value(X):
        return [sympy.Rational(c.subs(point)) for c in X]  # exact: tau may be a fraction

    kept, rows = [], []
    for X in gens:
        if sympy.Matrix(rows + [value(X)]).rank() > len(rows):
            kept.append(X)
            rows.append(value(X))
    frontier = list(kept)
    while frontier and len(rows) < len(z):
        new = []
        for X in gens:
            for Y in frontier:
                Z = bracket(X, Y, z)
                if sympy.Matrix(rows + [value(Z)]).rank() > len(rows):
                    new.append(Z)
                    rows.append(value(Z))
                    if len(rows) == len(z):
                        return len(rows)
        frontier = new
    return len(rows)


def diag_laws(n: int, m: int, r: int, tau) -> list:
    """Two laws per rank-one component k of the flow with force diag(theta)
    grad E: with a_k = sum_i U_ik - sum_j V_jk and b_k its velocity,
    s b_k (b_k for tau = 0) and a_k + b_k / tau (a_k - s b_k for tau = 0,
    s = t)."""
    s, theta, vel = phase_space(n, m, r)
    out = []
    for k in range(r):
        a = (sum(theta[i * r + k] for i in range(n))
             - sum(theta[n * r + j * r + k] for j in range(m)))
        b = (sum(vel[i * r + k] for i in range(n))
             - sum(vel[n * r + j * r + k] for j in range(m)))
        out += [s * b, a + b / tau] if tau else [b, a - s * b]
    return out


def answer(n: int, m: int, r: int, tau_text: str, kind: str, given, seed: int) -> dict:
    tau = sympy.Rational(tau_text)
    s, theta, vel = phase_space(n, m, r)
    z = [s] + theta + vel
    gens = fields(n, m, r, tau, kind)
    rng = random.Random(seed)
    point = {x: sympy.Integer(rng.randrange(2, 50)) for x in z}
    out = {"dim": len(z), "rank": lie_rank(gens, z, point), "laws": 0}
    if kind == "diag":
        laws = diag_laws(n, m, r, tau)
        annihilated = all(sympy.expand(sum(sympy.diff(h, z[b]) * X[b] for b in range(len(z))))
                          == 0 for h in laws for X in gens)
        grads = sympy.Matrix([[sympy.diff(h, x).subs(point) for x in z] for h in laws])
        out["laws"] = grads.rank() if annihilated else 0
    if given is not None:
        names = {str(x): x for x in z}
        theirs = [[sympy.expand(sympy.sympify(c, locals=names)) for c in X] for X in given]
        out["fields_equal"] = theirs == gens
    return out


def main() -> int:
    if GROUND_TYPES != "python":
        print(json.dumps({"error": f"SymPy uses {GROUND_TYPES} ground types; set "
                                   f"SYMPY_GROUND_TYPES=python"}))
        return 1
    request = json.load(sys.stdin)
    answers = [answer(*case, seed=k) for k, case in enumerate(request["cases"])]
    print(json.dumps(answers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
