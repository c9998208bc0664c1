"""Certificates of a count of the laws on a parameter subset.

The file is the full count's certificate (:mod:`exactcl.certificate`) with
schema version :data:`~exactcl.certformat.SUBSET_VERSION` and a ``subset``
section (described in :mod:`exactcl.certformat`) that records the subset,
theta_S*, the complements theta'_j, the words evaluated there (ids of the
certificate's own ``lie`` section), the rank K_S and the laws on the
subset. The verifier re-derives it (:mod:`exactcl.subsetcheck`).

The section claims what the word values prove: brackets of restricted
fields (:data:`exactcl.subsets.RESTRICTED_DEPTH`) are not recorded, so a
count that needed them is written with the rank of the word values alone
(bounds only when the sandwich no longer closes).
"""

from __future__ import annotations

import os
import time

from .certformat import SUBSET_VERSION, check_output, encode_ints, encode_poly
from .certificate import certificate, finish
from .subsets import SubsetResult, _as_model, subset_laws

__all__ = ["certify_subset", "subset_certificate", "subset_section"]


def subset_section(result: SubsetResult) -> dict:
    """The ``subset`` section of a certificate of ``result``."""
    size, M, K = result.size, len(result.exhibited), result.word_rank
    if result.proof == "closure":  # every parameter: the count's own proof
        laws, bounds, proof = result.laws, [result.laws, result.laws], "closure"
    elif M == size - K:
        laws, bounds, proof = M, [M, M], "sandwich"
    else:
        laws, bounds, proof = None, [M, size - K], "bounds only"
    return {
        "parameters": list(result.subset),
        "point": encode_ints(result.point),
        "complements": [encode_ints(c) for c in result.complements],
        "words": list(result.words),
        "rank": K,
        "polynomials": [encode_poly(h) for h in result.exhibited],
        "labels": list(result.exhibited_labels),
        "laws_rank": M,
        "laws": laws,
        "bounds": bounds,
        "proof": proof,
    }


def subset_certificate(result: SubsetResult, model, *, reproducible: bool = False) -> dict:
    """The certificate of the count ``result.count`` with its subset section."""
    cert = certificate(result.count, model, reproducible=reproducible)
    cert["version"] = SUBSET_VERSION
    cert["subset"] = subset_section(result)
    return cert


def certify_subset(model, subset: object, path: str | os.PathLike | None = None, *,
                   reproducible: bool = False, **options) -> tuple[dict, SubsetResult]:
    """Count the laws of ``model`` on ``subset`` (:func:`exactcl.subset_laws`,
    which takes the other keyword arguments), build the certificate and,
    with ``path``, write it atomically.

    >>> from exactcl.models import linear
    >>> from exactcl.verifier import verify_certificate
    >>> cert, r = certify_subset(linear([2, 2, 2]), "W1", reproducible=True)
    >>> cert["version"], cert["subset"]["laws"], cert["subset"]["proof"]
    (3, 0, 'sandwich')
    >>> verify_certificate(cert).status
    'verified'
    """
    model = _as_model(model)
    if path is not None:
        check_output(path, "path")  # before the count, not after it
    start = time.perf_counter()
    result = subset_laws(model, subset, **options)
    cert = subset_certificate(result, model, reproducible=reproducible)
    finish(cert, path, start, reproducible)
    return cert, result
