"""PyTorch modules in: the exactcl program of a module's architecture, a map
between its parameters and exactcl's, and the certified laws as torch
functions of the module's parameters.

Translated layers (anything else is refused with one line naming the layer
and its type, never a partial model):

* ``nn.Sequential`` (nested too), ``nn.Linear`` (with or without bias),
  ``nn.ReLU``, ``nn.Flatten`` (before a dense layer after a convolution);
* ``nn.Conv1d`` / ``nn.Conv2d`` with valid padding (``padding=0``),
  ``dilation=1``, ``groups=1``, any stride, with or without bias;
* residual blocks: :class:`Residual` (``x + block(x)``), or any module whose
  ``forward`` is ``x + f(x)`` for a chain f of its submodules, found by
  tracing it with ``torch.fx``;
* ``nn.MultiheadAttention`` without biases (``bias=False``, equal key,
  query and value dimensions), alone: its projections give
  Q_h, K_h, V_h (rows of ``in_proj_weight``) and O_h (columns of
  ``out_proj.weight``), the factorisation of :class:`exactcl.program.Attention`.

The parameter map follows exactcl's names (:mod:`exactcl.blocks`): the
weight ``W{l}_{i}_{j}`` of the l-th parametrised layer is
``weight[i, j]`` of that ``nn.Linear``, a kernel ``K{l}_{o}_{i}_{t}`` is
``weight[o, i, t]``, a bias ``b{l}_{i}`` is ``bias[i]``.

Laws as torch functions evaluate the exact polynomials in floating point
(float64 by default): they measure, they decide nothing.

torch is imported only when a function here is called; ``import exactcl``
never needs it.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import InputError

__all__ = ["HeavyBall", "TorchLaw", "TorchModel", "from_torch"]  # and Residual, built on first use


def _torch():
    try:
        import torch
    except ImportError:
        raise InputError("exactcl.from_torch needs PyTorch, which is not installed: "
                         "pip install 'exactcl[torch]'.") from None
    return torch


def _residual_class():
    torch = _torch()

    class Residual(torch.nn.Module):
        """x -> x + block(x): the residual pattern :func:`from_torch` reads."""

        def __init__(self, *layers):
            super().__init__()
            self.block = layers[0] if len(layers) == 1 else torch.nn.Sequential(*layers)

        def forward(self, x):
            return x + self.block(x)

    return Residual


_RESIDUAL = None


def __getattr__(name: str):
    if name == "Residual":
        global _RESIDUAL
        if _RESIDUAL is None:
            _RESIDUAL = _residual_class()
        return _RESIDUAL
    raise AttributeError(name)


@dataclass(frozen=True)
class TorchModel:
    """A torch module's architecture as an exactcl program.

    ``parameter_map`` lists, per exactcl parameter (in exactcl's order),
    ``(exactcl name, torch parameter name, index)``.
    """

    program: object
    parameter_map: tuple[tuple[str, str, tuple[int, ...]], ...]

    def count(self, **options):
        """The certified count of the program (:func:`exactcl.count`)."""
        from .counting import count
        return count(self.program, **options)

    def certify(self, path=None, **options):
        """Count and certify the program (:func:`exactcl.certify`)."""
        from .certificate import certify
        return certify(self.program, path, **options)

    def laws(self, result=None, *, optimizer=None, dtype=None) -> list[TorchLaw]:
        """The exhibited laws of ``result`` (default: a new count) as functions
        of a module's parameters.

        A count under a metric (``flow="metric:diag"``) gives laws in the
        parameters alone, as the gradient flow's. A count under the heavy
        ball (``flow="momentum:TAU"``) gives laws in (s, theta, theta') and
        needs ``optimizer``, the ``torch.optim.SGD`` that trains the module
        with heavy-ball momentum (:class:`HeavyBall` says how its steps
        discretise the flow and which settings it accepts); the laws must
        be made before its first step, since they count the steps from
        there.
        """
        if result is None:
            result = self.count()
        flow = result.flow
        clock = None
        if flow is not None and flow.lifted:
            if flow.kind != "momentum":
                raise InputError(f"Argument 'result' is a count under {flow.text}; no torch "
                                 f"optimizer runs that flow (torch's Nesterov option is the "
                                 f"heavy ball with a look-ahead, not the damping 3/t).")
            clock = HeavyBall(optimizer, flow.tau)
        elif optimizer is not None:
            raise InputError("Argument 'optimizer' is for a count under momentum; these laws "
                             "are functions of the parameters alone.")
        shared = _LawSet(self.parameter_map, result.exhibited, result.ring, dtype, clock)
        labels = result.exhibited_labels or tuple("" for _ in result.exhibited)
        return [TorchLaw(shared, k, label, text)
                for k, (label, text) in enumerate(zip(labels, result.laws_strings()))]


class HeavyBall:
    """The phase-space point (s, theta, theta') of the heavy-ball flow
    theta'' + tau theta' = -grad E along torch's SGD with momentum.

    torch's step ``b <- mu b + g``, ``theta <- theta - lr b`` is the
    discretisation (theta_(k+1) - 2 theta_k + theta_(k-1)) / h^2
    + tau (theta_k - theta_(k-1)) / h = -g_k of the flow with time step
    h = sqrt(lr) and damping tau = (1 - mu) / sqrt(lr). So after k steps the
    time is t = k h, the velocity theta' = (theta_k - theta_(k-1)) / h =
    -sqrt(lr) b (zero before the first step), and s = exp(tau t) (s = t
    when tau = 0). The optimizer must be ``torch.optim.SGD`` with
    momentum, no dampening, no Nesterov look-ahead, no weight decay, one
    learning rate and momentum for every parameter, matching the count's
    tau (to 1e-9, relatively): mu = 1 - tau sqrt(lr). Steps are counted by a
    hook on the optimizer from when the laws are made.
    """

    #: Relative tolerance on (1 - mu) / sqrt(lr) = tau (floats in, tau rational).
    TOLERANCE = 1e-9

    def __init__(self, optimizer, tau) -> None:
        torch = _torch()
        if not isinstance(optimizer, torch.optim.SGD):
            raise InputError(f"Argument 'optimizer' must be the torch.optim.SGD with momentum "
                             f"that trains the module (the laws of a count under momentum "
                             f"read its velocity), not {_name(optimizer)}.")
        groups = optimizer.param_groups
        settings = {(g["lr"], g["momentum"], g["dampening"], bool(g["nesterov"]),
                     g["weight_decay"]) for g in groups}
        if len(settings) != 1:
            raise InputError("Argument 'optimizer' must use one learning rate and momentum "
                             "for every parameter group (one time step and damping).")
        lr, mu, dampening, nesterov, decay = settings.pop()
        lr = float(lr)
        for bad, what in ((nesterov, "nesterov=True (a look-ahead step)"),
                          (dampening != 0, f"dampening={dampening}"),
                          (decay != 0, f"weight_decay={decay} (another loss)"),
                          (mu == 0, "momentum=0 (plain gradient descent)")):
            if bad:
                raise InputError(f"Argument 'optimizer' must run the heavy ball: SGD with "
                                 f"momentum > 0, dampening=0, nesterov=False, "
                                 f"weight_decay=0, not {what}.")
        damping = (1 - mu) / lr ** 0.5
        if abs(damping - float(tau)) > self.TOLERANCE * max(1.0, float(tau)):
            raise InputError(
                f"Argument 'optimizer' runs the heavy ball with damping (1 - momentum) / "
                f"sqrt(lr) = {damping:.6g} (lr={lr:g}, momentum={mu:g}), but the count is "
                f"under momentum tau={tau}: choose momentum = 1 - tau*sqrt(lr) = "
                f"{1 - float(tau) * lr ** 0.5:.6g}, or count with flow='momentum:...' of "
                f"that damping.")
        self.optimizer, self.lr, self.momentum, self.tau = optimizer, lr, mu, tau
        self.h = lr ** 0.5
        self.steps = 0
        # the optimizer holds its parameters, so their ids stay theirs
        self._trained = {id(p) for g in optimizer.param_groups for p in g["params"]}
        optimizer.register_step_post_hook(self._count)

    def _count(self, optimizer, args, kwargs) -> None:
        self.steps += 1

    @property
    def time(self) -> float:
        """t = steps * sqrt(lr)."""
        return self.steps * self.h

    def check(self, params) -> None:
        """Refuse a module the optimizer does not train, or settings changed
        since the laws were made (a new step or damping: another flow)."""
        now = {(float(g["lr"]), g["momentum"]) for g in self.optimizer.param_groups}
        if now != {(self.lr, self.momentum)}:
            raise InputError(f"Argument 'optimizer' changed its learning rate or momentum "
                             f"since the laws were made (lr={self.lr:g}, "
                             f"momentum={self.momentum:g}); the laws are those of one flow.")
        if any(id(p) not in self._trained for p in params):
            raise InputError("Argument 'optimizer' does not train every parameter of the "
                             "module the laws were asked of.")

    def velocities(self, params) -> list:
        """theta' = -sqrt(lr) b per parameter (zero before the first step)."""
        torch = _torch()
        out = []
        for p in params:
            buf = self.optimizer.state.get(p, {}).get("momentum_buffer")
            out.append(torch.zeros_like(p).reshape(-1) if buf is None
                       else (-self.h) * buf.reshape(-1))
        return out

    def s(self, like):
        """s = exp(tau t) (t when tau = 0), as a one-element tensor."""
        t = self.time
        try:
            value = t if self.tau == 0 else math.exp(float(self.tau) * t)
        except OverflowError:  # past float64: the laws read inf, and a monitor says so
            value = math.inf
        return _torch().full((1,), value, dtype=like.dtype, device=like.device)


def _name(value) -> str:
    return f"a {type(value).__module__}.{type(value).__qualname__}" if value is not None \
        else "None"


#: Largest laws x terms matrix of coefficients kept dense (8 MB in float64);
#: beyond it the terms are summed per law by index.
DENSE_ENTRIES = 2**20


class _LawSet:
    """Every law at once, vectorised: the module's parameters flattened in
    their order with a 1 after them, each term the product of its variables
    gathered with their multiplicities (x^2 y as x, x, y, padded with the 1),
    and the laws the matrix of coefficients times the terms: four torch
    operations, whatever the number of laws (the terms summed by index
    instead when that matrix would be large)."""

    def __init__(self, pmap, laws, ring, dtype, clock=None) -> None:
        from .rings import poly_terms
        self.pmap, self.dtype, self.clock = pmap, dtype, clock
        terms = [(k, mono, c) for k, h in enumerate(laws) for mono, c in poly_terms(h)]
        # each term's variables repeated by their exponents; D stands for the 1
        factors = [[v for v, e in mono for _ in range(e)] for _, mono, _ in terms]
        self.width = max(map(len, factors), default=1) or 1
        nvars = len(pmap) if clock is None else 2 * len(pmap) + 1  # (s, theta, theta')
        self.factors = [f + [nvars] * (self.width - len(f)) for f in factors]
        self.coeffs = [(k, t, float(c)) for t, (k, _, c) in enumerate(terms)]
        self.n, self.nterms = len(laws), len(terms)
        self._cache: dict = {}
        # per module, kept while it lives (an id could name a later module)
        self._layouts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _layout(self, module):
        """Where the module's parameters are (each as its submodule's table
        and name, so that a parameter replaced later is read as it is then)
        and where each term's factors lie in them flattened, the 1 at the
        end; built once per module."""
        got = self._layouts.get(module)
        if got is None:
            torch = _torch()
            with torch.inference_mode(False):  # kept for calls that autograd records
                got = self._layouts[module] = self._locate(module)
        return got

    def _locate(self, module):
        """The tables of the module's parameters, and where the factors lie."""
        torch = _torch()
        params = dict(module.named_parameters())
        offsets, start, owners = {}, 0, []
        for name, p in params.items():
            offsets[name] = start
            start += p.numel()
            path, _, attr = name.rpartition(".")
            # the submodule's table of parameters, which assigning a new
            # parameter updates: read as cheaply as a dict
            owners.append((module.get_submodule(path)._parameters, attr))
        index = []
        for ex, tname, idx in self.pmap:
            if tname not in params:
                raise InputError(f"Argument 'module' has no parameter {tname!r} (exactcl's "
                                 f"{ex}); laws apply to the module they were made from.")
            p = params[tname]
            flat = 0
            for size, i in zip(p.shape, idx):
                flat = flat * size + i
            index.append(offsets[tname] + flat)
        if self.clock is not None:
            # the ring's (s, theta, theta'): s and the velocities follow the
            # parameters in the flattened vector, velocities in the same order
            index = [2 * start] + index + [start + i for i in index]
            index.append(2 * start + 1)  # the 1
        else:
            index.append(start)  # the 1
        where = torch.tensor(index, dtype=torch.long)[torch.tensor(self.factors,
                                                                    dtype=torch.long)]
        return owners, where

    def _one(self, like):
        """A 1 of the parameters' dtype and device, made once."""
        key = ("one", like.dtype, like.device)
        got = self._cache.get(key)
        if got is None:
            torch = _torch()
            with torch.inference_mode(False):  # kept for calls that autograd records
                got = self._cache[key] = torch.ones(1, dtype=like.dtype, device=like.device)
        return got

    def _combine(self, dtype, device):
        """How the terms sum to the laws (built once per dtype and device): the
        laws x terms matrix of coefficients, or, when that matrix would pass
        :data:`DENSE_ENTRIES`, the coefficients and the law of each term."""
        key = ("coefficients", dtype, device)
        got = self._cache.get(key)
        if got is None:
            torch = _torch()
            with torch.inference_mode(False):  # kept for calls that autograd records
                got = self._cache[key] = self._coefficients(dtype, device)
        return got

    def _coefficients(self, dtype, device):
        torch = _torch()
        if self.n * self.nterms <= DENSE_ENTRIES:
            matrix = torch.zeros(self.n, self.nterms, dtype=dtype)
            for k, t, c in self.coeffs:
                matrix[k, t] = c
            return matrix.to(device)
        return (torch.tensor([c for _, _, c in self.coeffs], dtype=dtype, device=device),
                torch.tensor([k for k, _, _ in self.coeffs], dtype=torch.long, device=device))

    def values(self, module):
        torch = _torch()
        dtype = self.dtype or torch.float64
        if not self.coeffs:
            return torch.zeros(self.n, dtype=dtype)
        owners, where = self._layout(module)
        params = [table[attr] for table, attr in owners]
        parts = [p.reshape(-1) for p in params]
        if self.clock is not None:
            self.clock.check(params)
            parts += self.clock.velocities(params) + [self.clock.s(params[0])]
        flat = torch.cat(parts + [self._one(params[0])])
        if flat.dtype != dtype:
            flat = flat.to(dtype)
        if where.device != flat.device:
            where = where.to(flat.device)
        terms = torch.prod(torch.take(flat, where), dim=1)
        combine = self._combine(dtype, flat.device)
        if isinstance(combine, tuple):
            coefficients, owner = combine
            return torch.zeros(self.n, dtype=dtype, device=flat.device).index_add(
                0, owner, terms * coefficients)
        return combine @ terms


class TorchLaw:
    """One law as a torch function: ``law(module)`` is a 0-dim tensor,
    differentiable in the module's parameters; ``label`` says where it comes
    from, ``text`` is the polynomial as exactcl prints it. ``law.all(module)``
    gives every law of the same count at once (cheaper than one by one)."""

    def __init__(self, shared: _LawSet, k: int, label: str, text: str) -> None:
        self._shared, self._k, self.label, self.text = shared, k, label, text

    def __call__(self, module):
        return self._shared.values(module)[self._k]

    def all(self, module):
        return self._shared.values(module)

    @property
    def group(self) -> object:
        """What the laws of one count share: ``law.all`` evaluates them together."""
        return self._shared

    @property
    def index(self) -> int:
        """This law's place in ``law.all(module)``."""
        return self._k

    def __repr__(self) -> str:
        return f"TorchLaw({self.label or self.text!r})"


# -- translation ----------------------------------------------------------------------

def from_torch(module, example_input_shape: Sequence[int]) -> TorchModel:
    """The exactcl program of ``module`` and the map of its parameters.

    ``example_input_shape`` is the shape of one input without the batch:
    ``(n,)`` for a dense network, ``(channels, length)`` or ``(channels,
    height, width)`` for a convolutional one, ``(tokens, d)`` for attention.

    >>> import torch  # doctest: +SKIP
    >>> tm = from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
    ...                                     torch.nn.Linear(4, 2)), (3,))  # doctest: +SKIP
    >>> tm.program.spec, tm.count().laws  # doctest: +SKIP
    ('net:Linear(3,4,bias),ReLU,Linear(4,2,bias)', 4)
    """
    torch = _torch()
    nn = torch.nn
    if not isinstance(module, nn.Module):
        raise InputError(f"Argument 'module' must be a torch.nn.Module, not "
                         f"{type(module).__name__}.")
    shape = _shape(example_input_shape)
    from .program import net
    if isinstance(module, nn.MultiheadAttention):
        return _attention(module, shape)
    layers, owners = [], []
    _walk(module, "", shape, layers, owners, nn)
    if not layers:
        raise InputError("Argument 'module' has no layer exactcl can translate.")
    program = net(*layers)
    return TorchModel(program, tuple(_parameter_map(program, owners)))


def _shape(shape) -> tuple[int, ...]:
    if (not isinstance(shape, (tuple, list)) or not shape
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape)):
        raise InputError(f"Argument 'example_input_shape' must be the shape of one input "
                         f"without the batch, a tuple of positive ints such as (3,) or "
                         f"(1, 16), not {shape!r}.")
    return tuple(shape)


def _refuse(path: str, child) -> InputError:
    where = path or "(the module itself)"
    return InputError(f"Argument 'module' has a layer exactcl cannot express: {where} is a "
                      f"{type(child).__name__}.")


def _walk(m, path: str, shape, layers: list, owners: list, nn, inside=None) -> None:
    """Append the layers of module ``m`` (at ``path``) and, per parametrised
    layer, its torch module path; ``shape`` is the running input shape
    (a list, updated), or None once unknown."""
    from .program import Conv1d, Conv2d, Linear, ReLU
    target = layers if inside is None else inside
    if isinstance(m, nn.Sequential):
        for name, child in m.named_children():
            _walk(child, f"{path}.{name}" if path else name, shape, layers, owners, nn, inside)
        return
    if isinstance(m, nn.Linear):
        target.append(Linear(m.in_features, m.out_features, bias=m.bias is not None))
        owners.append(path)
        return
    if isinstance(m, nn.ReLU):
        target.append(ReLU())
        return
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise InputError(f"Argument 'module' has a Flatten at {path} over dimensions "
                             f"{m.start_dim}..{m.end_dim}; only the default (all but the "
                             f"batch) is translated.")
        return
    if isinstance(m, (nn.Conv1d, nn.Conv2d)):
        dims = 1 if isinstance(m, nn.Conv1d) else 2
        if (any(p != 0 for p in m.padding) if not isinstance(m.padding, str) else
                m.padding != "valid") or any(d != 1 for d in m.dilation) or m.groups != 1:
            raise InputError(f"Argument 'module' has a {type(m).__name__} at {path} with "
                             f"padding {m.padding}, dilation {m.dilation}, groups {m.groups}; "
                             f"exactcl translates valid convolutions (padding 0, dilation 1, "
                             f"groups 1).")
        size = None
        if not any(isinstance(x, (Conv1d, Conv2d)) for x in layers) and inside is None:
            if len(shape) != dims + 1 or shape[0] != m.in_channels:
                raise InputError(f"Argument 'example_input_shape' must be (channels, "
                                 f"{'length' if dims == 1 else 'height, width'}) = "
                                 f"({m.in_channels}, ...) for the {type(m).__name__} at {path}, "
                                 f"not {shape}.")
            size = shape[1] if dims == 1 else tuple(shape[1:])
        cls = Conv1d if dims == 1 else Conv2d
        kernel = m.kernel_size[0] if dims == 1 else tuple(m.kernel_size)
        stride = m.stride[0] if dims == 1 else tuple(m.stride)
        target.append(cls(m.in_channels, m.out_channels, kernel, stride, m.bias is not None,
                          size))
        owners.append(path)
        return
    inner = _residual_children(m, nn)
    if inner is not None:
        from .program import Residual
        block: list = []
        for name, child in inner:
            _walk(child, f"{path}.{name}" if path else name, shape, layers, owners, nn, block)
        target.append(Residual(*block))
        return
    raise _refuse(path, m)


def _residual_children(m, nn):
    """The chain f of a module whose forward is ``x + f(x)`` (or ``f(x) + x``),
    as (name, submodule) pairs, or None."""
    import operator
    try:
        import torch.fx as fx
        graph = fx.symbolic_trace(m).graph
    except Exception:  # not traceable: not this pattern
        return None
    nodes = list(graph.nodes)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    outputs = [n for n in nodes if n.op == "output"]
    if len(placeholders) != 1 or len(outputs) != 1:
        return None
    x, result = placeholders[0], outputs[0].args[0]
    if not (getattr(result, "op", None) == "call_function"
            and result.target in (operator.add, _torch().add) and len(result.args) == 2):
        return None
    a, b = result.args
    other = b if a is x else a if b is x else None
    if other is None:
        return None
    chain = []
    node = other
    while node is not x:
        if node.op != "call_module" or len(node.args) != 1:
            return None
        chain.append(node.target)
        node = node.args[0]
    if not chain:
        return None
    named = dict(m.named_modules())
    return [(name, named[name]) for name in reversed(chain)]


def _parameter_map(program, owners: list[str]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(exactcl name, torch name, index) per exactcl parameter, in order."""
    out = []
    for name in program.parameters:
        head, *idx = name.split("_")
        kind, layer = head[0], int(head[1:])
        owner = owners[layer - 1]
        prefix = f"{owner}." if owner else ""
        tname = f"{prefix}{'bias' if kind == 'b' else 'weight'}"
        out.append((name, tname, tuple(int(i) for i in idx)))
    return out


def _attention(m, shape) -> TorchModel:
    from .program import Attention, net
    if (m.in_proj_bias is not None or m.out_proj.bias is not None or m.bias_k is not None
            or not m._qkv_same_embed_dim):
        raise InputError("Argument 'module' is a MultiheadAttention with biases or separate "
                         "key and value dimensions; exactcl translates bias=False, "
                         "kdim = vdim = embed_dim (its factorisation through Q_h^T K_h and "
                         "V_h^T O_h is then polynomial).")
    if len(shape) != 2 or shape[1] != m.embed_dim:
        raise InputError(f"Argument 'example_input_shape' must be (tokens, {m.embed_dim}) for "
                         f"the MultiheadAttention, not {shape}.")
    d, heads = m.embed_dim, m.num_heads
    k = d // heads
    program = net(Attention(d, heads, k, tokens=shape[0]))
    out = []
    for name in program.parameters:
        head, a, b = name.split("_")
        letter, h = head[0], int(head[1:])
        a, b = int(a), int(b)
        if letter in "QKV":
            row = "QKV".index(letter) * d + h * k + a
            out.append((name, "in_proj_weight", (row, b)))
        else:  # O_h[a, b] = out_proj.weight[b, h k + a]
            out.append((name, "out_proj.weight", (b, h * k + a)))
    return TorchModel(program, tuple(out))
