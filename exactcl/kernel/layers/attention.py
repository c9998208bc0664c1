"""Multi-head attention as a model by itself,
``["attention", kind, d, heads, head, tokens]`` (Marcotte, Peyre,
Gribonval, ICML 2025): heads h, model dimension d, head dimension k, on N
tokens X (N x d); head h has Q, K, V, O of shape k x d (``Q{h}_{a}_{b}``
..., head after head, Q, K, V, O within a head), A_h = Q_h^T K_h and
B_h = V_h^T O_h (d x d).

* ``factors``: phi = (A_h, B_h)_h, the factorisation of attention;
* ``linear``: softmax-free attention, g(X) = sum_h X A_h X^T X B_h,
  polynomial end to end; phi its coefficients in X;
* ``softmax``: g(X) = sum_h softmax(X A_h X^T) X B_h. Its Taylor
  coefficients in X are polynomials in theta whose gradients lie in W_g
  (limits of combinations of gradients at data): phi is the coefficients
  of those of orders 1 and 3, (1/N) J X sum_h B_h and
  (1/N) sum_h X A_h X^T (I - J/N) X B_h (J the all-ones N x N). Ranks of
  their words are lower bounds on dim Lie(W_g); the model depends on theta
  only through (A_h, B_h), so the laws of ``factors`` are laws of it.

Probes: x holds X (``factors``: the matrices P_h), u holds U
(``softmax``: U_1 then U_3; ``factors``: R_h) and F = <U, g(X)>
(``factors``: sum_h <P_h, A_h> + <R_h, B_h>; ``softmax``: N <U_1, order 1>
+ N^2 <U_3, order 3>).

**Biases** (``nn.MultiheadAttention(bias=True)``), canonical form
``["attention", "softmax", d, heads, head, tokens, True]``: head h also
has b_q, b_k, b_v of k entries (``bq{h}_{a}``, ``bk{h}_{a}``,
``bv{h}_{a}``) and the model an output bias b_o (``bo_{c}``), after every
weight. The logits ignore b_k, and g(X) = sum_h softmax(s [X|1] [Q_h|b_q]^T
K_h X^T) X B_h + 1 e^T with e = b_o + sum_h O_h^T b_v (docs/design.md,
attention). u holds U_1, U_3, u_0, u_2 and F = u_0 . e + <U_1, J X sum_h
B_h> + sum_h b_q^T K_h X^T C X B_h u_2 + sum_h <X^T C U_3, A_h X^T C X B_h>,
Taylor coefficients of orders 0, 1, 2 and 3 (the last against C U_3,
which removes the rows softmax's second-order term in b_q adds).
"""

from __future__ import annotations

import re

from flint import nmod_mat

from ..errors import count_text
from ..evaluator import _mul, _transpose
from .attention_net import (
    attention_backward,
    attention_forward,
    attention_majorant,
    attention_probe_degrees,
    attention_theta_degree,
)
from .base import (
    MAX_ACTIVATIONS,
    LayerRule,
    accumulate,
    constant,
    positive,
    put,
    sym_matmul,
    sym_times,
)
from .norm import TOKEN_LEVEL

ATTENTION_KINDS = ("softmax", "factors", "linear")
#: Tokens of attention: the evaluator builds N x N matrices for every probe;
#: Attention(2, 1) on 64 tokens counts in 0.2 s.
MAX_TOKENS = 64

_INT = r"[1-9][0-9]{0,8}"
_NAMES = {
    "Attention": re.compile(rf"({_INT}),({_INT}),({_INT})(?:,tokens=({_INT}))?"
                            rf"(?:,(factors|linear))?(,bias)?"),
    "LinearAttention": re.compile(rf"({_INT}),({_INT}),({_INT})(?:,tokens=({_INT}))?"),
}


