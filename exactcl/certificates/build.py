"""Certificates: a count and everything needed to re-check it, in one file.

:func:`certify` counts the laws of a model and writes the certificate
described in :mod:`exactcl.kernel.certformat`; :func:`exactcl.kernel.verifier.verify`
re-derives every claim from the file alone.

A count of the laws on a parameter subset (:func:`certify_subset`) writes
the full count's certificate with schema version
:data:`~exactcl.kernel.certformat.SUBSET_VERSION` and a ``subset`` section that
records the subset, theta_S*, the complements theta'_j, the words evaluated
there (ids of the certificate's own ``lie`` section), the rank K_S and the
laws on the subset (:mod:`exactcl.kernel.subsetcheck` re-derives it). The section
claims what the word values prove: brackets of restricted fields
(:data:`exactcl.engine.subsets.RESTRICTED_DEPTH`) are not recorded, so a count
that needed them is written with the rank of the word values alone
(bounds only when the sandwich no longer closes).
"""

from __future__ import annotations

import os
import platform
import time

import flint

from ..certificates.files import check_output, write_atomic
from ..engine.counting import CountResult, count
from ..engine.growth import basis_words
from ..kernel.certformat import (
    SCHEMA,
    SCHEMA_VERSION,
    SUBSET_VERSION,
    dumps,
    encode_field,
    encode_ints,
    encode_poly,
    encode_terms,
    fingerprint,
)
from ..models.builtin import Model, as_model

__all__ = ["certificate", "certify", "certify_subset", "model_section", "subset_certificate",
           "subset_section"]


def model_section(model: Model) -> dict:
    """The model as exact data, with its fingerprint: a network by its program
    (never expanded here), any other model by phi or its fields.

    A model under a flow (:func:`exactcl.models.flows.apply_flow`) is written by its
    fields, with the flow (``flow``) and the model it came from (``base``,
    its own section without a fingerprint: the fingerprint of the whole
    section covers it), from which the verifier rebuilds the fields.

    >>> from exactcl.models.flows import apply_flow
    >>> from exactcl.models.builtin import linear
    >>> section = model_section(apply_flow(linear([1, 1, 1]), "momentum:1/2"))
    >>> sorted(section), section["flow"], section["base"]["name"]
    (['base', 'fields', 'fingerprint', 'flow', 'name', 'variables'], {'kind': 'momentum', 'tau': '1/2'}, 'linear:1,1,1')
    """
    section = _source(model)
    if model.flow is not None:
        section["flow"] = model.flow.as_dict()
        section["base"] = _source(model.base)
    section["fingerprint"] = fingerprint(section)
    return section


def _source(model: Model) -> dict:
    """Name, variables and what defines the generators: program, phi or fields."""
    section: dict = {"name": model.name, "variables": list(model.ring.names)}
    if model.program is not None and model.flow is None:
        section["program"] = model.program.canonical()
    elif model.phi is not None and model.flow is None:
        section["phi"] = [encode_poly(p) for p in model.phi]
    else:
        section["fields"] = [encode_field(X) for X in model.generators]
    return section


def _encoded_laws(result: CountResult) -> list:
    """The exhibited laws as the file writes them: from their sparse terms when
    the count kept them (the same encoding, without an O(D) read per term)."""
    if result.exhibited_terms is not None:
        return [encode_terms(t) for t in result.exhibited_terms]
    return [encode_poly(h) for h in result.exhibited]


def certificate(result: CountResult, model: Model, *, reproducible: bool = False) -> dict:
    """The certificate of a count of ``model`` (see :mod:`exactcl.kernel.certformat`)."""
    from ..version import __version__
    growth = result.growth
    closure = result.closure
    program = result.engine == "program"
    if program:
        generators = result.fields.as_dict()
        if generators["kind"] == "components":  # their number is the model's
            generators = {"kind": "components"}
        ngens = result.fields.count
    else:
        generators, ngens = {"kind": "components"}, model.n_generators
    identities = ({"mode": "exact"} if result.identities is None
                  else result.identities.as_dict())
    cert = {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "model": model_section(model),
        "claim": {
            "parameters": result.parameters,
            "laws": result.laws,
            "bounds": [result.lower, result.upper],
            "lie_dimension": result.lie_dimension,
            "status": result.status,
            "proof": result.proof,
        },
        "lie": {
            "point": encode_ints(growth.point),
            "prime": str(growth.prime),
            "generators": generators,
            "words": basis_words(result.growth, ngens),
            "basis": list(growth.basis),
            "rank": growth.rank,
        },
        "laws": {
            "polynomials": _encoded_laws(result),
            "labels": list(result.exhibited_labels),
            "rank": len(result.exhibited),
            "identities": identities,
        },
        # only a closure proof carries its check: a failed check proves nothing, and the
        # verifier refuses a closure section beside any other proof
        "closure": None if closure is None or result.proof != "closure" else {
            "mode": closure.mode,
            "passed": closure.passed,
            "rounds": closure.rounds,
            "degree_bound": closure.degree_bound,
            "height_bits": closure.height_bits,
            "error_bound": f"{closure.error_bound.numerator}/{closure.error_bound.denominator}",
            "identities": closure.identities,
            "primes": encode_ints(closure.primes),
        },
        "software": {
            "exactcl": __version__,
            "python-flint": flint.__version__,
            "python": platform.python_version(),
        },
        "seconds": None if reproducible else round(result.seconds, 3),
    }
    return cert


