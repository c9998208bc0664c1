"""What a model is, below every builder: :class:`Model` (generator fields,
phi, candidate laws, program), the checks of a model's size made before it
is built, and the small constructors the builders share (the quadratic laws
of a symmetry, the labels of gradients). :mod:`exactcl.models.builtin` (built-in
models and programs) and :mod:`exactcl.models.blocks` (residual,
convolutional and attention programs) both build on it.
"""

from __future__ import annotations

from collections.abc import Sequence

from flint import fmpq_mpoly

from ..kernel.errors import ResourceError, bad_argument, count_text
from ..kernel.fields import VectorField
from ..kernel.rings import LazyLaws, Ring, poly_from_terms, poly_terms
from ..limits import (
    MAX_PARAMETERS,
    available_memory,
    build_bytes,
    check_memory,
    format_size,
    growth_bytes,
    model_bytes,
)

__all__ = ["LABEL_CHARS", "MAX_GENERATORS", "MAX_TERMS", "LazyLaws", "Model", "quadratic_law",
           "quadratic_terms"]


class Model:
    """A model given by its generator fields (and phi when there is one).

    Attributes
    ----------
    name : str
        A spec-like name, e.g. ``"linear:2,2,2"`` or ``"custom"``.
    ring : Ring
        The parameters as ring variables.
    generators : tuple of VectorField
        The fields whose generated Lie algebra decides the laws (the
        gradients of the components of phi for a factorised model). For a
        model with a ``program`` they are expanded on first access (a large
        model is refused there with its memory estimate); the count of a
        large program never expands them.
    phi : tuple of fmpq_mpoly or None
        The components of phi, when the model was given by phi (expanded on
        first access, as ``generators``).
    candidates : tuple of fmpq_mpoly
        Known or conjectured laws from the literature (each is checked
        exactly before it is used).
    candidate_labels : tuple of str
        One short description per candidate.
    generator_labels : tuple of str
        What each generator is, for pictures: the component of phi it is
        the gradient of, ``"∇φ3, φ3 = (W2 W1)[1,0]"`` (entry (1, 0) of
        the product of the weights), ``"∇φ5, φ5 = path x0→2→y1"`` (the
        product of the weights along a path of a ReLU network), or
        ``"field 3"`` for a model given by its fields; empty when unknown.
    program : Program or None
        The layers the model is made of (:mod:`exactcl.layers.program`), when it
        is a network.
    """

    __slots__ = ("name", "ring", "_generators", "_phi", "candidates", "candidate_labels",
                 "_generator_labels", "program", "_expand", "_candidate_terms", "flow", "base",
                 "default_flow")

    def __init__(self, name: str, ring: Ring, generators: tuple[VectorField, ...] | None,
                 phi: tuple[fmpq_mpoly, ...] | None = None, candidates: tuple = (),
                 candidate_labels: tuple[str, ...] = (), generator_labels: tuple[str, ...] = (),
                 program=None, expand=None, candidate_terms=None) -> None:
        self.name, self.ring = name, ring
        self._generators, self._phi = generators, phi
        self.candidates = candidates if isinstance(candidates, LazyLaws) else tuple(candidates)
        self.candidate_labels = tuple(candidate_labels)
        self._generator_labels = generator_labels
        self.program, self._expand = program, expand
        self._candidate_terms = None if candidate_terms is None else tuple(candidate_terms)
        # under a flow (exactcl.models.flows): the flow, and the model whose generators it maps
        self.flow, self.base = None, None
        # the flow the model is trained with when none is given (NMF: its mirror metric)
        self.default_flow = None
        if generators is None and expand is None:
            raise bad_argument("generators", "a tuple of vector fields (or an expansion)", None)

    def _expanded(self) -> None:
        if self._generators is None:
            self._phi, self._generators = self._expand()

    @property
    def generators(self) -> tuple[VectorField, ...]:
        self._expanded()
        return self._generators

    @property
    def phi(self) -> tuple[fmpq_mpoly, ...] | None:
        self._expanded()
        return self._phi

    @property
    def expanded(self) -> bool:
        """Whether the generators are held expanded (a program expands on request)."""
        return self._generators is not None

    @property
    def generator_labels(self) -> tuple[str, ...]:
        labels = self._generator_labels
        if callable(labels):
            labels = self._generator_labels = labels()
        return labels

    def candidate_terms(self, k: int) -> list:
        """Candidate ``k`` as sparse terms ``[(((var, exp), ...), coefficient), ...]``
        (kept by the builders: reading them back from flint costs O(D) per term)."""
        if self._candidate_terms is not None:
            return self._candidate_terms[k]
        if isinstance(self.candidates, LazyLaws):
            return self.candidates.terms(k)
        return poly_terms(self.candidates[k])

    @property
    def n_generators(self) -> int:
        """The number of generator fields, without expanding them."""
        if self._generators is None and self.program is not None:
            return self.program.components
        return len(self.generators)

    @property
    def parameters(self) -> tuple[str, ...]:
        """Parameter names, in order."""
        return self.ring.names

    @property
    def D(self) -> int:
        """The number of parameters."""
        return self.ring.nvars

    def __repr__(self) -> str:
        return (f"Model({self.name!r}, D={self.D}, generators={self.n_generators}, "
                f"candidate_laws={len(self.candidates)})")