class Attention(LayerRule):
    kind = "attention"
    heads = ("Attention", "LinearAttention")
    alone = True
    #: Inside a network on tokens it may end a program or precede a ReLU.
    ends = True
    crosses_tokens = True
    token_index = 5

    # -- checks and sizes ---------------------------------------------------------------

    def check(self, layer, shape, at, checker):
        """Inside a network on tokens (``checker.tokens``, exactcl.kernel.tokens):
        softmax attention on tokens of d entries, giving tokens of d entries."""
        if getattr(checker, "tokens", None) is None:
            raise ValueError(f"{at} (attention) is a model by itself: it cannot be combined "
                             f"with other layers")
        canonical = self._form(layer, at)
        if canonical[1] != "softmax":
            raise ValueError(f"{at} (attention) of kind {canonical[1]!r} is a model by itself: "
                             f"only softmax attention may sit inside a network")
        d = canonical[2]
        if shape is not None and shape[0] * shape[1] != d:
            raise ValueError(f"{at} (attention) takes tokens of {d} entries but the layer "
                             f"before it gives {shape[0] * shape[1]}")
        return canonical, (d, 1, None)

    def check_alone(self, layer) -> tuple:
        return self._form(layer, "layer 1")

    @staticmethod
    def _form(layer, at: str) -> tuple:
        if (not isinstance(layer, (list, tuple)) or len(layer) not in (6, 7)
                or layer[1] not in ATTENTION_KINDS or not all(positive(v) for v in layer[2:6])
                or (len(layer) == 7 and not isinstance(layer[6], bool))):
            shown = list(layer) if isinstance(layer, (list, tuple)) else layer
            raise ValueError(f"{at} (attention) must be ['attention', kind, d, heads, head, "
                             f"tokens(, bias)] with kind one of {', '.join(ATTENTION_KINDS)}, "
                             f"positive int sizes and a bool bias, not {shown!r}")
        if len(layer) == 7 and layer[6] and layer[1] != "softmax":
            raise ValueError(f"{at} (attention) has biases only of kind softmax, not "
                             f"{layer[1]!r}")
        return ("attention",) + tuple(layer[1:6]) + ((True,) if biased(layer) else ())

    def input_shape(self, layer, first_shape):
        return (layer[2], 1, None)

    def sizes(self, layer, entries, at, totals, sequence):
        totals["parameters"] += self.parameters(layer)
        if layer[5] > MAX_TOKENS:
            return entries, (f"{at} has {count_text(layer[5])} tokens; the limit is "
                             f"{MAX_TOKENS}")
        return layer[2], None

    def compile(self, layer, shape, layout):
        """In a network: its tensors named as alone (one attention per
        network), numbered as one parametrised layer."""
        layout.next_number()
        weights, biases = [], []
        for prefix, rows, cols, names in self.tensors(layer):
            if prefix.startswith("b"):
                biases.append(layout.add_bias(prefix, rows, names))
            else:
                weights.append(layout.add_weight(prefix, rows, cols, names))
        return ["attention", tuple(layer), weights, biases or None], (layer[2], 1)

    def forward_tokens(self, words, op, tokens, point, sigma):
        # with normalisations after it, the scale 1/sqrt(k) is the level data's first entry
        level = sigma[-1] if sigma and isinstance(sigma[-1], tuple) else None
        scale = level[1] if level is not None and level[0] == TOKEN_LEVEL else 1
        return attention_forward(words, op, tokens, point, scale)

    def probe_degrees_tokens(self, op, degrees):
        return attention_probe_degrees(op[1], degrees)

    def theta_degree_tokens(self, op, r):
        return attention_theta_degree(op[1], r)

    def majorant_tokens(self, op, a):
        return [attention_majorant(op[1], a)] * op[1][2]

    def backward_tokens(self, words, op, deltas, saved, point, sigma, grads):
        return attention_backward(words, op, deltas, saved, point, grads)

    def products(self, op, layout):
        # per head, about a dozen products of N x N, N x d and d x k matrices (flint's) and
        # the entrywise products of the exponential's series, forward and back
        _, kind, d, heads, k, N = op[1][:6]
        return [(max(N, d) * max(N, d), max(d, k, N), False)] * (12 * heads)

    def parameters(self, layer) -> int:
        _, _, d, heads, k, _ = layer[:6]
        return 4 * heads * k * d + ((3 * heads * k + d) if biased(layer) else 0)

    def size_problem(self, layer, max_parameters: int) -> str | None:
        _, kind, d, heads, k, tokens = layer[:6]
        if tokens > MAX_TOKENS:
            return f"the attention has {count_text(tokens)} tokens; the limit is {MAX_TOKENS}"
        D = self.parameters(layer)
        if D > max_parameters:
            return (f"the attention has {count_text(D)} parameters (4 x heads x head_dim x d"
                    f"{' and the biases' if biased(layer) else ''}); the limit is "
                    f"{max_parameters:,}")
        entries = 3 * tokens * d + 2 * heads * d * d  # X, U and the d x d A_h, B_h (P_h, R_h)
        if entries > MAX_ACTIVATIONS:
            return (f"the attention has {count_text(entries)} activations (3 x tokens x d, and "
                    f"2 x heads x d x d); the limit is {MAX_ACTIVATIONS:,}")
        return None

    def file_bounds(self, layer, at, totals):
        if layer[5] > MAX_TOKENS:
            return (f"the attention has {count_text(layer[5])} tokens; a certificate holds at "
                    f"most {MAX_TOKENS}")
        return None

    # -- the layout of the model ------------------------------------------------------

    def tensors(self, layer) -> list[tuple[str, int, int, list[str]]]:
        """Q_h, K_h, V_h, O_h head after head; with biases then b_q, b_k,
        b_v head after head (k x 1) and b_o (d x 1)."""
        _, kind, d, heads, k, tokens = layer[:6]
        out = [(f"{letter}{h}", k, d, [f"{letter}{h}_{a}_{b}" for a in range(k)
                                       for b in range(d)])
               for h in range(heads) for letter in "QKVO"]
        if biased(layer):
            out += [(f"b{letter}{h}", k, 1, [f"b{letter}{h}_{a}" for a in range(k)])
                    for h in range(heads) for letter in "qkv"]
            out.append(("bo", d, 1, [f"bo_{c}" for c in range(d)]))
        return out

    def input_shape_alone(self, layer) -> tuple[int, int]:
        return (layer[5], layer[2])

    def probe_sizes(self, layer) -> tuple[int, list[int], int]:
        _, kind, d, heads, k, tokens = layer[:6]
        if kind == "factors":
            return heads * d * d, [], heads * d * d
        extra = 2 * d if biased(layer) else 0  # u_0 and u_2
        return tokens * d, [], (2 if kind == "softmax" else 1) * tokens * d + extra

    def probe_degree(self, layer) -> int:
        return 1 if layer[1] == "factors" else 4

    def phi_degree(self, layer) -> int:
        return 2 if layer[1] == "factors" else 4

    def phi_terms(self, layer) -> int:
        # at ones: A_h = Q^T K has entries k, X^T X and X^T U entries N, X^T |C| X
        # entries 2 N^2 (|C| = N I + J), X^T J U entries N^2
        # with biases, X^T |C| U_3 has entries 2 N^2; u_0 . e has d + heads k d
        # terms, b_q^T K X^T |C| X V^T O u_2 per head 2 N^2 k^2 d^3
        _, kind, d, heads, k, N = layer[:6]
        if kind == "factors":
            return heads * 2 * d * d * k
        if kind == "linear":
            return heads * N * N * k * k * d ** 4
        if biased(layer):
            return d + heads * (k * d + N * N * k * d * d + 4 * N ** 4 * k * k * d ** 4
                                + 2 * N * N * k * k * d ** 3)
        return heads * (N * N * k * d * d + 2 * N ** 3 * k * k * d ** 4)

    def products_alone(self, layer) -> list[tuple[int, int, bool]]:
        # per head: the chain's prefix and suffix products and the gradients,
        # each at most a d x d by d x max(d, k, N) product
        _, kind, d, heads, k, N = layer[:6]
        return [(d * d, max(d, k, N), False)] * (heads * (20 if biased(layer) else 12))

    # -- semantics ----------------------------------------------------------------------

    def constants(self, layer, pr, p: int) -> tuple:
        """What a probe contributes to F, as matrices mod p."""
        _, kind, d, heads, k, N = layer[:6]
        if kind == "factors":
            P = [constant(d, d, pr.x[h * d * d:(h + 1) * d * d], p) for h in range(heads)]
            R = [constant(d, d, pr.u[h * d * d:(h + 1) * d * d], p) for h in range(heads)]
            return ("factors", P, R)
        X = nmod_mat(N, d, [v % p for v in pr.x], p)
        Xt = X.transpose()
        if kind == "linear":
            U = nmod_mat(N, d, [v % p for v in pr.u], p)
            return ("linear", {0: Xt * U}, {0: Xt * X})
        U1 = nmod_mat(N, d, [v % p for v in pr.u[:N * d]], p)
        U3 = nmod_mat(N, d, [v % p for v in pr.u[N * d:2 * N * d]], p)
        J = nmod_mat(N, N, [1] * (N * N), p)
        C = nmod_mat(N, N, [(N if i == j else 0) - 1 for i in range(N) for j in range(N)], p)
        if biased(layer):  # order 3 against C U_3; u_0 and u_2 as rows
            u0 = constant(1, d, pr.u[2 * N * d:2 * N * d + d], p)
            u2 = constant(1, d, pr.u[2 * N * d + d:], p)
            return ("biased", {0: Xt * J * U1}, {0: Xt * C * U3}, {0: Xt * C * X}, u0, u2)
        return ("softmax", {0: Xt * J * U1}, {0: Xt * U3}, {0: Xt * C * X})

    def gradient(self, layer, consts, point) -> list:
        """grad F of a probe (its :meth:`constants`) at ``point``."""
        _, kind, d, heads, k, N = layer[:6]
        grads: list = [None] * len(point)
        for h in range(heads):
            q, kk, v, o = (4 * h + t for t in range(4))
            if consts[0] == "biased":  # b_q, b_v of head h (b_k has no gradient), then b_o
                bq, bv = 4 * heads + 3 * h, 4 * heads + 3 * h + 2
                terms = [(consts[1], [(v, True), (o, False)]),
                         (consts[2], [(q, True), (kk, False), consts[3], (v, True), (o, False)]),
                         (consts[5], [(bq, True), (kk, False), consts[3], (v, True), (o, False)]),
                         (consts[4], [(bv, True), (o, False)])]
                if h == 0:
                    terms.append((consts[4], [(7 * heads, True)]))
            elif kind == "factors":
                terms = [(consts[1][h], [(q, True), (kk, False)]),
                         (consts[2][h], [(v, True), (o, False)])]
            elif kind == "linear":
                terms = [(consts[1], [(q, True), (kk, False), consts[2], (v, True), (o, False)])]
            else:
                terms = [(consts[1], [(v, True), (o, False)]),
                         (consts[2], [(q, True), (kk, False), consts[3], (v, True), (o, False)])]
            for L, chain in terms:
                _chain_gradient(L, chain, point, grads)
        return [g if g is not None else {} for g in grads]

    def expand_alone(self, layer, tensor, one, u_base: int) -> dict:
        """F as {probe monomial: poly}."""
        _, kind, d, heads, k, N = layer[:6]
        bias = biased(layer)
        F: dict = {}

        def T(M):
            return [list(col) for col in zip(*M)]

        def const(rows, cols, f):
            return [[{(): one * f(i, j)} if f(i, j) else {} for j in range(cols)]
                    for i in range(rows)]

        def inner(L, M):
            for i, row in enumerate(M):
                for j, e in enumerate(row):
                    for key, v in sym_times(e, L[i][j]).items():
                        put(F, key, v)

        if kind == "factors":
            for h in range(heads):
                Q, K, V, O = (tensor(4 * h + t) for t in range(4))  # noqa: E741 (the paper's names)
                P = [[{(h * d * d + i * d + j,): one} for j in range(d)] for i in range(d)]
                R = [[{(u_base + h * d * d + i * d + j,): one} for j in range(d)] for i in range(d)]
                inner(P, sym_matmul(T(Q), K))
                inner(R, sym_matmul(T(V), O))
            return F
        X = [[{(i * d + j,): one} for j in range(d)] for i in range(N)]
        U1 = [[{(u_base + i * d + j,): one} for j in range(d)] for i in range(N)]
        Xt = T(X)
        if kind == "linear":
            L, G = sym_matmul(Xt, U1), sym_matmul(Xt, X)
        else:
            U3 = [[{(u_base + N * d + i * d + j,): one} for j in range(d)] for i in range(N)]
            J = const(N, N, lambda i, j: 1)
            C = const(N, N, lambda i, j: (N if i == j else 0) - 1)
            L1 = sym_matmul(sym_matmul(Xt, J), U1)
            L, G = sym_matmul(Xt, U3), sym_matmul(sym_matmul(Xt, C), X)
            if bias:  # order 3 against C U_3; u_0, u_2 as rows
                L = sym_matmul(sym_matmul(Xt, C), U3)
                u0 = [[{(u_base + 2 * N * d + j,): one} for j in range(d)]]
                u2 = [[{(u_base + 2 * N * d + d + j,): one} for j in range(d)]]
                inner(u0, T(tensor(7 * heads)))
        for h in range(heads):
            Q, K, V, O = (tensor(4 * h + t) for t in range(4))  # noqa: E741 (the paper's names)
            B = sym_matmul(T(V), O)
            inner(L, sym_matmul(sym_matmul(sym_matmul(T(Q), K), G), B))
            if kind == "softmax":
                inner(L1, B)
            if bias:
                bq, bv = tensor(4 * heads + 3 * h), tensor(4 * heads + 3 * h + 2)
                inner(u2, sym_matmul(sym_matmul(sym_matmul(T(bq), K), G), B))
                inner(u0, sym_matmul(T(bv), O))
        return F

    # -- net: names ---------------------------------------------------------------------

    def read_name(self, head, inner, block):
        m = _NAMES[head].fullmatch(inner) if inner is not None else None
        if m is None:
            return None
        g = m.groups()
        kind = "linear" if head == "LinearAttention" else (g[4] if len(g) > 4 and g[4]
                                                           else "softmax")
        bias = [True] if len(g) > 5 and g[5] else []
        return ["attention", kind, int(g[0]), int(g[1]), int(g[2]), int(g[3]) if g[3] else 3,
                *bias]


