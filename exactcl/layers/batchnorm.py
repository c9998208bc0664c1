"""Batch normalisation in training mode: ``BatchNorm1d`` over the N examples
of a batch (spec ``BatchNorm1d(m,batch=N[,eps=a/b][,affine=False])``,
canonical form ``["batch_norm", m, "a/b", affine, N]``), its forward rule,
its role for candidate laws and its torch translation (``nn.BatchNorm1d``
in training mode, read by ``from_torch(..., batch_size=N)``).

One example's output depends on the whole batch, so the model is that of
a batch of N examples to their outputs, a network on tokens whose tokens
are the examples (every other layer acts on each example). exactcl counts
training mode, the model the gradient flow follows; eval mode (running
statistics) is refused. The kernel's rule
(:mod:`exactcl.kernel.layers.batchnorm`) and docs/design.md (batch
normalisation in training mode) say how the count stays exact: with eps >
0 at a batch of identical examples, with eps = 0 (only dense layers before
it, a batch size with a base vector: every even one, most odd ones) at a
batch of opposite examples. Candidate laws (:mod:`exactcl.models.blocks`):
each bias entry of the dense layer before it, one rescaling law per unit
(gamma_j, beta_j) against the next dense layer, and the scale law of each
row before it, a law at eps = 0, broken at order eps when eps > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from ..kernel.errors import InputError
from ..kernel.layers.batchnorm import MAX_BATCH, base_vector
from .base import NORMALISATION, Layer, SpecCall, check_bool, check_size
from .norm import DEFAULT_EPS, exact_eps

__all__ = ["BatchNorm1d", "BatchNorm2d"]


@dataclass(frozen=True)
class BatchNorm1d(Layer):
    """Batch normalisation of ``num_features`` features over a batch of
    ``batch`` examples, in training mode: per feature, (h - mean) /
    sqrt(var + eps) over the batch (var the biased variance, as torch
    normalises), then gamma * y + beta when ``affine``. ``eps`` is an exact
    rational >= 0 (torch's default 1e-05 is 1/100000); with eps = 0 only
    dense layers may come before it, and the batch size must have a base
    vector (docs/design.md: every even size, most odd ones, not 3).

    >>> BatchNorm1d(5, batch=8).spec(), BatchNorm1d(5, batch=4, affine=False).canonical()
    ('BatchNorm1d(5,batch=8)', ['batch_norm', 5, '1/100000', False, 4])
    >>> BatchNorm1d(5, batch=8, eps=0).canonical()
    ['batch_norm', 5, '0/1', True, 8]
    >>> BatchNorm1d(5, batch=3, eps=0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'batch' of BatchNorm1d with eps = 0 must be a batch size with a base vector (integers of sum 0 whose squared norm over the batch size is a rational square: every even size, most odd ones), not 3.
    """

    num_features: int
    batch: int
    eps: Fraction = field(default=DEFAULT_EPS)
    affine: bool = True

    kinds = ("batch_norm",)
    spec_heads = ("batchnorm1d",)
    spec_help = "BatchNorm1d(m,batch=N[,eps=a/b][,affine=False])"
    example = "BatchNorm1d(5, batch=8)"
    role = NORMALISATION
    weights = "G"
    crosses_tokens = True
    torch_modules = ("BatchNorm1d",)

    #: Its translation symmetry: a constant per feature over the batch (each
    #: bias entry of the dense layer before it), not a multiple of 1.
    translation = False
    translation_per_feature = True

    @staticmethod
    def options(layer) -> tuple[bool, bool, int]:
        """(eps = 0, affine, groups) for the candidate laws: each feature is
        its own group."""
        return layer[2] == "0/1", layer[3], layer[1]

    #: The letter its spec names the normalised size with.
    size_letter = "m"

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_size(name, "num_features", self.num_features)
        check_size(name, "batch", self.batch)
        object.__setattr__(self, "eps", exact_eps(self.eps, name))
        check_bool(name, "affine", self.affine)
        if not 2 <= self.batch <= MAX_BATCH:
            raise InputError(f"Argument 'batch' of {name} must be 2 to {MAX_BATCH} "
                             f"examples, not {self.batch}.")
        self._check_eps()

    def _check_eps(self) -> None:
        if self.eps == 0 and self.batch == 2:
            raise InputError("Argument 'batch' of BatchNorm1d with eps = 0 must be 4 or more "
                             "examples, not 2 (each feature is then +-1).")
        if self.eps == 0 and base_vector(self.batch) is None:
            raise InputError(f"Argument 'batch' of BatchNorm1d with eps = 0 must be a batch size "
                             f"with a base vector (integers of sum 0 whose squared norm over the "
                             f"batch size is a rational square: every even size, most odd ones), "
                             f"not {self.batch}.")

    def _options(self) -> list[str]:
        q = self.eps
        out = [f"batch={self.batch}"]
        out += [] if q == DEFAULT_EPS else [f"eps={q}" if not q else
                                            f"eps={q.numerator}/{q.denominator}"]
        return out + ([] if self.affine else ["affine=False"])

    def __repr__(self) -> str:
        args = [str(self.num_features), f"batch={self.batch}"]
        args += [f"eps={str(self.eps)!r}"] if self.eps != DEFAULT_EPS else []
        args += ["affine=False"] if not self.affine else []
        return f"{type(self).__name__}({', '.join(args)})"

    def canonical(self, size=None) -> list:
        q = self.eps
        return [self.kinds[0], self.num_features, f"{q.numerator}/{q.denominator}", self.affine,
                self.batch]

    def spec(self) -> str:
        return f"{type(self).__name__}({','.join([str(self.num_features)] + self._options())})"

    def output_shape(self, shape):
        return None

    @classmethod
    def from_spec(cls, call: SpecCall) -> BatchNorm1d:
        """``BatchNorm1d(5,batch=8)``, ``BatchNorm1d(5,batch=4,eps=1/1000,affine=False)``
        (and ``BatchNorm2d(4,batch=8)``).

        >>> from exactcl.layers.program import parse_net
        >>> parse_net("Linear(4,5),BatchNorm1d(5,batch=4),ReLU,Linear(5,3)", "net:...").layers[1]
        BatchNorm1d(5, batch=4)
        >>> parse_net("Conv2d(1,4,2,bias,size=3x3),BatchNorm2d(4,batch=4),ReLU,Linear(16,3)",
        ...           "net:...").layers[1]
        BatchNorm2d(4, batch=4)
        """
        plain, keys = call.plain, call.keys
        if len(plain) != 1 or set(keys) - {"eps", "affine", "batch"} or "batch" not in keys:
            raise call.fail(f"must be {cls.__name__}({cls.size_letter},batch=N) with options "
                            f"eps=a/b, affine=False")
        n = int(plain[0]) if plain[0].isdigit() else None
        batch = int(keys["batch"]) if keys["batch"].isdigit() else None
        value = keys.get("affine", "True")
        if value not in ("True", "False"):
            raise call.fail(f"must have affine=True or affine=False, not affine={value}")
        try:
            return cls(n, batch, keys.get("eps", DEFAULT_EPS), value == "True")
        except InputError as err:
            raise call.fail(str(err).removeprefix("Argument ").rstrip(".")) from None

    @staticmethod
    def forward(layer, run, a: list, shape):
        """Not on one example: the layer reads the whole batch (:meth:`forward_tokens`)."""
        raise ValueError(f"{layer[0]} normalises over the examples of a batch: it is a layer of "
                         f"a network on the batch's examples, not of one example")

    @staticmethod
    def forward_tokens(layer, run, tokens: list) -> list:
        """Each feature normalised over the examples (floats: a square root),
        then gamma, beta; numbered as one parametrised layer when affine."""
        _, m, eps, affine, N = layer
        if len(tokens) != N:
            raise ValueError(f"batch_norm takes a batch of {N} examples, not {len(tokens)}")
        out = [[0.0] * m for _ in range(N)]
        number = None
        if affine:
            number = run.layer = run.layer + 1
        for j in range(m):
            column = [Fraction(t[j]) for t in tokens]
            mean = sum(column) / N
            z = [v - mean for v in column]
            s = 1 / math.sqrt(sum(v * v for v in z) / N + Fraction(eps))
            for i in range(N):
                y = float(z[i]) * s
                if affine:
                    y = float(run.value(f"G{number}_{j}")) * y + float(run.value(f"b{number}_{j}"))
                out[i][j] = y
        return out

    # -- torch translation -----------------------------------------------------------

    @classmethod
    def _read(cls, reader, node, sub, batch: int, why_eps: str) -> tuple:
        """(the layer, what it reads) of a torch batch normalisation: its
        eps as the decimal it prints as (> 0; ``why_eps`` says why), its
        affine parameters if any."""
        if not sub.affine and (sub.weight is not None or sub.bias is not None):
            raise reader.refuse(node, "affine=False without parameters", "has parameters")
        eps = sub.eps
        q = Fraction(repr(eps)) if isinstance(eps, float) else Fraction(eps)
        if q <= 0:
            raise reader.refuse(node, f"eps > 0 ({why_eps})", f"has eps={eps!r}")
        reader.record(node, f"eps {eps!r} read as {q} (the decimal it prints as); training mode "
                            f"over a batch of {batch}")
        reads = ()
        if sub.affine:
            weight, bias = reader.own(node, sub, ("weight", "bias"))
            reads = reader.reads(weight, bias)
        return cls(sub.num_features, batch, q, bool(sub.affine)), reads

    #: How its torch refusals name the module ("is {subject}in eval mode").
    refusal_subject = ""

    @classmethod
    def _training_batch(cls, reader, node, sub) -> int:
        """N of a torch batch normalisation read in training mode with
        ``batch_size=N``; eval mode and a missing batch size refused."""
        batch = getattr(reader, "batch_size", None)
        what = cls.refusal_subject
        if not sub.training:
            raise reader.refuse(node, f"a {cls.__name__} in training mode (module.train()): "
                                      f"exactcl counts the model the gradient flow follows, with "
                                      f"batch statistics",
                                f"is {what}in eval mode, an affine map with the running "
                                f"statistics")
        if batch is None:
            raise reader.refuse(node, "from_torch(..., batch_size=N): in training mode one "
                                      "example's output depends on the whole batch",
                                f"is {what}read without a batch size")
        return batch

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        """``nn.BatchNorm1d`` in training mode on the (N, m) batch of a
        network read with ``batch_size=N``; eval mode, running statistics
        not tracked in training, and momentum options that change the
        forward are refused by name."""
        x = reader.single_input(node, sub)
        batch = cls._training_batch(reader, node, sub)
        if len(x.shape) != 2 or x.shape != (batch, sub.num_features):
            raise reader.refuse(node, f"a BatchNorm1d over vectors of {sub.num_features} "
                                      f"features (after a Linear)",
                                f"normalises an input of shape {x.shape[1:]} per example")
        layer, reads = cls._read(reader, node, sub, batch, "torch's training-mode forward "
                                 "refuses eps = 0; the eps = 0 model is BatchNorm1d(m, batch=N, "
                                 "eps=0) in exactcl's API")
        reader.per_token = getattr(reader, "per_token", None) or node
        return reader.append(node, x, layer, x.shape, reads, cost=4 * batch * sub.num_features)


@dataclass(frozen=True, repr=False)
class BatchNorm2d(BatchNorm1d):
    """Batch normalisation of the ``num_features`` channels of an image over
    a batch of ``batch`` examples, in training mode: per channel, (h - mean)
    / sqrt(var + eps) over the batch's examples and the image's positions
    (var the biased variance, as torch normalises), then gamma * y + beta
    when ``affine``. ``eps`` is an exact rational > 0. Only convolutions may
    come before it (the first with zero padding or not, later ones with
    padding 0: docs/design.md, BatchNorm2d).

    >>> BatchNorm2d(4, batch=8).spec(), BatchNorm2d(4, batch=2, affine=False).canonical()
    ('BatchNorm2d(4,batch=8)', ['batch_norm_2d', 4, '1/100000', False, 2])
    >>> BatchNorm2d(4, batch=8, eps=0)
    Traceback (most recent call last):
    ...
    exactcl.errors.InputError: Argument 'eps' of BatchNorm2d must be > 0 (with eps = 0 the batch statistics vanish at a batch of identical examples, where exactcl expands the model), not 0.
    """

    kinds = ("batch_norm_2d",)
    spec_heads = ("batchnorm2d",)
    spec_help = "BatchNorm2d(C,batch=N[,eps=a/b][,affine=False])"
    example = "BatchNorm2d(4, batch=8)"
    torch_modules = ("BatchNorm2d",)

    size_letter = "C"
    refusal_subject = "a BatchNorm2d "

    @staticmethod
    def options(layer) -> tuple[bool, bool, int]:
        """(eps = 0, affine, groups): each channel is its own group; eps > 0."""
        return False, layer[3], layer[1]

    def _check_eps(self) -> None:
        if self.eps == 0:
            raise InputError("Argument 'eps' of BatchNorm2d must be > 0 (with eps = 0 the batch "
                             "statistics vanish at a batch of identical examples, where exactcl "
                             "expands the model), not 0.")

    def output_shape(self, shape):
        return shape

    @staticmethod
    def forward_tokens(layer, run, tokens: list) -> list:
        """Each channel normalised over the examples and the positions
        (floats: a square root), then gamma, beta; numbered as one
        parametrised layer when affine. A token is an image flattened
        channel by channel."""
        _, C, eps, affine, N = layer
        if len(tokens) != N:
            raise ValueError(f"batch_norm_2d takes a batch of {N} examples, not {len(tokens)}")
        P = len(tokens[0]) // C
        out = [[0.0] * (C * P) for _ in range(N)]
        number = None
        if affine:
            number = run.layer = run.layer + 1
        for c in range(C):
            values = [Fraction(t[c * P + k]) for t in tokens for k in range(P)]
            mean = sum(values) / (N * P)
            s = 1 / math.sqrt(sum((v - mean) ** 2 for v in values) / (N * P) + Fraction(eps))
            for i in range(N):
                for k in range(P):
                    y = float(Fraction(tokens[i][c * P + k]) - mean) * s
                    if affine:
                        y = (float(run.value(f"G{number}_{c}")) * y
                             + float(run.value(f"b{number}_{c}")))
                    out[i][c * P + k] = y
        return out

    @classmethod
    def from_torch_module(cls, reader, node, sub):
        """``nn.BatchNorm2d`` in training mode in a network read with
        ``batch_size=N`` on images: every other layer reads one example (its
        shape (C, H, W)), this one the batch of N."""
        x = reader.single_input(node, sub)
        batch = cls._training_batch(reader, node, sub)
        if len(x.shape) != 3 or x.shape[0] != sub.num_features:
            raise reader.refuse(node, f"a BatchNorm2d over images of {sub.num_features} "
                                      f"channels (after a Conv2d)",
                                f"normalises an input of shape {x.shape} per example")
        layer, reads = cls._read(reader, node, sub, batch, "with eps = 0 the batch statistics "
                                 "vanish at a batch of identical examples, where exactcl "
                                 "expands the model")
        return reader.append(node, x, layer, x.shape, reads,
                             cost=4 * batch * math.prod(x.shape))
