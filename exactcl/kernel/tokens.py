"""Token programs: networks on N tokens made of per-token layers and one
layer that mixes the tokens: a softmax attention (docs/design.md, attention
inside a network) or a batch normalisation in training mode, whose tokens
are the examples of a batch (docs/design.md, batch normalisation).

An activation is a list of N jets, one column per token. Every layer but
the attention (and residual blocks, which recurse) acts on each token by
its own per-sample rule (:meth:`~exactcl.kernel.layers.base.LayerRule.forward_tokens`,
whose default maps the rule's ``forward`` over the tokens), with the
indicators of a ReLU shared by the tokens; so a per-sample layer rule
acts per token with no rule of its own.

**Probes.** A probe is (x0, X', sigma, U_0, U_1, U_2, U_3): x holds x0
(d_in entries, the input's shape flattened: an image channel by channel)
then X' (N x d_in, token after token), u holds U_0 .. U_3 (each N x
d_out). A network whose mixing layer is expanded at zero images
(``zero_origin``: batch_norm_2d) takes x0 = 0, its entries drawn and
unused. The input is X = 1 x0^T + t X' with t = e_a + e_b + e_c,
three nilpotents above those of bracket words; the reverse pass starts
from U_0 e_a e_b e_c + U_1 e_b e_c + U_2 e_c + C U_3 (C = N I - J), and
the coefficient of e_a e_b e_c of the gradient is grad F, F = <U_0, T_0> +
<U_1, T_1> + 2 <U_2, T_2> + 6 <C U_3, T_3> with T_n the Taylor coefficients
of the output in t. The rank's probes draw every indicator as a bit
(whatever the family's name: F is not multilinear in the indicators of a
ReLU before the attention).

This module is part of the verifier's trusted base: it imports only flint
and the kernel.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction
from math import ceil

from flint import nmod_mat

from .evaluator import PROBE_BITS, Probe
from .layers import RULES, postnorm, smooth
from .layers.attention_net import T_BITS, T_MASK
from .layers.batchnorm import _majorant_zero, _probe_degrees_zero, levels

__all__ = ["TOKENS", "T_BITS", "T_PRODUCTS", "base", "constants", "find_attention", "gradient", "phi_degree", "phi_terms",
           "probe_degree", "random_probe", "token_count", "zero_origin"]

#: The probe families of networks with attention (their indicators are bits
#: whatever the family's name: :func:`random_probe`).
TOKENS = "exactcl-tokens-"

_T = T_MASK
#: Products per matrix product of a pass over t's jets, in the budget's
#: estimate: a token's jet has 8 terms in t's nilpotents, the parameters'
#: one, and most products pair a parameter with a token (measured: a
#: network of N = 3 tokens, d = 4, two heads, evaluates its 52 words in
#: 0.35 s, estimated at 0.77 M units, about 1 us each).
T_PRODUCTS = 4


def find_attention(layers) -> list:
    """The layers of a canonical program that mix tokens (attention, batch
    normalisation), nested ones included."""
    found, stack = [], [layers]
    while stack:
        seq = stack.pop()
        if not isinstance(seq, (list, tuple)):
            continue
        for layer in seq:
            rule = RULES.get(layer[0]) if isinstance(layer, (list, tuple)) and layer \
                and isinstance(layer[0], str) else None
            if rule is not None and rule.crosses_tokens:
                found.append(layer)
            elif (isinstance(layer, (list, tuple)) and len(layer) == 2
                  and layer[0] == "residual"):
                stack.append(layer[1])
    return found


def token_count(layers) -> int | None:
    """N, the tokens of a network holding an attention layer or a batch
    normalisation (None without one); ValueError for more than one.

    >>> token_count([["linear", 3, 4, False], ["residual", [["attention", "softmax", 4, 2, 2, 5]]]])
    5
    >>> token_count([["linear", 3, 4, False]]) is None
    True
    >>> token_count([["attention", "softmax", 2, 1, 1, 3]] * 2)
    Traceback (most recent call last):
    ...
    ValueError: a network holds at most one layer that mixes tokens (attention, batch_norm), not 2
    """
    found = find_attention(layers)
    if len(found) > 1:
        raise ValueError(f"a network holds at most one layer that mixes tokens (attention, "
                         f"batch_norm), not {len(found)}")
    if not found:
        return None
    at = RULES[found[0][0]].token_index
    N = found[0][at] if len(found[0]) > at else None
    if isinstance(N, bool) or not isinstance(N, int) or N < 1:
        return 1  # the attention's own check names its form
    return N


# -- forward and reverse passes --------------------------------------------------------------

def program_tokens(layers) -> int | None:
    """N for a network on tokens, 1 for a program with smooth activations
    and no layer mixing tokens (read as a network on one token:
    docs/design.md, section 8), else None.

    >>> program_tokens([["linear", 2, 2, True], ["tanh"], ["linear", 2, 1, False]])
    1
    """
    N = token_count(layers)
    if N is None and smooth.smooth_layers(layers):
        return 1
    return N


def forward(words, ops, tokens: list, point: list, sigma) -> tuple[list, list]:
    """(output tokens, tape) of ``ops`` on the tokens' jets."""
    tape = []
    for op in ops:
        tokens, saved = RULES[op[0]].forward_tokens(words, op, tokens, point, sigma)
        tape.append(saved)
    return tokens, tape