def biased(layer) -> bool:
    """Whether a canonical attention layer has biases (its seventh item)."""
    return len(layer) == 7 and layer[6] is True


def _chain_gradient(L: dict, chain: list, point: list, grads: list) -> None:
    """Add the gradient of <L, M_1 ... M_n> to ``grads``: M_i a tensor
    (index, transposed) or a constant jet; d/dM_i = (M_1..M_{i-1})^T L (M_{i+1}..M_n)^T."""
    mats = [(_transpose(point[m[0]]) if m[1] else point[m[0]]) if isinstance(m, tuple) else m
            for m in chain]
    n = len(mats)
    prefix = [None] * (n + 1)  # prefix[i] = M_1 .. M_i
    for i in range(n):
        prefix[i + 1] = mats[0] if i == 0 else _mul(prefix[i], mats[i])
    suffix = [None] * (n + 1)  # suffix[i] = M_{i+1} .. M_n
    for i in range(n - 1, -1, -1):
        suffix[i] = mats[i] if i == n - 1 else _mul(mats[i], suffix[i + 1])
    for i, m in enumerate(chain):
        if not isinstance(m, tuple):
            continue
        g = L if i == 0 else _mul(_transpose(prefix[i]), L)
        if i < n - 1:
            g = _mul(g, _transpose(suffix[i + 1]))
        accumulate(grads, m[0], _transpose(g) if m[1] else g)


ATTENTION = Attention()
