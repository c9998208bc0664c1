"""Certified laws as torch functions of a module's parameters: every law of
one count evaluated together (:class:`TorchLaw`, sharing one vectorised
evaluation), and the phase-space point of torch's heavy ball for the laws of
a count under momentum (:class:`HeavyBall`).

Laws evaluate the exact polynomials in floating point (float64 by default):
they measure, they decide nothing. torch is imported only when a function
here is called.
"""

from __future__ import annotations

import math
import weakref

from ..kernel.errors import InputError


def _torch():
    try:
        import torch
    except ImportError:
        raise InputError("exactcl.from_torch needs PyTorch, which is not installed: "
                         "pip install 'exactcl[torch]'.") from None
    return torch


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
#: The laws' terms are laid out as a laws x (most terms of a law) table, the
#: shorter laws padded with zero terms, when that table holds at most this
#: many times the terms (one gather, a product and a sum; the per-neuron laws
#: of a ReLU network all have the same number of terms): a record of the
#: tutorial's 16 laws took about two thirds of the time of the matrix product
#: (benchmarks/bench_torch.py).
PADDED_FACTOR = 2


class _LawSet:
    """Every law at once, vectorised: the module's parameters flattened in
    their order with constants after them (1, each distinct coefficient,
    0), each term the product of its variables gathered with their
    multiplicities (x^2 y as x, x, y, padded with the 1) and of its
    coefficient, and each law the sum of its terms: laid out as a table of
    laws x terms (:data:`PADDED_FACTOR`), one gather, a product and a sum,
    whatever the number of laws; otherwise the matrix of coefficients times
    the terms (the terms summed by index when that matrix would be
    large)."""

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
        # the padded table: variable nvars + 1 + i is the i-th coefficient, the last the 0
        rows: list[list] = [[] for _ in laws]
        for f, (k, _, c) in zip(self.factors, self.coeffs):
            rows[k].append((f, c))
        longest = max(map(len, rows), default=0)
        self.padded = bool(terms) and len(laws) * longest <= PADDED_FACTOR * len(terms)
        self.constants = sorted({c for _, _, c in self.coeffs})
        if self.padded:
            slot = {c: nvars + 1 + i for i, c in enumerate(self.constants)}
            zero = [nvars + 1 + len(self.constants)] * (self.width + 1)
            self.table = [[f + [slot[c]] for f, c in row] + [zero] * (longest - len(row))
                          for row in rows]
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
            one = 2 * start + 1
        else:
            one = start
        # the 1, then (padded table) each coefficient and the 0
        index += [one + i for i in range(1 + (len(self.constants) + 1) * self.padded)]
        where = torch.tensor(index, dtype=torch.long)[torch.tensor(
            self.table if self.padded else self.factors, dtype=torch.long)]
        return owners, where

    def _one(self, dtype, device):
        """The constants after the parameters, made once per dtype and device:
        a 1, and for the padded table each coefficient and a 0."""
        key = ("one", dtype, device)
        got = self._cache.get(key)
        if got is None:
            torch = _torch()
            values = [1.0] + (self.constants + [0.0] if self.padded else [])
            with torch.inference_mode(False):  # kept for calls that autograd records
                got = self._cache[key] = torch.tensor(values, dtype=dtype, device=device)
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

    def snapshot(self, module):
        """(flat, where): the vector the laws are read from now, a new tensor
        (the parameters flattened, with the velocities and s under momentum,
        then the constants, in the laws' dtype), and where each term's
        factors lie in it. :meth:`evaluate` gives the laws from it, now or
        later (a monitor evaluates many snapshots at once)."""
        torch = _torch()
        dtype = self.dtype or torch.float64
        owners, where = self._layout(module)
        params = [table[attr] for table, attr in owners]
        parts = [p.reshape(-1) for p in params]
        if self.clock is not None:
            self.clock.check(params)
            parts += self.clock.velocities(params) + [self.clock.s(params[0])]
        like = params[0]
        if like.dtype == dtype:
            flat = torch.cat(parts + [self._one(dtype, like.device)])
        else:  # the coefficients in the laws' dtype, not rounded to the parameters'
            flat = torch.cat([torch.cat(parts).to(dtype), self._one(dtype, like.device)])
        if where.device != flat.device:
            where = where.to(flat.device)
        return flat, where

    def evaluate(self, flat, where):
        """The laws at a :meth:`snapshot` ``flat``, or at each row of a stack
        of snapshots (one more leading dimension)."""
        torch = _torch()
        got = flat[..., where]
        if self.padded:
            return got.prod(-1).sum(-1)
        terms = got.prod(-1)
        combine = self._combine(flat.dtype, flat.device)
        if isinstance(combine, tuple):
            coefficients, owner = combine
            return torch.zeros(flat.shape[:-1] + (self.n,), dtype=flat.dtype,
                               device=flat.device).index_add(terms.dim() - 1, owner,
                                                             terms * coefficients)
        return terms @ combine.T

    def values(self, module):
        torch = _torch()
        if not self.coeffs:
            return torch.zeros(self.n, dtype=self.dtype or torch.float64)
        return self.evaluate(*self.snapshot(module))


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