def certify(model: Model, path: str | os.PathLike | None = None, *,
            reproducible: bool = False, subset: object = None,
            **count_options) -> tuple[dict, CountResult]:
    """Count the laws of ``model``, build the certificate and, with ``path``,
    write it atomically.

    ``reproducible`` leaves out the time spent, so that the same input
    gives a byte-identical file. With ``subset`` (parameter names and
    tensor prefixes), the laws that depend only on those parameters are
    counted and certified too (:func:`certify_subset`,
    which returns the :class:`~exactcl.engine.subsets.SubsetResult`). Other
    keyword arguments go to :func:`exactcl.count`.

    Examples
    --------
    >>> from exactcl.models.builtin import linear
    >>> cert, result = certify(linear([2, 2, 2]), reproducible=True)
    >>> cert["claim"]["laws"], cert["claim"]["proof"], len(cert["lie"]["basis"])
    (3, 'sandwich', 5)
    """
    if subset is not None:
        return certify_subset(model, subset, path, reproducible=reproducible, **count_options)
    from ..models.builtin import as_model
    model = as_model(model, max_memory=count_options.get("max_memory"))
    flow, metric = count_options.pop("flow", None), count_options.pop("metric", None)
    if flow is not None or metric is not None or (model.default_flow is not None
                                                  and model.flow is None):
        # the file holds the fields under the flow (a second flow is refused)
        from ..models.flows import apply_flow
        model = apply_flow(model, flow, metric)
    if path is not None:
        check_output(path, "path")  # before the count, not after it
    start = time.perf_counter()
    result = count(model, **count_options)
    cert = certificate(result, model, reproducible=reproducible)
    finish(cert, path, start, reproducible)
    return cert, result


def finish(cert: dict, path: str | os.PathLike | None, start: float,
           reproducible: bool) -> None:
    """Record the time since ``start`` (unless ``reproducible``) and, with
    ``path``, write the certificate atomically."""
    if not reproducible:
        cert["seconds"] = round(time.perf_counter() - start, 3)
    if path is not None:
        write_atomic(path, dumps(cert))


# -- a count on a parameter subset -------------------------------------------------------

def subset_section(result) -> dict:
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


def subset_certificate(result, model, *, reproducible: bool = False) -> dict:
    """The certificate of the count ``result.count`` with its subset section."""
    cert = certificate(result.count, model, reproducible=reproducible)
    cert["version"] = SUBSET_VERSION
    cert["subset"] = subset_section(result)
    return cert


def certify_subset(model, subset: object, path: str | os.PathLike | None = None, *,
                   reproducible: bool = False, **options) -> tuple[dict, object]:
    """Count the laws of ``model`` on ``subset`` (:func:`exactcl.subset_laws`,
    which takes the other keyword arguments), build the certificate and,
    with ``path``, write it atomically.

    >>> from exactcl.models.builtin import linear
    >>> from exactcl.kernel.verifier import verify_certificate
    >>> cert, r = certify_subset(linear([2, 2, 2]), "W1", reproducible=True)
    >>> cert["version"], cert["subset"]["laws"], cert["subset"]["proof"]
    (3, 0, 'sandwich')
    >>> verify_certificate(cert).status
    'verified'
    """
    from ..engine.subsets import subset_laws
    model = as_model(model)
    if path is not None:
        check_output(path, "path")  # before the count, not after it
    start = time.perf_counter()
    result = subset_laws(model, subset, **options)
    cert = subset_certificate(result, model, reproducible=reproducible)
    finish(cert, path, start, reproducible)
    return cert, result