def backward(words, ops, deltas: list, tape: list, point: list, sigma, grads: list) -> list:
    """The reverse pass of ``ops``: parameter gradients into ``grads``."""
    for op, saved in zip(reversed(ops), reversed(tape)):
        deltas = RULES[op[0]].backward_tokens(words, op, deltas, saved, point, sigma, grads)
    return deltas


def base(layout) -> list[int] | None:
    """The weights v_i of x0 in token i's order 0 (None: every token x0), as
    the top-level layer that mixes the tokens states them
    (:meth:`~exactcl.kernel.layers.batchnorm.BatchNorm.token_base`)."""
    for op in layout.ops:
        rule = RULES[op[0]]
        if rule.crosses_tokens and hasattr(rule, "token_base"):
            return rule.token_base(op)
    return None


def zero_origin(layers) -> bool:
    """Whether a network on tokens is expanded at a batch whose order-0 input
    is zero, X = t X' (a batch_norm_2d: docs/design.md, BatchNorm2d).

    >>> zero_origin([["conv", 1, 1, [1, 1], [1, 1], True, [2, 2]],
    ...              ["batch_norm_2d", 1, "1/10", True, 2], ["linear", 4, 1, False]])
    True
    >>> zero_origin([["linear", 2, 2, True], ["batch_norm", 2, "1/10", True, 2]])
    False
    """
    return any(RULES[layer[0]].zero_origin for layer in find_attention(layers))


def constants(layout, pr: Probe, p: int, raw_point=None, words=None) -> tuple:
    """What a probe contributes, mod p: the input tokens' jets, the
    indicators (then, for a batch normalisation with eps = 0, its level
    data: a rank probe's s0 computed at the integer point ``raw_point``, a
    law check's lambdas, ``pr.s`` = 0 then one per feature; for
    normalisations after the attention, the level data of
    :mod:`~exactcl.kernel.layers.postnorm`, a rank probe's x0 chosen there
    and its roots certified in ``words.levels``), and the seed of the
    reverse pass per token."""
    N, (rows, cols), (d_out, w_out) = layout.tokens, layout.input_shape, layout.output_shape
    d_in = rows * cols
    ea, eb, ec = T_BITS
    v0 = base(layout)
    # at the batch v x0^T, x0 is the probe's entries minus 2^31 (signs of a = A x0 vary)
    x0 = list(pr.x[:d_in]) if v0 is None else [x - (1 << PROBE_BITS - 1) for x in pr.x[:d_in]]
    if zero_origin(layout.layers):
        x0 = [0] * d_in  # docs/design.md, BatchNorm2d: X = t X'
    formal = bool(pr.s) and pr.s[0] == 0
    if layout.smooth and not formal:  # docs/design.md, section 8: the anchors
        if not getattr(words, "anchors_checked", False):  # once per Words (one point)
            smooth.check_point(layout, raw_point)
            if words is not None:
                words.anchors_checked = True
        if smooth.needs_origin(layout):
            x0 = [0] * d_in
    norm_level = None
    if layout.token_norms:  # docs/design.md, normalisation after the attention
        if pr.s and pr.s[0] == 0:
            norm_level = postnorm.formal_level(pr.s[1:])
        else:
            exact, norm_level = postnorm.rank_level(words, pr, pr.sigma)
            x0 = [postnorm.mod(v, p) for v in exact]
    weights = v0 or [1] * N
    tokens = []
    for i in range(N):
        x0i = nmod_mat(rows, cols, [weights[i] * x % p for x in x0], p)
        xi = nmod_mat(rows, cols, [v % p for v in pr.x[d_in + i * d_in:d_in + (i + 1) * d_in]], p)
        tokens.append({0: x0i, ea: xi, eb: xi, ec: xi})
    d_out *= w_out
    U = [[[pr.u[(n * N + i) * d_out + c] % p for c in range(d_out)] for i in range(N)]
         for n in range(4)]
    seeds = []
    mixing = not smooth.one_token(layout)
    for i in range(N):
        cu3 = ([(N * U[3][i][c] - sum(U[3][j][c] for j in range(N))) % p for c in range(d_out)]
               if mixing else [U[3][i][c] % p for c in range(d_out)])  # no attention: U_3
        shape = layout.output_shape
        seeds.append({_T: nmod_mat(*shape, U[0][i], p),
                      eb | ec: nmod_mat(*shape, U[1][i], p),
                      ec: nmod_mat(*shape, U[2][i], p),
                      0: nmod_mat(*shape, cu3, p)})
    sigma = [[v % p for v in s] for s in pr.sigma]
    for op in layout.smooth:  # a law check's free values, or the anchors' coefficients
        sigma[op[1]] = ("formal", sigma[op[1]]) if formal else ("anchor",)
    if norm_level is None and smooth.keeps_scale(layout):  # the attention's scale kept
        norm_level = (postnorm.formal_level(pr.s[1:2]) if formal
                      else postnorm.scale_level(layout, p))
    if norm_level is not None:
        sigma.append(norm_level)
    if layout.token_levels:
        if pr.s and pr.s[0] == 0:
            sigma.append(("formal", list(pr.s[1:])))
        else:
            sigma.append(("root", levels(layout, raw_point, x0, p)))
    return tokens, sigma, seeds


