"""Drift of the conservation laws along real training, in floating point.

Gradient *flow* conserves every law h exactly; gradient *descent* with
step eta changes h by O(eta^2) per step (the first-order term is
grad h . grad L = 0), so after a fixed number of steps the drift of the
laws shrinks like eta^2 while quantities that are not conserved move by
O(1). :func:`drift` trains the model by plain gradient descent on random
data and measures both; :func:`exactcl.interfaces.plots.drift_figure` draws them.

This module illustrates, it proves nothing: it is the only place where
exactcl computes in floating point, and no count depends on it. It needs
NumPy (installed with the ``plot`` extra).

Models: ``linear:...`` is the deep linear network x -> W_L ... W_1 x and
``relu:...`` / ``relu-bias:...`` the ReLU network (biases on the hidden
layers), both trained on the mean squared error of random Gaussian inputs
against random Gaussian targets. Any other model (``product:D``, a custom
phi) is trained on L(theta) = |phi(theta) - y|^2 / 2 for a random target
y, a loss that factors through phi as the theory requires.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..kernel.errors import InputError, UnsupportedError, bad_argument

__all__ = ["DEFAULT_STEP_SIZES", "DEFAULT_STEPS", "MAX_STEPS", "MAX_STEP_SIZES", "Drift",
           "drift"]

#: Step sizes and number of steps of the default experiment. The eta^2 law
#: holds as eta -> 0 at a fixed number of steps, i.e. while steps * eta is
#: short against the time scale of the training (here about 0.04 time
#: units: the squared norm moves by 0.5-10 %); over long training the
#: accumulated drift grows like eta * time instead (fitted exponents near 1
#: for 200 steps up to eta = 0.02 on the built-in nets). The drift stays
#: far above rounding (about 1e-16 per step).
DEFAULT_STEP_SIZES = (0.0001, 0.0002, 0.0004, 0.0008)
DEFAULT_STEPS = 50
#: Most gradient steps per run and most step sizes of one experiment, refused
#: before any work beyond them: the eta^2 law is about few steps (see above),
#: and 10,000 steps of each of 10 step sizes already take minutes on a
#: mid-sized net (about 0.1 ms a step on relu:4,8,8,4, more with many laws).
MAX_STEPS = 10_000
MAX_STEP_SIZES = 10
#: Random samples of the data set.
SAMPLES = 32


def _numpy():
    try:
        import numpy
    except ImportError:
        raise UnsupportedError("Training needs NumPy: pip install 'exactcl[plot]'.") from None
    return numpy


@dataclass(frozen=True)
class Drift:
    """What :func:`drift` measured.

    Attributes
    ----------
    model : str
    laws : tuple of str
        The laws tracked (the count's exhibited laws), in SymPy syntax.
    steps : int
    step_sizes : tuple of float
    law_values : dict
        step size -> array of shape (steps + 1, len(laws)): h(theta_t) / h(theta_0) - 1.
    other : dict
        step size -> array of shape (steps + 1,): |theta_t|^2 / |theta_0|^2 - 1,
        a quantity gradient descent does not conserve.
    loss : dict
        step size -> array of shape (steps + 1,): the training loss.
    final : tuple of float
        Per step size, the largest |h(theta_T) / h(theta_0) - 1| over the laws.
    exponent : float
        Least-squares slope of log(final) against log(step size): about 2.
    labels : tuple of str
        Where each law comes from (the count's ``exhibited_labels``), e.g.
        ``"neuron 0 of hidden layer 1"``.
    """

    model: str
    laws: tuple[str, ...]
    steps: int
    step_sizes: tuple[float, ...]
    law_values: dict
    other: dict
    loss: dict
    final: tuple[float, ...]
    exponent: float
    labels: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return (f"Drift({self.model!r}, {len(self.laws)} laws, {self.steps} steps, "
                f"exponent={self.exponent:.3f})")


def slope(xs, ys) -> float:
    """Least-squares slope of log(ys) against log(xs).

    >>> round(slope([1, 2, 4], [3, 12, 48]), 6)
    2.0
    """
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return (sum((a - mx) * (b - my) for a, b in zip(lx, ly))
            / sum((a - mx) ** 2 for a in lx))


def drift(model, *, step_sizes=DEFAULT_STEP_SIZES, steps: int = DEFAULT_STEPS,
          seed: int = 0, result=None) -> Drift:
    """Train ``model`` by gradient descent with each step size, from one
    random start, and measure how far its laws and its squared norm move.

    Parameters
    ----------
    model : Model
    step_sizes : sequence of float
        Two to :data:`MAX_STEP_SIZES` positive step sizes (the exponent is
        fitted across them).
    steps : int
        Gradient steps per run, at most :data:`MAX_STEPS`.
    seed : int
        Seed of the data and of the starting point (the result is
        deterministic).
    result : CountResult, optional
        A count of ``model`` already made (its exhibited laws are tracked).

    Raises
    ------
    UnsupportedError
        When the model has no exhibited polynomial law to track, or NumPy
        is missing.
    InputError
        For bad arguments, or when gradient descent diverges (a step size
        too large for the model).

    Examples
    --------
    >>> import exactcl
    >>> d = drift(exactcl.linear([2, 2, 2]))
    >>> len(d.laws), 1.8 < d.exponent < 2.2
    (3, True)
    """
    np = _numpy()
    from ..engine.counting import count
    from ..models.builtin import Model
    if not isinstance(model, Model):
        raise bad_argument("model", "an exactcl Model", model)
    sizes = tuple(step_sizes) if not isinstance(step_sizes, (str, bytes)) else ()
    if not 2 <= len(sizes) <= MAX_STEP_SIZES or not all(
            isinstance(s, (int, float)) and not isinstance(s, bool) and 0 < s < math.inf
            for s in sizes):
        raise bad_argument("step_sizes", f"between two and {MAX_STEP_SIZES} positive numbers",
                           step_sizes)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        raise bad_argument("steps", f"an int from 1 to {MAX_STEPS:,}", steps)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise bad_argument("seed", "a non-negative int", seed)
    if result is None:
        result = count(model, seed=seed)
    if not result.exhibited:
        raise UnsupportedError(f"Model {model.name} has no exhibited polynomial law to track "
                               f"(its count is proved by {result.proof}).")
    rng = np.random.default_rng(seed)
    loss_and_grad, theta0 = _problem(model, rng, np)
    law_fns = [_numeric_poly(h, model.ring, np) for h in result.exhibited]
    h0 = np.array([f(theta0) for f in law_fns])
    if np.any(h0 == 0):
        raise InputError(f"A law of {model.name} vanishes at the random start; choose "
                         f"another seed.")
    n0 = float(theta0 @ theta0)
    law_values, other, losses = {}, {}, {}
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
        for eta in sizes:
            law_values[eta], other[eta], losses[eta] = _descend(
                eta, steps, theta0, loss_and_grad, law_fns, model.name, np)
    for eta in sizes:
        law_values[eta] = law_values[eta] / h0 - 1
        other[eta] = other[eta] / n0 - 1
    final = tuple(float(np.max(np.abs(law_values[eta][-1]))) for eta in sizes)
    if min(final) <= 0:
        raise InputError(f"The laws of {model.name} did not move at all with step sizes "
                         f"{sizes}; the exponent cannot be fitted.")
    return Drift(model.name, tuple(result.laws_strings()), steps, sizes, law_values, other,
                 losses, final, slope(sizes, final), tuple(result.exhibited_labels))


def _descend(eta, steps, theta0, loss_and_grad, law_fns, name, np):
    """One run of gradient descent: laws, squared norm and loss at every step."""
    theta = theta0.copy()
    hv, nv, lv = [], [], []
    for t in range(steps + 1):
        loss, grad = loss_and_grad(theta)
        if not np.isfinite(loss) or not np.all(np.isfinite(theta)):
            raise InputError(f"Gradient descent diverges on {name} with step size {eta:g}; "
                             f"choose smaller step sizes.")
        hv.append([f(theta) for f in law_fns])
        nv.append(float(theta @ theta))
        lv.append(loss)
        if t < steps:
            theta = theta - eta * grad
    return np.array(hv), np.array(nv), np.array(lv)


# -- the training problems ------------------------------------------------------------

def _problem(model, rng, np):
    """(loss_and_grad(theta) -> (float, array), theta0) for the model."""
    family, _, body = model.name.partition(":")
    if family in ("linear", "relu", "relu-bias") and body:
        widths = [int(w) for w in body.split(",")]
        return _network(widths, family, model.ring.names, rng, np)
    return _through_phi(model, rng, np)


def _network(widths, family, names, rng, np):
    """A real network on random data; theta is ordered as the model's parameters."""
    L = len(widths) - 1
    relu, bias = family != "linear", family == "relu-bias"
    X = rng.standard_normal((widths[0], SAMPLES))
    Y = rng.standard_normal((widths[-1], SAMPLES))
    index = {n: k for k, n in enumerate(names)}
    w_idx = [np.array([[index[f"W{layer}_{i}_{j}"] for j in range(widths[layer - 1])]
                       for i in range(widths[layer])]) for layer in range(1, L + 1)]
    b_idx = [np.array([index[f"b{layer}_{i}"] for i in range(widths[layer])]) for layer in range(1, L)] \
        if bias else []
    theta0 = np.zeros(len(names))
    for layer in range(1, L + 1):
        theta0[w_idx[layer - 1]] = rng.standard_normal(w_idx[layer - 1].shape) / math.sqrt(widths[layer - 1])
    for idx in b_idx:
        theta0[idx] = 0.5 * rng.standard_normal(idx.shape)

    def loss_and_grad(theta):
        Ws = [theta[ix] for ix in w_idx]
        bs = [theta[ix] for ix in b_idx]
        acts, pre = [X], []
        for layer in range(L):
            z = Ws[layer] @ acts[-1]
            if bias and layer < L - 1:
                z = z + bs[layer][:, None]
            pre.append(z)
            acts.append(np.maximum(z, 0) if relu and layer < L - 1 else z)
        err = acts[-1] - Y
        loss = 0.5 * float(np.sum(err * err)) / SAMPLES
        grad = np.zeros_like(theta)
        delta = err / SAMPLES
        for layer in reversed(range(L)):
            grad[w_idx[layer]] = delta @ acts[layer].T
            if bias and layer < L - 1:
                grad[b_idx[layer]] = delta.sum(axis=1)
            if layer:
                delta = Ws[layer].T @ delta
                if relu:
                    delta = delta * (pre[layer - 1] > 0)
        return loss, grad

    return loss_and_grad, theta0


def _through_phi(model, rng, np):
    """L(theta) = |phi(theta) - y|^2 / 2 with a random target y."""
    if model.phi is None:
        raise UnsupportedError(f"Model {model.name} is given by vector fields, not by phi: "
                               f"there is no loss to train.")
    comps = [_numeric_poly(p, model.ring, np) for p in model.phi]
    jac = [[_numeric_poly(p.derivative(v), model.ring, np) for v in range(model.D)]
           for p in model.phi]
    y = rng.standard_normal(len(comps))
    theta0 = rng.standard_normal(model.D)

    def loss_and_grad(theta):
        r = np.array([f(theta) for f in comps]) - y
        J = np.array([[f(theta) for f in row] for row in jac])
        return 0.5 * float(r @ r), J.T @ r

    return loss_and_grad, theta0


def _numeric_poly(h, ring, np):
    """A float evaluator of an exact polynomial (exponents and coefficients as arrays)."""
    terms = list(h.terms())
    if not terms:
        return lambda theta: 0.0
    exps = np.array([e for e, _ in terms], dtype=float)
    coeffs = np.array([int(c.p) / int(c.q) for _, c in terms])
    used = np.nonzero(exps.any(axis=0))[0]
    exps = exps[:, used]

    def value(theta):
        return float(coeffs @ np.prod(theta[used][None, :] ** exps, axis=1))

    return value
