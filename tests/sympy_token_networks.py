"""The real model of a network on tokens (attention with exp, a batch
normalisation with its square root, layer normalisations after the
attention with theirs, BatchNorm2d over images and positions,
per-token layers, 2-D convolutions on images flattened channel by channel),
written directly in SymPy, and its Taylor coefficients at identical tokens
(at the batch v x0^T of a batch normalisation with eps = 0, at zero images
with a BatchNorm2d): the independent
computation the kernel's probe fields are tested against
(tests/test_attention_network.py, tests/test_batchnorm.py)."""

from __future__ import annotations

import sympy


def real_orders(layers, values, probe, N, scale=1, base=None, shift=0):
    """The Taylor coefficients T_0..T_3 in t of the real model (softmax with
    exp, logits times ``scale``; a batch normalisation with its square
    root; each ReLU the probe's fixed pattern) at X = 1 x0^T + t X' (or
    v x0^T + t X' with ``base`` = v, x0 the probe's entries minus
    ``shift``), from SymPy's derivatives: per order, per token, the output
    column. With a batch_norm_2d, x0 = 0 (the expansion at zero images)."""
    t = sympy.Symbol("t")
    d_in = len(probe.x) // (N + 1)
    x0, rest = [x - shift for x in probe.x[:d_in]], probe.x[d_in:]
    if any(layer[0] == "batch_norm_2d" for layer in layers):
        x0 = [0] * d_in
    base = base or [1] * N
    toks = [sympy.Matrix([base[i] * x0[j] + t * rest[i * d_in + j] for j in range(d_in)])
            for i in range(N)]
    state = {"relu": 0, "number": 0}

    def sequence(seq, toks):
        for layer in seq:
            if layer[0] == "linear":
                state["number"] += 1
                n = state["number"]
                _, a, b, bias = layer
                W = sympy.Matrix(b, a, lambda i, j, n=n: values[f"W{n}_{i}_{j}"])
                c = sympy.Matrix(b, 1, [values[f"b{n}_{i}"] if bias else 0 for i in range(b)])
                toks = [W * x + c for x in toks]
            elif layer[0] == "relu":
                sigma = probe.sigma[state["relu"]]
                state["relu"] += 1
                toks = [sympy.Matrix([s * v for s, v in zip(sigma, x)]) for x in toks]
            elif layer[0] == "leaky_relu":  # q x + (1 - q) sigma x
                q = sympy.Rational(layer[1])
                sigma = probe.sigma[state["relu"]]
                state["relu"] += 1
                toks = [sympy.Matrix([(q + (1 - q) * s) * v for s, v in zip(sigma, x)])
                        for x in toks]
            elif layer[0] == "conv":
                state["number"] += 1
                toks = [_conv2d(layer, state["number"], values, x) for x in toks]
            elif layer[0] == "maxpool":  # sum_k s_{c,k,o} x[window(o, k)]
                sigma = probe.sigma[state["relu"]]
                state["relu"] += 1
                toks = [_pool2d(layer, x, sigma) for x in toks]
            elif layer[0] == "avgpool":  # the mean of each window
                K = layer[2][0] * layer[2][1]
                toks = [_pool2d(layer, x, [sympy.Rational(1, K)] * (K * len(x))) for x in toks]
            elif layer[0] == "batch_norm_2d":  # per channel over examples and positions
                _, C, eps, affine, _ = layer
                if affine:
                    state["number"] += 1
                n = state["number"]
                P = toks[0].shape[0] // C
                out = [sympy.zeros(C * P, 1) for _ in range(N)]
                for c in range(C):
                    vals = [(i, c * P + k) for i in range(N) for k in range(P)]
                    mean = sum(toks[i][e] for i, e in vals) / (N * P)
                    z = {(i, e): toks[i][e] - mean for i, e in vals}
                    s = 1 / sympy.sqrt(sum(v * v for v in z.values()) / (N * P)
                                       + sympy.Rational(eps))
                    for (i, e), v in z.items():
                        out[i][e] = (values[f"G{n}_{c}"] * v * s + values[f"b{n}_{c}"]
                                     if affine else v * s)
                toks = out
            elif layer[0] == "residual":
                toks = [x + y for x, y in zip(toks, sequence(layer[1], toks))]
            elif layer[0] in ("layer_norm", "rms_norm"):  # on each token, its square root
                n, eps, affine = layer[1], sympy.Rational(layer[2]), layer[3]
                bias = layer[0] == "layer_norm" and layer[4]
                if affine:
                    state["number"] += 1
                k = state["number"]
                out = []
                for x in toks:
                    mean = sum(x) / n if layer[0] == "layer_norm" else 0
                    z = [v - mean for v in x]
                    s = 1 / sympy.sqrt(sum(v * v for v in z) / n + eps)
                    out.append(sympy.Matrix([(values[f"G{k}_{i}"] * v * s if affine else v * s)
                                             + (values[f"b{k}_{i}"] if bias else 0)
                                             for i, v in enumerate(z)]))
                toks = out
            elif layer[0] == "batch_norm":  # per feature over the examples, biased variance
                _, m, eps, affine, _ = layer
                if affine:
                    state["number"] += 1
                n = state["number"]
                out = [sympy.zeros(m, 1) for _ in range(N)]
                for j in range(m):
                    col = [x[j] for x in toks]
                    mean = sum(col) / N
                    z = [v - mean for v in col]
                    s = 1 / sympy.sqrt(sum(v * v for v in z) / N + sympy.Rational(eps))
                    for i in range(N):
                        out[i][j] = (values[f"G{n}_{j}"] * z[i] * s + values[f"b{n}_{j}"]
                                     if affine else z[i] * s)
                toks = out
            else:
                state["number"] += 1
                _, _, d, heads, k, _ = layer[:6]
                bias = len(layer) == 7
                X = sympy.Matrix([list(x) for x in toks])
                one = sympy.ones(N, 1)
                out = sympy.zeros(N, d)
                for h in range(heads):
                    m = {L: sympy.Matrix(k, d, [values[f"{L}{h}_{a}_{c}"] for a in range(k)
                                                for c in range(d)]) for L in "QKVO"}
                    b = {L: sympy.Matrix(1, k, [values[f"b{L}{h}_{a}"] if bias else 0
                                                for a in range(k)]) for L in "qkv"}
                    logits = (scale * (X * m["Q"].T + one * b["q"])
                              * (X * m["K"].T + one * b["k"]).T)
                    E = logits.applyfunc(sympy.exp)
                    Pm = sympy.Matrix(N, N, [E[i, j] / sum(E[i, :]) for i in range(N)
                                             for j in range(N)])
                    out += Pm * (X * m["V"].T + one * b["v"]) * m["O"]
                if bias:
                    out += one * sympy.Matrix(1, d, lambda i, c: values[f"bo_{c}"])
                toks = [out[i, :].T for i in range(N)]
        return toks

    outs = sequence(layers, toks)
    orders = []
    for n in range(4):
        orders.append([o.subs(t, 0) / sympy.factorial(n) for o in outs])
        outs = [o.diff(t) for o in outs]
    return orders