#: Limits on the size of a built-in model, checked before anything is built
#: (a few GB of memory at most; far beyond what the engine is meant for);
#: MAX_PARAMETERS (exactcl.limits) says why no count of more parameters fits.
MAX_GENERATORS = 2_000_000
MAX_TERMS = 20_000_000


def _check_size(name: str, D: int, generators: int, terms: int,
                max_memory: int | None = None) -> None:
    """Refuse early, with the estimate, a model too large to build, or to
    build and count within ``max_memory`` bytes (default: the memory
    available); ``terms`` counts those of phi, the generators and the
    candidate laws."""
    for what, value, limit in (("parameters", D, MAX_PARAMETERS),
                               ("generator fields", generators, MAX_GENERATORS),
                               ("polynomial terms", terms, MAX_TERMS)):
        if value > limit:
            raise ResourceError(f"Model {name} would have {count_text(value)} {what} (limit "
                                f"{limit:,}); choose smaller widths.")
    check_memory(f"model {name} (built and counted)",
                 {"model": model_bytes(D, generators, terms),
                  "growth": growth_bytes(D, D, generators)}, max_memory)


def quadratic_terms(plus: Sequence[tuple[int, int]], minus: Sequence[tuple[int, int]]) -> list:
    """The sparse terms of :func:`quadratic_law`, without the polynomial.

    >>> quadratic_terms([(1, 0), (0, 0)], [(0, 1)])
    [(((0, 2),), 1)]
    """
    coeffs: dict[tuple[tuple[int, int], ...], int] = {}
    for pairs, sign in ((plus, 1), (minus, -1)):
        for v, w in pairs:
            v, w = min(v, w), max(v, w)
            mono = ((v, 2),) if v == w else ((v, 1), (w, 1))
            coeffs[mono] = coeffs.get(mono, 0) + sign
    return [(mono, c) for mono, c in coeffs.items() if c]


def quadratic_law(ring: Ring, plus: Sequence[tuple[int, int]], minus: Sequence[tuple[int, int]]
                  ) -> tuple[fmpq_mpoly, list]:
    """sum of x_v x_w over ``plus`` minus the same over ``minus``, as a
    polynomial and as sparse terms (pairs of variable indices).

    >>> R = Ring(("a", "b", "c"))
    >>> h, t = quadratic_law(R, [(0, 0), (0, 1)], [(2, 2)])
    >>> str(h), t
    ('a^2 + a*b - c^2', [(((0, 2),), 1), (((0, 1), (1, 1)), 1), (((2, 2),), -1)])
    """
    terms = quadratic_terms(plus, minus)
    return poly_from_terms(ring, terms), terms


def _check_parameters(name: str, D: int) -> None:
    """Refuse, before anything is built, a model with too many parameters."""
    if D > MAX_PARAMETERS:
        raise ResourceError(f"Model {name} would have {D:,} parameters (limit "
                            f"{MAX_PARAMETERS:,}); choose smaller widths.")


def _check_build(name: str, D: int, laws: int, terms: int) -> None:
    """Refuse, before the ring's generators and the candidate laws are built,
    a model whose estimate of them (:func:`~exactcl.limits.build_bytes`)
    exceeds the memory available, at most half of the physical: building it
    would exhaust the machine whatever the count asks. A ``max_memory`` given
    bounds the count (its estimate covers the model) and expansions."""
    need, limit = build_bytes(D, laws, terms), available_memory()
    if limit is not None and need > limit:
        raise ResourceError(f"Model {name} would take an estimated {format_size(need)} to build "
                            f"(its {D:,} parameters and {laws:,} candidate laws of {terms:,} "
                            f"terms); the memory available is {format_size(limit)} (at most half "
                            f"of the physical). Choose smaller widths.")


#: Longest description of a component of phi in ``Model.generator_labels``.
LABEL_CHARS = 40


def _gradient_labels(components: Sequence[str]) -> tuple[str, ...]:
    """``"∇φ<i>, φ<i> = <component>"`` for each component of phi, i from 1."""
    out = []
    for i, text in enumerate(components, 1):
        if len(text) > LABEL_CHARS:
            text = text[:LABEL_CHARS - 1] + "…"
        out.append(f"∇φ{i}, φ{i} = {text}")
    return tuple(out)
