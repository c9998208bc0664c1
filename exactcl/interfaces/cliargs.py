"""What the command line reads: the model a command's arguments name (SPEC
or --phi, under --flow), checked before it is built, and the options every
count takes. :mod:`exactcl.interfaces.cli` (the commands) and :mod:`exactcl.interfaces.subsetcli`
(``--subset``) both read their arguments here.
"""

from __future__ import annotations

import argparse
import sys

from ..kernel.errors import ExactclError, InputError

__all__ = ["DEFAULT_SPEC"]

#: The model ``exactcl count`` counts when no SPEC is given.
DEFAULT_SPEC = "linear:3,3,3"


def _max_memory(args: argparse.Namespace) -> int | None:
    if args.max_memory is None:
        return None
    from ..limits import parse_size
    return parse_size(args.max_memory, "--max-memory")


def _model(args: argparse.Namespace):
    from ..models.specs import parse_spec
    if args.phi is not None and args.spec is not None:
        raise InputError(f"Give either SPEC or --phi, not both (got SPEC {args.spec!r}).")
    if args.phi is not None:
        from ..models.symbolic import model_from_phi, parse, to_symbols
        symbols, names = None, []
        if args.vars is not None:
            names = [n.strip() for n in args.vars.split(",")]
            if not all(names):
                raise InputError(f"Argument '--vars' must be comma-separated names such as "
                                 f"'u,v1,v2', not {args.vars!r}.")
            symbols = to_symbols(names, "--vars")
        exprs = [parse(e, "--phi", names, "--vars") for e in args.phi]
        model = model_from_phi(exprs, symbols)
        _check_degree(args, model.D)
        return _with_flow(args, model)
    if args.vars is not None:
        raise InputError("Argument '--vars' goes with --phi, not with a SPEC.")
    spec = args.spec
    if spec is None:
        if args.command != "count":
            raise InputError("Argument 'SPEC' is required (or give --phi).")
        print(f"(no SPEC given: counting the built-in default {DEFAULT_SPEC})", file=sys.stderr)
        spec = DEFAULT_SPEC
    from ..models.specs import spec_parameters, spec_program
    _check_degree(args, spec_parameters(spec))  # before the model is built
    try:
        program = spec_program(spec)
    except ExactclError:
        program = None  # parse_spec below refuses it, naming 'SPEC'
    if program is not None and args.command in ("count", "certify") and args.flow is None:
        from ..engine.counting import check_program_count  # before its ring and laws are built
        check_program_count(program, search_degree=args.degree, max_memory=_max_memory(args),
                            seed=args.seed, engine=args.engine)
    return _with_flow(args, parse_spec(spec, max_memory=_max_memory(args)))


def _check_flow_tensors(cases, flow) -> None:
    """Refuse a metric on tensors that some case does not have, naming the
    case, before a sweep writes anything."""
    if flow.metric is None or flow.metric[0] != "diag" or not flow.metric[1]:
        return
    import dataclasses

    from ..kernel.flowfields import diagonal_indices
    from ..models.specs import spec_program
    for case in cases:
        # a network's parameter names come from its layers; no model is built for them
        program = spec_program(case.spec) if case.spec is not None else None
        if program is not None:
            names = program.parameters
        else:
            names = dataclasses.replace(case, flow=None).model().parameters
        try:
            diagonal_indices(names, flow.metric[1], "--flow")
        except InputError as err:
            raise InputError(f"{err} (case {case.label})") from None


def _with_flow(args: argparse.Namespace, model):
    """The model under ``--flow`` (or its own default flow: NMF's mirror metric)."""
    flow = getattr(args, "flow", None)
    if flow is None and model.default_flow is None:
        return model
    if getattr(args, "kind", None) == "drift":
        raise InputError("Argument '--flow' applies to count, laws, certify and the growth "
                         "and graph pictures; 'plot drift' follows gradient descent on phi.")
    from ..models.flows import apply_flow
    return apply_flow(model, flow, where="--flow")


def _check_degree(args: argparse.Namespace, D: int) -> None:
    """The law search --degree asks for in D parameters, refused before any
    work when it cannot finish (see exactcl.engine.counting.check_search_degree);
    :func:`_model` calls it before it builds a built-in model."""
    if getattr(args, "degree", None) is not None:
        from ..engine.counting import check_search_degree
        check_search_degree(D, args.degree, getattr(args, "homogeneous", False), "--degree")


def _check_count_options(args: argparse.Namespace) -> None:
    _max_memory(args)
    if args.degree is not None and args.degree < 0:
        raise InputError(f"Argument '--degree' must be a non-negative int, not {args.degree}.")
    if args.closure_rounds < 1:
        raise InputError(f"Argument '--closure-rounds' must be an int >= 1, not "
                         f"{args.closure_rounds}.")


def _progress(args: argparse.Namespace):
    """The progress bar of a run: on standard error when it is a terminal,
    never with ``--quiet``; erased when the computation ends."""
    from ..engine.progress import reporting
    return reporting(False if args.quiet else None)
