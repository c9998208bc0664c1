"""PyTorch modules in: the exactcl program of what a module computes, a map
between its parameters and exactcl's, and the certified laws as torch
functions of the module's parameters.

:func:`from_torch` traces the module with ``torch.fx`` and reads its graph
node by node (:mod:`exactcl.torch.capture` says what is read and what is
refused; nothing is skipped), then checks the program against the module
itself: the program's exact output at the module's parameters against the
module's own forward, on random inputs. A module that exactcl cannot read
faithfully is refused in one line, never counted as another model.

The parameter map follows exactcl's names (:mod:`exactcl.kernel.blocks`): the
weight ``W{l}_{i}_{j}`` of the l-th parametrised layer is
``weight[i, j]`` of the torch parameter that layer reads, a kernel
``K{l}_{o}_{i}_{t}`` is ``weight[o, i, t]``, a bias ``b{l}_{i}`` is
``bias[i]``; attention's Q_h, K_h, V_h are rows of ``in_proj_weight``,
O_h columns of ``out_proj.weight``, its biases b_q, b_k, b_v entries of
``in_proj_bias`` and b_o ``out_proj.bias``. Each parameter is named as
``module.named_parameters()`` names it.

Laws as torch functions evaluate the exact polynomials in floating point
(float64 by default): they measure, they decide nothing.

torch is imported only when a function here is called; ``import exactcl``
never needs it.
"""

from __future__ import annotations

import dataclasses
import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from ..kernel.errors import InputError

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
    """What a torch module computes, as an exactcl program.

    ``program`` is the :class:`~exactcl.layers.program.Program`; ``parameter_map``
    lists, per exactcl parameter (in exactcl's order), ``(exactcl name,
    torch parameter name, index)``, and is the single truth of which torch
    entry each exactcl parameter is; ``nodes`` says how each node of the
    traced graph was read, ``(fx node, module path, what it became)``;
    ``checked`` says whether and how the program was compared with the
    module's own forward; ``logit_scale`` is the constant attention scales
    its logits by (torch: 1/sqrt(head_dim); it changes no law). ``frozen``
    lists the parameters with ``requires_grad=False``, ``(exactcl name,
    torch name, index, value)``, each value the rational the float was
    when the module was read: the flow does not move them, the count holds
    them at those values, and ``parameter_map`` lists the trained ones.

    :func:`exactcl.count`, :func:`exactcl.certify` and :func:`exactcl.laws`
    take a ``TorchModel`` as they take a program.
    """

    program: object
    parameter_map: tuple[tuple[str, str, tuple[int, ...]], ...]
    nodes: tuple = ()
    checked: str = "not checked against the module"
    logit_scale: float = 1.0
    frozen: tuple = ()

    @property
    def name(self) -> str:
        """The model's name: the program's, or with frozen parameters
        ``"frozen T1, T2 of SPEC"`` (T the frozen tensors)."""
        if not self.frozen:
            return self.program.name
        tensors = list(dict.fromkeys(t for _, t, _, _ in self.frozen))
        return f"frozen {', '.join(tensors)} of {self.program.spec}"

    def __exactcl_model__(self, max_memory=None):
        """The :class:`~exactcl.models.builtin.Model` the functions of exactcl count:
        the program's, or, with frozen parameters, the flow of the trained
        ones with the frozen ones held at their values
        (:func:`exactcl.models.builtin.with_constants`, phi expanded)."""
        from ..models.builtin import from_program, with_constants
        model = from_program(self.program, max_memory=max_memory)
        if not self.frozen:
            return model
        return with_constants(model, {ex: value for ex, _, _, value in self.frozen}, self.name)

    def count(self, **options):
        """The certified count (:func:`exactcl.count`)."""
        from ..engine.counting import count
        return count(self, **options)

    def certify(self, path=None, **options):
        """Count and certify (:func:`exactcl.certify`)."""
        from ..certificates.build import certify
        return certify(self, path, **options)

    def describe(self) -> str:
        """How the module was read: one line per node, then the check.

        >>> print(TorchModel(None, (), (("_0", "0", "Linear(2, 1)"),), "not checked").describe())
        _0 (0): Linear(2, 1)
        not checked
        """
        lines = [f"{node} ({where}): {what}" for node, where, what in self.nodes]
        if self.frozen:
            tensors = list(dict.fromkeys(t for _, t, _, _ in self.frozen))
            lines.append(f"frozen (held at their values when read): {', '.join(tensors)}")
        return "\n".join(lines + [self.checked])

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
                why = (" (torch's Nesterov option is the heavy ball with a look-ahead, not "
                       "the damping 3/t)" if flow.kind == "nesterov" else "")
                raise InputError(f"Argument 'result' is a count under {flow.text}; no torch "
                                 f"optimizer runs that flow{why}.")
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
        from ..kernel.rings import poly_terms
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

