"""The paper's algorithm written directly in SymPy, as a speed baseline.

W_0 = span of grad phi_i; W_{k+1} = W_k + [W_0, W_k] with every bracket of a
generator and a basis field computed symbolically (SymPy Jacobians), and
the rank decided in floating point at one random point, as in the authors'
code. It certifies nothing; it is here only to be timed.
"""

from __future__ import annotations

import random

import numpy as np
import sympy

from exactcl.models.symbolic import poly_to_sympy


def naive_count(model, seed: int = 0) -> int:
    syms = [sympy.Symbol(n) for n in model.ring.names]
    phi = [poly_to_sympy(p, model.ring, syms) for p in model.phi]
    gens = [sympy.Matrix([sympy.diff(p, s) for s in syms]) for p in phi]
    rng = random.Random(seed)
    at = {s: rng.gauss(0, 1) for s in syms}

    def value(field):
        return np.array([float(c.subs(at)) for c in field])

    def rank(fields):
        return np.linalg.matrix_rank(np.array([value(f) for f in fields])) if fields else 0

    basis = []
    for g in gens:
        if rank(basis + [g]) > len(basis):
            basis.append(g)
    frontier = list(basis)
    while frontier:
        new = []
        for X in gens:
            JX = X.jacobian(syms)
            for Y in frontier:
                Z = sympy.expand(Y.jacobian(syms) * X - JX * Y)
                if any(c != 0 for c in Z) and rank(basis + [Z]) > len(basis):
                    basis.append(Z)
                    new.append(Z)
        frontier = new
    return len(syms) - len(basis)