def gradient(words, consts: tuple, point: list) -> list:
    """grad F of a probe (its :func:`constants`) at ``point`` (per-tensor jets)."""
    tokens, sigma, seeds = consts
    grads: list = [None] * len(point)
    out, tape = forward(words, words.layout.ops, tokens, point, sigma)
    backward(words, words.layout.ops, seeds, tape, point, sigma, grads)
    return [{} if g is None else {m & ~_T: y for m, y in g.items() if m & _T == _T}
            for g in grads]


# -- probes ----------------------------------------------------------------------------------

def random_probe(layout, seed: str, k: int) -> Probe:
    """Probe ``k`` of the family ``seed``: from the SHAKE-256 stream of
    ``"{seed}/{k}"``, 8 bytes (big-endian) per entry, x then u then every
    indicator; x and u in [1, 2**PROBE_BITS], each indicator the draw's
    lowest bit (0 or 1, whatever the family).

    >>> from exactcl.kernel.blocks import BlockLayout
    >>> lay = BlockLayout([["linear", 2, 2, False], ["relu"],
    ...                    ["attention", "softmax", 2, 1, 1, 3], ["linear", 2, 1, False]])
    >>> pr = random_probe(lay, "exactcl-tokens-0", 0)
    >>> len(pr.x), len(pr.u), set(pr.sigma[0]) <= {0, 1}
    (8, 12, True)
    """
    n_x, relus, n_u = layout.probe_sizes()
    count = n_x + n_u + sum(relus)
    stream = hashlib.shake_256(f"{seed}/{k}".encode()).digest(8 * count)
    draws = [int.from_bytes(stream[8 * i:8 * i + 8], "big") for i in range(count)]
    values = [d % (1 << PROBE_BITS) + 1 for d in draws[:n_x + n_u]]
    bits = [d & 1 for d in draws[n_x + n_u:]]
    starts = [sum(relus[:t]) for t in range(len(relus))]
    sigma = [tuple(bits[s:s + w]) for s, w in zip(starts, relus)]
    # with smooth units every probe shares one x0 (docs/design.md, section 8): probe 0's
    return Probe(values[:n_x], _candidates(layout, seed, 0 if layout.smooth else k), sigma,
                 values[n_x:])


def _candidates(layout, seed: str, k: int) -> tuple[int, ...]:
    """A rank probe's candidates (m, u) for normalisations after the
    attention (:func:`~exactcl.kernel.layers.postnorm.rank_level`), from the
    SHAKE-256 stream of ``"{seed}/{k}/levels"`` read as x is; none for other
    networks, whose probes are unchanged."""
    count = postnorm.candidate_count(layout)
    if not count:
        return ()
    stream = hashlib.shake_256(f"{seed}/{k}/levels".encode()).digest(8 * count)
    return tuple(int.from_bytes(stream[8 * i:8 * i + 8], "big") % (1 << PROBE_BITS) + 1
                 for i in range(count))


# -- degrees and height (docs/design.md, attention inside a network) --------------------------

def _is_token_norm(op) -> bool:
    """A normalisation after the attention (docs/design.md)."""
    return op[0] in ("layer_norm", "rms_norm") and len(op) == 7


