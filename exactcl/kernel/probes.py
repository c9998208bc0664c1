"""Probes of block programs: the families a certificate names (covering,
dense, on tokens) drawn from SHAKE-256 streams, and probes uniform mod p for
the law checks (:mod:`exactcl.kernel.blocks` holds the programs)."""

from __future__ import annotations

import hashlib

from . import tokens
from .evaluator import PROBE_BITS, Probe, active_neurons, one_hot, probe_draws  # noqa: F401 (doctests)
from .layers.norm import candidates, levels_of
from .layers.smooth import keeps_scale

#: Families of dense probes: every indicator drawn like an input entry. The
#: engine takes one for a program with a convolution or a pooling layer
#: (:attr:`BlockLayout.dense_probes`): in a convolutional network the
#: activation layers are wider than the weights between them, and probes
#: with one active unit per layer leave most fields zero (docs/design.md,
#: pooling).
DENSE = "exactcl-dense-"


def _little_endian_words() -> bool:
    """Whether this machine's unsigned ints are 4-byte little-endian words."""
    try:
        return memoryview(b"\x01\x00\x00\x00").cast("I").tolist() == [1]
    except TypeError:  # ints of another size
        return False


_LITTLE_ENDIAN_WORDS = _little_endian_words()


def random_probe(layout, seed: str, k: int) -> Probe:
    """Probe ``k`` of the family named ``seed`` of the block program whose
    :class:`~exactcl.kernel.blocks.BlockLayout` is ``layout``: entries from the SHAKE-256
    stream of ``"{seed}/{k}"``, 8 bytes (big-endian) each, in the order x,
    u (each reduced to [1, 2**PROBE_BITS]), then one draw per ReLU after the
    first; every ReLU has one active unit, unit k mod n for the first and
    the draw mod n for the others, after the covering probes of a covering
    family (:func:`exactcl.kernel.evaluator.active_neurons`), as
    :func:`exactcl.kernel.evaluator.random_probe`. In a :data:`DENSE`
    family every entry is drawn, x, u, then every indicator layer after
    layer, from the stream read as 4-byte little-endian words w, the entry
    w + 1 (in [1, 2**32] as x and u are).

    >>> from exactcl.kernel.blocks import BlockLayout
    >>> lay = BlockLayout([["linear", 2, 2, False], ["relu"], ["residual", [["linear", 2, 2, False]]]])
    >>> [random_probe(lay, "demo", k).sigma for k in range(2)]
    [((1, 0),), ((0, 1),)]
    >>> dense = random_probe(lay, DENSE + "0", 0)
    >>> [len(s) for s in dense.sigma], all(1 <= v <= 2**PROBE_BITS for v in dense.sigma[0])
    ([2], True)
    """
    if layout.tokens is not None:
        return tokens.random_probe(layout, seed, k)
    n_x, relus, n_u = layout.probe_sizes()
    if seed.startswith(DENSE):
        count = n_x + n_u + sum(relus)
        stream = hashlib.shake_256(f"{seed}/{k}".encode()).digest(4 * count)
        if _LITTLE_ENDIAN_WORDS:  # the machine's own words are those words: read at C speed
            values = [w + 1 for w in memoryview(stream).cast("I").tolist()]
        else:
            values = [int.from_bytes(stream[4 * i:4 * i + 4], "little") + 1
                      for i in range(count)]
        starts = [n_x + n_u + sum(relus[:t]) for t in range(len(relus))]
        sigma = [tuple(values[s:s + width]) for s, width in zip(starts, relus)]
        return Probe(values[:n_x], (), sigma, values[n_x:n_x + n_u])
    count = n_x + n_u + max(len(relus) - 1, 0)
    values, draws = probe_draws(seed, k, count, n_x + n_u)
    sigma = one_hot(active_neurons(relus, seed, k, draws), relus)
    return Probe(values[:n_x], candidates(layout, seed, k), sigma, values[n_x:])


def random_probe_mod(layout, prime: int, rng) -> Probe:
    """A probe with every entry (x, every ReLU unit, u) uniform mod ``prime``."""
    n_x, relus, n_u = layout.probe_sizes()

    def draw(n: int) -> tuple[int, ...]:
        return tuple(rng.randrange(prime) for _ in range(n))
    x, sigma, u = draw(n_x), [draw(w) for w in relus], draw(n_u)
    # a normalised program's s: 0 then its lambdas, roots as free variables (layers.norm)
    lambdas = (0,) + draw(levels_of(layout.norm)) if layout.norm is not None else ()
    if getattr(layout, "token_levels", 0):  # a batch normalisation with eps = 0: one per feature
        lambdas = (0,) + draw(layout.token_levels)
    if getattr(layout, "token_norms", None):  # after the attention: its scale, then each s0
        lambdas = (0,) + draw(1 + len(layout.token_norms))
    if getattr(layout, "smooth", None) and not lambdas:  # free derivatives (layers.smooth)
        lambdas = (0,) + (draw(1) if keeps_scale(layout) else ())  # and the attention's scale
    return Probe(x, lambdas, sigma, u)
