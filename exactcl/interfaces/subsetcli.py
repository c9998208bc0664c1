"""``--subset`` of ``exactcl count``, ``exactcl laws`` and ``exactcl certify``:
the laws that depend only on the chosen parameters (:mod:`exactcl.engine.subsets`)."""

from __future__ import annotations

import argparse
import json

from ..kernel.errors import InputError, plural

__all__ = ["add_subset_arg", "run_subset"]


def add_subset_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--subset", metavar="NAMES", default=None,
                   help="only the laws that depend on these parameters alone: comma-separated "
                        "parameter names (W1_0_1) or tensor prefixes (W1, b2)")


def run_subset(args: argparse.Namespace) -> int:
    """Run ``args.command`` on the subset ``args.subset``; the exit status."""
    from ..engine.subsets import parse_subset
    from .cliargs import _check_count_options, _max_memory, _model, _progress
    if args.command == "laws" and args.homogeneous:
        raise InputError("Argument '--homogeneous' does not go with --subset (the subset "
                         "count takes every law of degree <= --degree).")
    if args.command != "laws":
        _check_count_options(args)
    if args.command == "certify":
        from ..certificates.files import check_output
        check_output(args.output, "--output")  # before any computation
    if getattr(args, "flow", None) not in (None, "gradient"):
        raise InputError(f"Arguments '--subset' and '--flow' do not go together: the laws of "
                         f"a parameter subset are counted under the gradient flow, not "
                         f"{args.flow!r}.")
    model = _model(args)
    if model.flow is not None:  # a model with a geometry of its own (nmf:, icnn:)
        raise InputError(f"Argument '--subset' is for the gradient flow; {model.name} is "
                         f"counted under its own metric (add --flow gradient for the "
                         f"Euclidean flow).")
    parse_subset(model, args.subset, "--subset")  # the message names the option
    options = {"degree": args.degree, "seed": args.seed, "max_memory": _max_memory(args),
               "engine": args.engine}
    if args.command != "laws":
        options["closure_rounds"] = args.closure_rounds
    with _progress(args):
        if args.command == "certify":
            from ..certificates.build import certify_subset
            cert, result = certify_subset(model, args.subset, args.output,
                                          reproducible=args.reproducible,
                                          closure=args.closure, **options)
        else:
            from ..engine.subsets import subset_laws
            result = subset_laws(model, args.subset, **options)
    if args.json:
        out = result.as_dict()
        if args.command == "certify":
            out["certificate"] = args.output
        if args.command == "laws" and args.latex:
            import sympy
            out["latex"] = [sympy.latex(e) for e in result.laws_sympy()]
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    if args.command == "laws":
        strings = result.laws_strings()
        if args.latex:
            import sympy
            strings = [sympy.latex(e) for e in result.laws_sympy()]
        n = (f"{result.laws}" if result.laws is not None else
             f"between {result.lower} and {result.upper}")
        print(f"{result.model} (D = {result.count.parameters}), subset {result.subset_text()} "
              f"({result.size} parameters): {plural(len(strings), 'polynomial law')} of "
              f"degree <= {args.degree} involving only the subset; {n} independent laws "
              f"depend only on it ({result.proof})")
        for s in strings:
            print(f"  {s}")
        return 0
    print(str(result))
    print(f"time        {result.seconds:.2f} s")
    if args.command == "certify":
        print(f"certificate written to {args.output}")
    return 0