#: The output check of :func:`from_torch` runs by default when one exact
#: forward pass costs at most this many multiply-adds (about a second each
#: in rationals); ``check=True`` runs it at any size.
CHECK_MAX_COST = 2**19
#: Random inputs the output check compares the program and the module on.
CHECK_INPUTS = 3
#: Largest difference allowed between the module's forward in float64 and
#: the exact output, relative to the exact output's largest entry (or 1).
CHECK_TOLERANCE = 1e-8


def from_torch(module, example_input_shape: Sequence[int], *, check: bool | None = None
               ) -> TorchModel:
    """The exactcl program of what ``module`` computes, and the map of its
    parameters.

    ``example_input_shape`` is the shape of one input without the batch:
    ``(n,)`` for a dense network, ``(channels, length)`` or ``(channels,
    height, width)`` for a convolutional one, ``(tokens, d)`` for attention.
    The module is traced with ``torch.fx`` and read node by node
    (:mod:`exactcl.torch.capture` lists what is translated; anything else is
    refused in one line that names the node).

    ``check`` compares the program with the module itself: the program's
    exact output at the module's parameters (the rationals their floats
    are) against the module's forward in float64, on
    :data:`CHECK_INPUTS` random inputs; a difference is a refusal, never a
    certificate of another model. By default (None) it runs when an exact
    forward pass costs at most :data:`CHECK_MAX_COST` multiply-adds;
    ``True`` runs it whatever the size, ``False`` skips it. The result says
    which (``checked``).

    >>> import torch  # doctest: +SKIP
    >>> tm = from_torch(torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
    ...                                     torch.nn.Linear(4, 2)), (3,))  # doctest: +SKIP
    >>> tm.program.spec, tm.count().laws  # doctest: +SKIP
    ('net:Linear(3,4,bias),ReLU,Linear(4,2,bias)', 4)
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise InputError(f"Argument 'module' must be a torch.nn.Module, not "
                         f"{type(module).__name__}.")
    shape = _shape(example_input_shape)
    if check is not None and not isinstance(check, bool):
        raise InputError(f"Argument 'check' must be True, False or None (automatic), not "
                         f"{check!r}.")
    from .capture import capture
    got = capture(torch, module, shape)
    program, owners = _program(got)
    full = _parameter_map(program, owners)
    frozen = set(got.frozen)
    params = dict(module.named_parameters())
    held = tuple((ex, t, idx, Fraction(float(params[t].detach()[idx].item())))
                 for ex, t, idx in full if t in frozen)
    tm = TorchModel(program, tuple(e for e in full if e[1] not in frozen), tuple(got.nodes),
                    logit_scale=got.logit_scale, frozen=held)
    cost = got.cost * CHECK_INPUTS
    if check is False or (check is None and cost > CHECK_MAX_COST):
        why = ("check=False" if check is False else
               f"{cost} exact multiply-adds, above {CHECK_MAX_COST}: check=True runs it")
        return dataclasses.replace(tm, checked=f"not checked against the module ({why})")
    return dataclasses.replace(tm, checked=_check_output(torch, module, tm, shape))


def _shape(shape) -> tuple[int, ...]:
    if (not isinstance(shape, (tuple, list)) or not shape
            or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in shape)):
        raise InputError(f"Argument 'example_input_shape' must be the shape of one input "
                         f"without the batch, a tuple of positive ints such as (3,) or "
                         f"(1, 16), not {shape!r}.")
    return tuple(shape)


def _program(got):
    """The program of the captured steps, and per parametrised layer (in the
    program's order) its torch parameters ``{role: name}``."""
    from ..layers.program import Residual, net
    owners: list[dict] = []
    first_sized = [True]

    def layers(steps) -> list:
        out = []
        for step in steps:
            layer = step.layer
            if step.inner:
                out.append(Residual(*layers(step.inner)))
                continue
            if step.reads:
                owners.append({role: name for role, _, name in step.reads})
            if layer.size_name is not None:
                # the first convolution names its input size; later ones get it
                # from the layers before them, as a program written by hand does
                if not first_sized[0]:
                    layer = layer.without_size()
                first_sized[0] = False
            out.append(layer)
        return out

    built = layers(got.steps)
    try:
        program = net(*built)
    except InputError as err:
        spec = ",".join(layer.spec() for layer in built)
        raise InputError(f"Argument 'module' computes {spec}, which exactcl cannot express: "
                         f"{str(err).removeprefix('Argument ' + repr('layers') + ' ')}") from None
    return program, owners


def _parameter_map(program, owners: list[dict]) -> list[tuple[str, str, tuple[int, ...]]]:
    """(exactcl name, torch name, index) per exactcl parameter, in order."""
    out = []
    if owners and "in_proj_weight" in owners[0] and len(program.layers) == 1:
        return program.layers[0].torch_parameter_map(program.parameters, owners[0])
    attention = _attention_of(program)
    for name in program.parameters:
        head, *idx = name.split("_")
        if attention is not None and (head[0] in "QKVO" or head[:2] in ("bq", "bk", "bv", "bo")):
            # attention in a network (its only other layers: dense, W{l} and b{l})
            owner = next(o for o in owners if "in_proj_weight" in o)
            out += attention.torch_parameter_map([name], owner)
            continue
        kind, layer = head[0], int(head[1:])
        role = "bias" if kind == "b" else "weight"
        out.append((name, owners[layer - 1][role], tuple(int(i) for i in idx)))
    return out


def _attention_of(program):
    """The attention layer of a program (nested in residual blocks too), or None."""
    stack = list(program.layers)
    while stack:
        layer = stack.pop()
        if type(layer).__name__ == "Attention":
            return layer
        stack.extend(layer.children)
    return None


def _check_output(torch, module, tm: TorchModel, shape) -> str:
    """Compare the program's exact output with the module's forward on random
    inputs; refuse on a difference. Returns what was checked."""
    from ..layers.forward import output
    params = dict(module.named_parameters())
    values = {ex: value for ex, _, _, value in tm.frozen}
    cache: dict = {}
    for ex, tname, idx in tm.parameter_map:
        flat = cache.get(tname)
        if flat is None:
            flat = cache[tname] = params[tname].detach().to("cpu", torch.float64)
        values[ex] = Fraction(float(flat[idx]))
    generator = torch.Generator().manual_seed(0)
    x = torch.randn((CHECK_INPUTS,) + tuple(shape), generator=generator, dtype=torch.float64)
    state = {name: t.detach().to(torch.float64) if t.is_floating_point() else t
             for name, t in list(module.named_parameters()) + list(module.named_buffers())}
    device = next(module.parameters()).device
    with torch.no_grad():
        if isinstance(module, torch.nn.MultiheadAttention):
            got = torch.stack([torch.func.functional_call(
                module, state, (s.to(device), s.to(device), s.to(device)))[0] for s in x])
        else:
            got = torch.func.functional_call(module, {k: v.to(device) for k, v in state.items()},
                                             (x.to(device),))
    got = got.reshape(CHECK_INPUTS, -1).to("cpu")
    canonical = tm.program.canonical()
    worst = 0.0
    for n in range(CHECK_INPUTS):
        exact = output(canonical, values, [Fraction(v) for v in x[n].reshape(-1).tolist()],
                       logit_scale=tm.logit_scale)
        if len(exact) != got.shape[1]:
            raise InputError(f"Argument 'module' gives {got.shape[1]} outputs per input but its "
                             f"translation {tm.program.spec} gives {len(exact)}: refused rather "
                             f"than counted as another model.")
        scale = max(1.0, max(abs(float(v)) for v in exact))
        for k, (e, t) in enumerate(zip(exact, got[n].tolist())):
            gap = abs(float(e) - t) / scale
            if not gap <= CHECK_TOLERANCE:
                raise InputError(f"Argument 'module' is not what exactcl read: on a random "
                                 f"input, output entry {k} of the module is {t:.17g} and of "
                                 f"its translation {tm.program.spec} {float(e):.17g}; refused "
                                 f"rather than counted as another model.")
            worst = max(worst, gap)
    return (f"output equals the module's forward on {CHECK_INPUTS} random inputs (largest "
            f"relative difference {worst:.1e}, float64 against exact)")
