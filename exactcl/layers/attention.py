"""Attention, a model by itself: Attention and LinearAttention, their specs
``Attention(d,heads[,head_dim][,tokens=n][,factors|linear])`` and
``LinearAttention(d,heads[,head_dim][,tokens=n])``, their canonical form
``["attention", kind, d, heads, head_dim, tokens]``, their forward rule,
their candidate laws, and their torch translation (``nn.MultiheadAttention``
without biases, as self-attention).

**Candidate laws.** Head h has, for any invertible G_h, H_h, the symmetry
Q_h -> G_h Q_h, K_h -> G_h^-T K_h (and likewise V_h, O_h with H_h), which
gives (Q_h Q_h^T - K_h K_h^T)[a, b] and (V_h V_h^T - O_h O_h^T)[a, b],
a <= b (Marcotte, Peyre, Gribonval, ICML 2025). Softmax-free attention
is also unchanged by A_h -> c A_h, B_h -> B_h / c, which gives one more
law per head, |Q_h|^2 + |K_h|^2 - |V_h|^2 - |O_h|^2.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

from ..kernel.blocks import ATTENTION_KINDS, MAX_TOKENS, count_text
from ..kernel.errors import InputError, ResourceError
from .base import (
    ALONE,
    Layer,
    SpecCall,
    check_bool,
    check_parameters,
    check_size,
    show_value,
    spec_int,
    tensor_entries,
)

__all__ = ["Attention", "LinearAttention"]


@dataclass(frozen=True)
class Attention(Layer):
    """Multi-head attention as a model of its own: per head h,
    Q_h, K_h, V_h, O_h of shape ``head_dim`` x ``d`` (``Q{h}_{a}_{b}``...),
    A_h = Q_h^T K_h and B_h = V_h^T O_h. ``kind`` is ``"softmax"``
    (softmax attention through its Taylor terms of orders 1 and 3 on
    ``tokens`` tokens), ``"factors"`` (phi = (A_h, B_h)_h) or ``"linear"``
    (softmax-free attention, see :class:`LinearAttention`); the default
    head dimension is d / heads. With ``bias=True`` (softmax attention
    only, ``nn.MultiheadAttention(bias=True)``) head h also has the biases
    b_q, b_k, b_v of its queries, keys and values (``bq{h}_{a}``...) and
    the output a bias ``bo_{c}``. See :mod:`exactcl.kernel.blocks`.

    >>> Attention(8, 4).head_dim
    2
    >>> Attention(4, 2, bias=True).spec()
    'Attention(4,2,2,bias)'
    >>> Attention(4, 2, kind="linear", bias=True)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'bias' of Attention(4, 2) may be True only for kind 'softmax', not for 'linear' (the biases of nn.MultiheadAttention, whose key bias softmax ignores).
    >>> Attention(8, 3)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'heads' of Attention(8, 3) must divide the model dimension d = 8 when head_dim is not given, not 3.
    """

    d: int
    heads: int = 1
    head_dim: int | None = None
    tokens: int = 3
    kind: str = "softmax"
    bias: bool = False

    kinds = ("attention",)
    spec_heads = ("attention",)
    spec_help = "Attention(d,heads[,head_dim][,tokens=n][,factors|linear][,bias])"
    example = "Attention(d, heads)"
    role = ALONE
    crosses_tokens = True
    torch_modules = ("MultiheadAttention",)
    #: The kinds its spec may name.
    spec_flags = ("factors", "linear", "softmax")

    def __post_init__(self) -> None:
        text = f"{type(self).__name__}({show_value(self.d)}, {show_value(self.heads)})"
        check_size(text, "d", self.d)
        check_size(text, "heads", self.heads)
        check_size(text, "tokens", self.tokens)
        if self.head_dim is None:
            if self.d % self.heads:
                raise InputError(f"Argument 'heads' of {text} must divide the model dimension "
                                 f"d = {show_value(self.d)} when head_dim is not given, not "
                                 f"{show_value(self.heads)}.")
            object.__setattr__(self, "head_dim", self.d // self.heads)
        check_size(text, "head_dim", self.head_dim)
        if self.tokens > MAX_TOKENS:
            raise ResourceError(f"Argument 'tokens' of {text} is {count_text(self.tokens)}; the "
                                f"limit is {MAX_TOKENS}.")
        check_parameters(text, "'d', 'heads' and 'head_dim'",
                         4 * self.heads * self.head_dim * self.d, " (4 x heads x head_dim x d)")
        if self.kind not in ATTENTION_KINDS:
            raise InputError(f"Argument 'kind' of {text} must be one of "
                             f"{', '.join(ATTENTION_KINDS)}, not {show_value(self.kind)}.")
        check_bool(text, "bias", self.bias)
        if self.bias and self.kind != "softmax":
            raise InputError(f"Argument 'bias' of {text} may be True only for kind 'softmax', "
                             f"not for {self.kind!r} (the biases of nn.MultiheadAttention, "
                             f"whose key bias softmax ignores).")

    def __repr__(self) -> str:
        extra = "" if self.tokens == 3 else f", tokens={self.tokens}"
        if type(self) is Attention and self.kind != "softmax":
            extra += f", kind={self.kind!r}"
        if self.bias:
            extra += ", bias=True"
        return f"{type(self).__name__}({self.d}, {self.heads}, {self.head_dim}{extra})"

    def canonical(self, size=None) -> list:
        return ["attention", self.kind, self.d, self.heads, self.head_dim, self.tokens] + (
            [True] if self.bias else [])

    def spec(self) -> str:
        extra = "" if self.tokens == 3 else f",tokens={self.tokens}"
        if type(self) is Attention and self.kind != "softmax":
            extra += f",{self.kind}"
        if self.bias:
            extra += ",bias"
        return f"{type(self).__name__}({self.d},{self.heads},{self.head_dim}{extra})"

    @classmethod
    def from_spec(cls, call: SpecCall) -> Attention:
        """``Attention(8,4[,2][,tokens=4][,factors|linear][,bias])``: one to
        three sizes (d, heads, head_dim), a kind among ``spec_flags``, and
        ``bias`` for biased softmax attention."""
        plain, keys, kinds = call.plain, call.keys, cls.spec_flags
        flags = [a.lower() for a in plain if spec_int(a) is None]
        bias = bool(kinds) and "bias" in flags
        if bias:  # at most once
            flags.remove("bias")
        sizes = [spec_int(a) for a in plain if spec_int(a) is not None]
        unknown = [k for k in keys if k.lower() != "tokens"]
        if not 1 <= len(sizes) <= 3 or len(flags) > 1 or any(f not in kinds for f in flags) or unknown:
            raise call.fail(f"must be {cls.__name__}(d,heads[,head_dim][,tokens=n]"
                            f"{'[,factors|linear][,bias]' if kinds else ''})")
        tokens = spec_int(keys.get("tokens", "3"))
        if tokens is None or tokens < 1:
            raise call.fail(f"must have a positive int tokens, not {keys.get('tokens')!r}")
        d, heads, head = (sizes + [1, None])[:3] if len(sizes) == 1 else (sizes + [None])[:3]
        kind = flags[0] if flags else "softmax"
        return cls._of(d, heads, head, tokens, kind, bias) if bias else cls._of(
            d, heads, head, tokens, kind)

    @classmethod
    def _of(cls, d, heads, head, tokens, kind, bias=False) -> Attention:
        return cls(d, heads, head, tokens, kind, bias)

    # -- rules on canonical layers ---------------------------------------------------

    @staticmethod
    def forward(layer, run, x: list, shape):
        """``sum_h softmax(s X Q_h^T K_h X^T) X V_h^T O_h`` row by row for X
        of shape tokens x d, where ``s`` is ``run.logit_scale``: exactcl's
        factorisation is the same for every constant s (the model depends on
        theta through s A_h and B_h, whose gradients span what those of A_h
        and B_h span), and torch scales by 1/sqrt(head_dim). The softmax is
        not rational: this output is in floating point (every value before
        the exponentials is exact). Softmax-free attention is exact. With
        biases, queries, keys and values are X M^T + 1 b^T and b_o is added
        to every token, as torch computes them."""
        _, kind, d, heads, k, tokens = layer[:6]
        bias = len(layer) == 7 and layer[6] is True
        if len(x) != tokens * d:
            raise ValueError(f"attention takes {tokens} x {d} inputs, not {len(x)}")
        X = [x[r * d:(r + 1) * d] for r in range(tokens)]

        def project(letter: str, h: int) -> list[list]:  # X M^T (+ 1 b^T), tokens x k
            return [[sum(run.value(f"{letter}{h}_{a}_{b}") * row[b] for b in range(d))
                     + (run.value(f"b{letter.lower()}{h}_{a}") if bias else 0)
                     for a in range(k)] for row in X]

        exact = kind == "linear"  # softmax-free attention stays rational
        out = [[(float(run.value(f"bo_{c}")) if bias else 0.0) if not exact else 0
                for c in range(d)] for _ in range(tokens)]
        for h in range(heads):
            q, kk, v = project("Q", h), project("K", h), project("V", h)
            logits = [[sum(qr[a] * kr[a] for a in range(k)) for kr in kk] for qr in q]
            if exact:
                weights = logits
            elif kind == "softmax":
                weights = [_softmax([run.logit_scale * float(w) for w in row]) for row in logits]
            else:
                raise ValueError("attention of kind 'factors' has no output on tokens")
            cast = (lambda w: w) if exact else float
            head = [[sum(weights[r][s] * cast(v[s][a]) for s in range(tokens)) for a in range(k)]
                    for r in range(tokens)]
            for r in range(tokens):
                for c in range(d):
                    out[r][c] += sum(head[r][a] * cast(run.value(f"O{h}_{a}_{c}"))
                                     for a in range(k))
        return [v for row in out for v in row], None

    @staticmethod
    def symmetries(lay, layer=None) -> list[tuple[list[list[int]], list[list[int]], bool, str]]:
        """Per head and factor pair (Q, K), (V, O): the rows of the first and
        of the second (the units G_h acts on), not diagonal only, and the
        label of the law of units a, b (a format string). With biases, row a
        of Q_h and of V_h carries b_q[a] and b_v[a] ([Q_h | b_q] acts as
        one factor). ``layer``: the attention layer of a network (default:
        the program's only layer)."""
        layer = lay.layers[0] if layer is None else layer
        _, kind, d, heads, k, _ = layer[:6]
        bias = len(layer) == 7 and layer[6] is True
        out = []
        for h in range(heads):
            for first, second in (("Q", "K"), ("V", "O")):
                _, _, o1 = tensor_entries(lay, f"{first}{h}")
                _, _, o2 = tensor_entries(lay, f"{second}{h}")
                units = [[o1 + a * d + j for j in range(d)] for a in range(k)]
                label = f"{first}{h} {first}{h}^T"
                if bias:
                    _, _, ob = tensor_entries(lay, f"b{first.lower()}{h}")
                    units = [row + [ob + a] for a, row in enumerate(units)]
                    label += f" + b{first.lower()}{h} b{first.lower()}{h}^T"
                out.append((units, [[o2 + a * d + j for j in range(d)] for a in range(k)], False,
                            f"({label} - {second}{h} {second}{h}^T)[{{a}},{{b}}]"))
        return out

    @staticmethod
    def linear_laws(lay, layer=None) -> list[tuple[list[int], str]]:
        """Each entry of a key bias: softmax ignores it (docs/design.md,
        attention), so it has no gradient."""
        layer = lay.layers[0] if layer is None else layer
        if not (len(layer) == 7 and layer[6] is True):
            return []
        out = []
        for h in range(layer[3]):
            _, _, o = tensor_entries(lay, f"bk{h}")
            out += [([o + a], f"key bias bk{h}_{a} (softmax ignores it)")
                    for a in range(layer[4])]
        return out

    @staticmethod
    def network_units(lay, layer) -> list[list[int]]:
        """In a network: per output unit c, the parameters writing it, column c
        of every O_h and b_o[c] (O_h -> O_h G^T, b_o -> G b_o multiplies the
        output by G: docs/design.md, attention inside a network)."""
        _, _, d, heads, k, _ = layer[:6]
        units = [[] for _ in range(d)]
        for h in range(heads):
            _, _, o = tensor_entries(lay, f"O{h}")
            for c in range(d):
                units[c] += [o + a * d + c for a in range(k)]
        if len(layer) == 7 and layer[6] is True:
            _, _, ob = tensor_entries(lay, "bo")
            for c in range(d):
                units[c].append(ob + c)
        return units

    @staticmethod
    def network_readers(lay, layer) -> list[list[int]]:
        """In a network: per unit j of its input, the parameters reading it,
        column j of every Q_h, K_h and V_h (the attention sees its input Y
        only through Y Q_h^T, Y K_h^T, Y V_h^T)."""
        _, _, d, heads, k, _ = layer[:6]
        readers = [[] for _ in range(d)]
        for h in range(heads):
            for letter in "QKV":
                _, _, o = tensor_entries(lay, f"{letter}{h}")
                for j in range(d):
                    readers[j] += [o + a * d + j for a in range(k)]
        return readers

    @staticmethod
    def extra_laws(lay) -> list[tuple[list, list, str]]:
        """The scaling law of each head of softmax-free attention: (pairs of
        parameters added, pairs subtracted, label)."""
        _, kind, d, heads, k, _ = lay.layers[0][:6]
        if kind != "linear":
            return []
        out = []
        for h in range(heads):
            plus, minus = [], []
            for letter, side in (("Q", plus), ("K", plus), ("V", minus), ("O", minus)):
                _, _, o = tensor_entries(lay, f"{letter}{h}")
                side += [(o + i, o + i) for i in range(k * d)]
            out.append((plus, minus,
                        f"scaling of head {h}: |Q{h}|^2 + |K{h}|^2 - |V{h}|^2 - |O{h}|^2"))
        return out

    @staticmethod
    def extra_sizes(lay) -> tuple[int, int]:
        """(laws, terms) of :meth:`extra_laws`, from the sizes alone."""
        _, kind, d, heads, k, _ = lay.layers[0][:6]
        return (heads, heads * 4 * k * d) if kind == "linear" else (0, 0)

    @staticmethod
    def gradings(lay) -> tuple[bool, bool]:
        """(whether each unit is a weight of a grading, whether total degree
        is): phi is homogeneous, and with phi = (A_h, B_h) a term holds one
        unit's parameters. Biases mix degrees (u_0 . e has terms of degree 1
        and 2): none then."""
        layer = lay.layers[0]
        if len(layer) == 7 and layer[6] is True:
            return False, False
        return layer[1] == "factors", True

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        """Self-attention ``attn(x, x, x)`` on the module's input, with or
        without biases (``bias=True`` gives both in_proj_bias and
        out_proj.bias), without masks, in eval mode; the (output, weights)
        pair."""
        args = list(node.args)
        x = reader.value(node, args[0] if args else None, "the query")
        if len(args) < 3 or not (args[0] is args[1] is args[2]):
            raise reader.refuse(node, "self-attention, attn(x, x, x)",
                                "is called with different query, key and value")
        for key, value in node.kwargs.items():
            if key in ("need_weights", "average_attn_weights"):
                continue
            if value is not None and value is not False:
                raise reader.refuse(node, "attention without masks", f"passes {key}")
        # alone, or in a TransformerEncoderLayer (reader.unbatched), it is called on one sequence
        if node.target and not sub.batch_first and str(node.target) not in reader.unbatched:
            raise reader.refuse(node, "batch_first=True (inputs batch x tokens x d)",
                                "has batch_first=False, which reads the batch as tokens")
        _check_module(reader, node, sub)
        if x.steps and (len(x.shape) != 2 or x.shape[1] != sub.embed_dim):
            raise reader.refuse(node, f"tokens of {sub.embed_dim} entries (tokens x d)",
                                f"gets its input of shape {x.shape}")
        if len(x.shape) != 2 or x.shape[1] != sub.embed_dim:
            raise InputError(f"Argument 'example_input_shape' must be (tokens, "
                             f"{sub.embed_dim}) for the MultiheadAttention at "
                             f"{reader.where(node)}, not {reader.shape}.")
        if x.shape[0] > MAX_TOKENS:
            raise InputError(f"Argument 'example_input_shape' gives attention {x.shape[0]} "
                             f"tokens, more than the {MAX_TOKENS} exactcl counts on; not "
                             f"{reader.shape}.")
        bias = sub.in_proj_bias is not None
        layer = cls(sub.embed_dim, sub.num_heads, sub.head_dim, tokens=x.shape[0], bias=bias)
        prefix = f"{node.target}." if node.target else ""
        roles = (("in_proj_weight", sub.in_proj_weight), ("out_proj.weight", sub.out_proj.weight))
        if bias:
            roles += (("in_proj_bias", sub.in_proj_bias), ("out_proj.bias", sub.out_proj.bias))
        reads = tuple((role, t, reader.canonical(t, prefix + role)) for role, t in roles)
        reader.logit_scale = sub.head_dim ** -0.5
        d, k = sub.embed_dim, sub.head_dim
        cost = sub.num_heads * x.shape[0] * (4 * d * k + 2 * x.shape[0] * k)
        return reader.pair(reader.append(node, x, layer, x.shape, reads, cost=cost))

    def torch_parameter_map(self, parameters, names: dict) -> list[tuple[str, str, tuple]]:
        """(exactcl name, torch name, index) per parameter: Q_h, K_h, V_h are
        rows of ``in_proj_weight`` (Q, K, V, head after head), O_h[a, c] is
        ``out_proj.weight[c, h k + a]``; b_q, b_k, b_v are entries of
        ``in_proj_bias`` in the same order and b_o is ``out_proj.bias``."""
        d, k, out = self.d, self.head_dim, []
        for name in parameters:
            head, *idx = name.split("_")
            if head == "bo":
                out.append((name, names["out_proj.bias"], (int(idx[0]),)))
            elif head[0] == "b":  # bq{h}, bk{h}, bv{h}
                row = "qkv".index(head[1]) * d + int(head[2:]) * k + int(idx[0])
                out.append((name, names["in_proj_bias"], (row,)))
            elif head[0] in "QKV":
                row = "QKV".index(head[0]) * d + int(head[1:]) * k + int(idx[0])
                out.append((name, names["in_proj_weight"], (row, int(idx[1]))))
            else:
                out.append((name, names["out_proj.weight"],
                            (int(idx[1]), int(head[1:]) * k + int(idx[0]))))
        return out

    @staticmethod
    def forward_tokens(layer, run, tokens: list) -> list:
        """Inside a network: the attention on the tokens (lists of d values),
        numbered as one parametrised layer (:meth:`forward` on them stacked)."""
        run.layer += 1
        d, N = layer[2], layer[5]
        flat, _ = Attention.forward(layer, run, [v for t in tokens for v in t], None)
        return [flat[i * d:(i + 1) * d] for i in range(N)]

    @classmethod
    def torch_graph(cls, fx, module):
        """A ``nn.MultiheadAttention`` given by itself: self-attention on one
        sequence, read as the graph ``attn(x, x, x)[0]``."""
        graph = fx.Graph()
        x = graph.placeholder("x")
        call = graph.call_module("", (x, x, x))
        graph.output(graph.call_function(operator.getitem, (call, 0)))
        return graph


class LinearAttention(Attention):
    """Softmax-free attention, g(X) = sum_h X A_h X^T X B_h: polynomial end
    to end, a model of its own.

    >>> LinearAttention(4, 2)
    LinearAttention(4, 2, 2)
    """

    spec_heads = ("linearattention",)
    spec_help = "LinearAttention(d,heads[,head_dim][,tokens=n])"
    example = "LinearAttention(d, heads)"
    torch_modules = ()
    spec_flags = ()

    def __init__(self, d: int, heads: int = 1, head_dim: int | None = None,
                 tokens: int = 3) -> None:
        super().__init__(d, heads, head_dim, tokens, "linear")

    @classmethod
    def _of(cls, d, heads, head, tokens, kind) -> LinearAttention:
        return cls(d, heads, head, tokens)


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    e = [math.exp(w - top) for w in row]
    return [w / sum(e) for w in e]


def _check_module(reader, node, sub) -> None:
    """Refuse a MultiheadAttention option exactcl does not express, naming it:
    a bias on keys and values (add_bias_kv), a zero token (add_zero_attn),
    key or value sizes other than embed_dim, one of the two projection biases
    without the other, dropout in train mode."""
    if sub.bias_k is not None or sub.bias_v is not None:
        raise reader.refuse(node, "add_bias_kv=False (exactcl reads the in_proj and out_proj "
                            "biases of bias=True)", "has add_bias_kv=True")
    if sub.add_zero_attn:
        raise reader.refuse(node, "add_zero_attn=False", "has add_zero_attn=True")
    if not sub._qkv_same_embed_dim:
        raise reader.refuse(node, f"kdim = vdim = embed_dim = {sub.embed_dim} (self-attention)",
                            f"has kdim={sub.kdim}, vdim={sub.vdim}")
    if (sub.in_proj_bias is None) != (sub.out_proj.bias is None):
        raise reader.refuse(node, "both projection biases or neither (bias=True or False)",
                            "has only one of in_proj_bias and out_proj.bias")
    if sub.training and sub.dropout > 0:
        raise reader.refuse(node, "attention dropout in eval mode (call module.eval())",
                            f"drops attention weights at random (dropout={sub.dropout})")
    for role in ("in_proj_weight",) + (("in_proj_bias",) if sub.in_proj_bias is not None
                                       else ()):
        if role not in sub._parameters:
            raise reader.refuse(node, f"{role} to be a parameter",
                                f"recomputes {role} at every call")