def _probe_degrees(ops, degrees: list, free_scale: bool = False) -> list:
    for op in ops:
        rule = RULES[op[0]]
        if _is_token_norm(op):  # one level for every token: a batch norm's at eps = 0, m = 1
            degrees = _probe_degrees_zero(degrees, 1)
        elif getattr(rule, "smooth", False):  # free c's (docs/design.md, section 8)
            degrees = smooth.probe_degrees(degrees)
        elif rule.crosses_tokens:
            degrees = rule.probe_degrees_tokens(op, degrees)
            if free_scale:  # lambda_0 in at most three entries of M per product
                degrees = [None if v is None else v + 3 for v in degrees]
        elif rule.nested is not None:
            inner = _probe_degrees(rule.children(op), degrees, free_scale)
            degrees = [max((v for v in pair if v is not None), default=None)
                       for pair in zip(degrees, inner)]
        elif rule.activation or rule.indicators:
            degrees = [None if v is None else v + 1 for v in degrees]
        else:  # an affine per-token layer: a constant (a bias) at order 0
            degrees = [max(degrees[0], 0) if degrees[0] is not None else 0] + degrees[1:]
    return degrees


def probe_degree(layout) -> int:
    """Degree of F in the probe's entries (every order, plus 1 for U)."""
    out = _probe_degrees(layout.ops, [1, 1, None, None],
                         bool(layout.token_norms) or smooth.keeps_scale(layout))
    return max(v for v in out if v is not None) + 1


def _theta_degree(ops, r: int) -> int:
    for op in ops:
        rule = RULES[op[0]]
        if _is_token_norm(op):  # a batch norm's at eps = 0 with one level (m = 1)
            r = 7 * r + (1 if op[3] is not None else 0) + 8 * r
        elif getattr(rule, "smooth", False):  # at most four factors of the input
            r = 4 * r
        elif rule.crosses_tokens:
            r = rule.theta_degree_tokens(op, r)
        elif rule.nested is not None:
            r = max(r, _theta_degree(rule.children(op), r))
        else:
            r += rule.degree(op, None)
    return r


def phi_degree(layout) -> int:
    """Degree of F in theta."""
    return max(_theta_degree(layout.ops, 0), 1)


def _majorant(ops, a: list, layout, den: list) -> list:
    """Bounds on the absolute coefficients of each entry of a token's
    activation, ``a`` those of the input's entries (each layer's pass at
    all ones, :meth:`~exactcl.kernel.layers.base.LayerRule.ones`); ``den``
    collects the LeakyReLUs' denominators (and the batch normalisation's)."""
    for op in ops:
        rule = RULES[op[0]]
        if _is_token_norm(op):  # numerator over q0^4, as a batch norm's at eps = 0 (m = 1)
            n, (num, den_eps) = op[1], op[2]
            a = [_majorant_zero([None, 1, None, op[3]], max(a) + num)] * n
            den[1] *= 16 * (n * n * den_eps) ** 8
        elif rule.crosses_tokens:
            a = rule.majorant_tokens(op, max(a))
            den[1] *= rule.den_tokens(op)
        elif rule.nested is not None:
            a = [x + y for x, y in zip(a, _majorant(rule.children(op), a, layout, den))]
        elif getattr(rule, "smooth", False):  # free c's: sum_k (k+1) c_k n^k, k <= 4
            a = [4 * (1 + x) ** 4 for x in a]
        elif op[0] == "leaky_relu":  # q + (1 - q) sigma, q = s/b
            s, b = op[3], op[4]
            a = [x * Fraction(abs(s) + abs(b - s), b) for x in a]
            den[0] *= b
        else:
            a = rule.ones(op, a, layout, None)
    return a


def phi_terms(layout) -> int:
    """A bound on the sum of F's absolute coefficients, denominators
    cleared by 6^3 N^4 (attention), 2 a N^4 (a batch normalisation with eps
    = a/b) and the LeakyReLUs' b (each to the power phi_degree: every slope
    in a product follows a dense layer; docs/design.md)."""
    N, d_out = layout.tokens, layout.output_shape[0] * layout.output_shape[1]
    den = [1, 1]  # the LeakyReLUs' denominators, each once per layer; a batch norm's
    entries = layout.input_shape[0] * layout.input_shape[1]
    a = max(_majorant(layout.ops, [Fraction(2)] * entries, layout, den))  # x0 + X'
    weights = 1 + 1 + 2 + 6 * 2 * (N - 1)
    # a product of F holds a slope at most once per dense layer on its path: phi_degree times
    return ceil(6 ** 3 * N ** 4 * den[1] * den[0] ** phi_degree(layout) * N * d_out * a
                * weights)