def _conv2d(layer, n, values, x):
    """A 2-D convolution (zero padding, stride, dilation; one group) of the
    image x (a column, channel by channel, positions row by row), from its
    definition: out[o, q] = sum_{i, t} K_{o,i,t} x[i, q stride + t dilation
    - low] + b_o."""
    c_in, c_out, kernel, stride, bias, size = layer[1:7]
    padding, dilation, groups = layer[7:] if len(layer) == 10 else ([[0, 0]] * 2, [1, 1], 1)
    assert groups == 1
    outs = [(size[a] + sum(padding[a]) - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
            for a in range(2)]
    y = []
    for o in range(c_out):
        for q in range(outs[0]):
            for r in range(outs[1]):
                acc = values[f"b{n}_{o}"] if bias else 0
                for i in range(c_in):
                    for u in range(kernel[0]):
                        for v in range(kernel[1]):
                            a = q * stride[0] + u * dilation[0] - padding[0][0]
                            b = r * stride[1] + v * dilation[1] - padding[1][0]
                            if 0 <= a < size[0] and 0 <= b < size[1]:
                                acc += (values[f"K{n}_{o}_{i}_{u}_{v}"]
                                        * x[i * size[0] * size[1] + a * size[1] + b])
                y.append(acc)
    return sympy.Matrix(y)


def _pool2d(layer, x, sigma):
    """A 2-D max pooling on a fixed pattern: unit (c, o) is sum_k s_{c,k,o}
    x[c, o stride + t_k], indicators numbered channel, window element (row
    by row), output position."""
    _, C, kernel, stride, size = layer
    outs = [(size[a] - kernel[a]) // stride[a] + 1 for a in range(2)]
    n_out, K = outs[0] * outs[1], kernel[0] * kernel[1]
    y = []
    for c in range(C):
        for q in range(outs[0]):
            for r in range(outs[1]):
                acc = 0
                for u in range(kernel[0]):
                    for v in range(kernel[1]):
                        k, o = u * kernel[1] + v, q * outs[1] + r
                        a, b = q * stride[0] + u, r * stride[1] + v
                        acc += sigma[(c * K + k) * n_out + o] * x[c * size[0] * size[1]
                                                              + a * size[1] + b]
                y.append(acc)
    return sympy.Matrix(y)


def real_F(layers, values, probe, N, scale=1, weights=(1, 1, 2, 6), base=None, shift=0):
    """F = <U_0, T_0> + <U_1, T_1> + 2 <U_2, T_2> + 6 <C U_3, T_3>, per order."""
    T = real_orders(layers, values, probe, N, scale, base, shift)
    d_out = T[0][0].shape[0]
    U = [sympy.Matrix(N, d_out, [probe.u[(n * N + i) * d_out + c] for i in range(N)
                                 for c in range(d_out)]) for n in range(4)]
    C = sympy.Matrix(N, N, lambda i, j: (N if i == j else 0) - 1)
    U[3] = C * U[3]
    return [weights[n] * sum(U[n][i, c] * T[n][i][c] for i in range(N) for c in range(d_out))
            for n in range(4)]


def kernel_and_real(layers, rng, prime: int, family: str = "test", k: int = 1):
    """(grad F . v from the kernel mod ``prime``, the derivatives d/ds of
    SymPy's real <U_n, T_n>(theta + s v), order by order) at an integer
    point, probe and direction v drawn from ``rng``; at the batch v x0^T
    (x0 shifted by 2^31) the kernel states for a batch normalisation with
    eps = 0."""
    from exactcl.kernel.blocks import BlockLayout, Words, random_probe
    from exactcl.kernel.evaluator import PROBE_BITS, Probe
    from exactcl.kernel.tokens import base
    lay = BlockLayout(layers)
    v0 = base(lay)
    shift = 0 if v0 is None else 1 << PROBE_BITS - 1
    point = [rng.randrange(-3, 4) for _ in range(lay.D)]
    drawn = random_probe(lay, family, k)
    probe = Probe([rng.randrange(-2, 3) for _ in drawn.x], (), drawn.sigma,
                  [rng.randrange(-2, 3) for _ in drawn.u])
    grad = Words(lay, [probe], {}, point, prime).value(0)
    s = sympy.Symbol("s")
    v = [rng.randrange(-2, 3) for _ in range(lay.D)]
    values = {name: point[i] + s * v[i] for i, name in enumerate(lay.parameters)}
    orders = [sympy.simplify(sympy.expand(f.diff(s).subs(s, 0)))
              for f in real_F(lay.layers, values, probe, lay.tokens, base=v0, shift=shift)]
    return sum(grad.get(i, 0) * v[i] for i in range(lay.D)) % prime, orders


def residue(q, prime: int) -> int:
    """A SymPy rational mod ``prime``."""
    q = sympy.Rational(q)
    return int(q.p) * pow(int(q.q), -1, prime) % prime
