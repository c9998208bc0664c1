"""The ``exactcl`` command line.

::

    exactcl count SPEC [--json] [--engine auto|expanded|program]
    exactcl count --phi 'u*v1' --phi 'u*v2' [--vars u,v1,v2] [--json]
    exactcl laws SPEC --degree K [--homogeneous] [--json] [--latex] [--engine ...]
    exactcl certify SPEC -o FILE [--reproducible] [--engine ...]
    exactcl verify FILE_OR_FOLDER... [--exact] [--no-fingerprint] [--jobs N]
    exactcl sweep --family F --depth A..B --width A..B --out DIR [--jobs N]
    exactcl sweep --config GRID.toml --out DIR [--engine dask] [--scheduler ADDRESS]
    exactcl plot growth|graph|drift SPEC -o FILE.png|FILE.svg|FILE.pdf [--dpi N]
    exactcl reproduce [--quick] [--slow] [--write] [--root DIR]
    exactcl --version

``python -m exactcl ...`` is the same command.

Bad input prints one line ``exactcl: error: ...`` naming the argument and
exits with status 2, before any work. When the reader of the output goes
away (``| head``) the command stops quietly with status 141. ``verify``
exits 0 when every claim of every file holds, 1 when a claim is false and
3 when a file is unreadable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence

from ..kernel.errors import ExactclError, InputError, ResourceError, plural
from ..version import __version__
from .cliargs import (
    DEFAULT_SPEC,
    _check_count_options,
    _check_flow_tensors,
    _max_memory,
    _model,
    _progress,
)

__all__ = ["DEFAULT_SPEC", "main"]

#: The model `exactcl count` studies when given neither SPEC nor --phi.

SPEC_HELP = ("model: linear:W0,W1,... (deep linear, widths input to output), relu:W0,W1,..., "
             "relu-bias:W0,W1,..., product:D or any program of layers "
             "net:Linear(n_in,n_out),ReLU,Linear(n_in,n_out,bias),... (also "
             "Residual(layers...), Conv1d(c_in,c_out,k,length=n), Conv2d(c_in,c_out,kxk,"
             "size=hxw), Attention(d,heads) and LinearAttention(d,heads); README.md lists "
             "their options)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, status 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", nargs="?", metavar="SPEC", help=SPEC_HELP)
    p.add_argument("--phi", action="append", metavar="EXPR", default=None,
                   help="a component of phi as a polynomial (repeat for each component)")
    p.add_argument("--vars", metavar="NAMES",
                   help="comma-separated parameters of --phi, in order "
                        "(default: the free symbols sorted by name)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the point and of the Monte Carlo checks (default 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--max-memory", metavar="SIZE", default=None,
                   help="refuse before any work a request whose memory estimate exceeds SIZE, "
                        "e.g. 800M or 4G (default: the memory available, at most half of the "
                        "physical memory)")
    p.add_argument("--flow", metavar="FLOW", default=None, action=_Once,
                   help="the flow whose laws are counted: gradient (default; nmf: and icnn: "
                        "use their mirror metric), metric:diag (M = diag(theta)), "
                        "metric:diag:T1,T2 (on those tensors), momentum:TAU (heavy ball, "
                        "rational damping TAU >= 0), nesterov (damping 3/t), "
                        "momentum:TAU+metric:diag (theta'' + tau theta' = -diag(theta) grad E), "
                        "or mirror-momentum:TAU (NMF's momentum in its mirror geometry: "
                        "theta'' + tau theta' = -diag(tau theta + theta') grad E)")


class _Once(argparse.Action):
    """An option given at most once: a second value is refused, never kept
    silently in place of the first."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        before = getattr(namespace, self.dest, None)
        if before is not None:
            raise InputError(f"Argument {option_string!r} is given twice ({before!r} and "
                             f"{values!r}); give it once.")
        setattr(namespace, self.dest, values)


def _add_engine_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("auto", "expanded", "program"), default="auto",
                   help="expanded: expand the generator fields over Q; program: evaluate the "
                        "network's program at points mod primes, never expanded (law "
                        "identities by Monte Carlo with a stated bound when the network is "
                        "too large to expand); auto (default): the program for a network of "
                        "many paths")


def _add_subset_arg(p: argparse.ArgumentParser) -> None:
    from .subsetcli import add_subset_arg
    add_subset_arg(p)


def _add_quiet_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar (by default one is drawn on standard error when it "
                        "is a terminal); the results are printed as usual")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="exactcl", description=(
        "Exact, certified conservation laws of gradient flows: counts proven by "
        "modular Lie ranks, exact law identities and Frobenius closure."))
    parser.add_argument("--version", action="version", version=f"exactcl {__version__}",
                        help="print the version of exactcl and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    pc = sub.add_parser("count", help="certified number of independent conservation laws")
    _add_model_args(pc)
    pc.add_argument("--degree", type=int, default=None, metavar="K",
                    help="also search polynomial laws of degree <= K for the lower bound")
    pc.add_argument("--closure-rounds", type=int, default=2, metavar="R",
                    help="rounds of the Monte Carlo closure check when it is needed")
    _add_engine_arg(pc)
    _add_quiet_arg(pc)
    _add_subset_arg(pc)
    pl = sub.add_parser("laws", help="all polynomial conservation laws of bounded degree")
    _add_model_args(pl)
    pl.add_argument("--degree", type=int, required=True, metavar="K", help="degree bound")
    pl.add_argument("--homogeneous", action="store_true",
                    help="only laws homogeneous of degree exactly K")
    pl.add_argument("--latex", action="store_true", help="print the laws in LaTeX")
    _add_engine_arg(pl)
    _add_quiet_arg(pl)
    _add_subset_arg(pl)
    pcert = sub.add_parser("certify", help="count the laws and write a certificate file")
    _add_model_args(pcert)
    pcert.add_argument("-o", "--output", required=True, metavar="FILE",
                       help="certificate to write (atomically)")
    pcert.add_argument("--degree", type=int, default=None, metavar="K",
                       help="also search polynomial laws of degree <= K for the lower bound")
    pcert.add_argument("--closure", choices=("auto", "deterministic", "monte-carlo"),
                       default="auto", help="how the closure check is made when needed")
    pcert.add_argument("--closure-rounds", type=int, default=2, metavar="R",
                       help="rounds of the Monte Carlo closure check when it is used")
    pcert.add_argument("--reproducible", action="store_true",
                       help="leave the time out, so the same input gives the same bytes")
    _add_engine_arg(pcert)
    _add_quiet_arg(pcert)
    _add_subset_arg(pcert)
    pv = sub.add_parser("verify", help="re-check certificates from the files alone")
    pv.add_argument("files", nargs="+", metavar="FILE",
                    help="certificate files, or folders: a sweep folder (every certificate of "
                         "the sweep, checked against its record, and its tables, rebuilt and "
                         "compared byte for byte) or any folder (every *.json below it)")
    pv.add_argument("--exact", action="store_true",
                    help="decide ranks exactly over Q instead of modulo fresh primes")
    pv.add_argument("--no-fingerprint", action="store_true",
                    help="skip the integrity check of the model section")
    pv.add_argument("--rounds", type=int, default=2, metavar="R",
                    help="minimum rounds of a Monte Carlo closure check (default 2)")
    pv.add_argument("--work-limit", type=float, default=1.0, metavar="X",
                    help="multiply the budget of work a file may cost (about a second of CPU "
                         "at 1, the default); a refusal names the X that admits the file")
    pv.add_argument("--json", action="store_true", help="one JSON object per file")
    pv.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                    help="verify N files at once in worker processes (default 1)")
    pv.add_argument("--quiet", "-q", action="store_true",
                    help="print only failures and the summary of a folder")
    _add_sweep_parser(sub)
    _add_plot_parser(sub)
    pr = sub.add_parser(
        "reproduce", help="re-run and re-verify every claim of proofs/",
        description="Re-run every script of proofs/, compare its certificates with data/ and "
                    "verify them again. Every claim: about 270 seconds (times measured on a "
                    "machine with 2 shared cores).")
    pr.add_argument("--quick", action="store_true",
                    help="only the quick cases (about 13 seconds)")
    pr.add_argument("--slow", action="store_true",
                    help="also the cases marked slow (none at present: about 270 seconds, as "
                         "the default run)")
    pr.add_argument("--write", action="store_true",
                    help="rewrite data/ instead of comparing with the committed certificates")
    pr.add_argument("--root", metavar="DIR", default=None,
                    help="the exactcl checkout holding proofs/ and data/ (default: the working "
                         "directory or a folder above it)")
    _add_quiet_arg(pr)
    return parser


def _add_plot_parser(sub) -> None:
    pp = sub.add_parser(
        "plot", help="draw the growth of the Lie algebra, the graph of its words, or the "
                     "drift of the laws along gradient descent (needs the 'plot' extra)")
    pp.add_argument("kind", choices=("growth", "graph", "drift"), metavar="KIND",
                    help="growth, graph or drift")
    _add_model_args(pp)
    pp.add_argument("-o", "--output", required=True, metavar="FILE",
                    help="picture to write (atomically): .png, or vector .svg or .pdf")
    pp.add_argument("--dpi", type=int, default=None, metavar="N",
                    help="resolution of a .png, 50 to 600 (default 100; 300 for print)")
    pp.add_argument("--steps", type=int, default=None, metavar="N",
                    help="drift: gradient steps per run (default 50)")
    pp.add_argument("--step-sizes", default=None, metavar="A,B,...",
                    help="drift: step sizes, at least two (default 0.0001,0.0002,0.0004,0.0008)")
    pp.add_argument("--max-nodes", type=int, default=None, metavar="N",
                    help="graph: most words drawn (default 60)")


def _add_sweep_parser(sub) -> None:
    ps = sub.add_parser(
        "sweep", help="certify every model of a grid into a folder, with tables of the results",
        description="Certify every case of a grid (command-line ranges, --spec, --config) into "
                    "DIR: one certificate per case, results.md/.tex/.csv. Running the same "
                    "command again resumes an interrupted sweep; a different grid adds its "
                    "cases to the folder's, and the tables list them all (a line says how "
                    "many came from another grid).")
    g = ps.add_argument_group("grid")
    g.add_argument("--family", action="append", metavar="F",
                   help="linear, relu, relu-bias or product (repeat, or comma-separated)")
    g.add_argument("--depth", metavar="RANGE",
                   help="numbers of weight layers, e.g. 2..4 or 2,4")
    g.add_argument("--width", metavar="RANGE",
                   help="widths of every layer: every width tuple in the range, e.g. 1..3")
    g.add_argument("--input", metavar="RANGE", help="input widths (default: --width)")
    g.add_argument("--output", metavar="RANGE", help="output widths (default: --width)")
    g.add_argument("--factors", metavar="RANGE", help="D of the product family, e.g. 2..6")
    g.add_argument("--spec", action="append", metavar="SPEC",
                   help="one more model, e.g. relu:2,3,2 (repeat)")
    g.add_argument("--degree", metavar="K",
                   help="also search polynomial laws of degree <= K (an int or a range)")
    g.add_argument("--config", metavar="FILE.toml", help="a TOML grid (format: README.md, section Sweeps)")
    g.add_argument("--flow", metavar="FLOW", default=None, action=_Once,
                   help="the flow of every case, as for count (e.g. momentum:1/2)")
    r = ps.add_argument_group("run")
    r.add_argument("--out", "-o", required=True, metavar="DIR",
                   help="the sweep folder (created; an earlier sweep there is resumed; the "
                        "cases another grid finished there are kept and listed in the tables "
                        "with this grid's)")
    r.add_argument("--jobs", "-j", type=int, default=None, metavar="N",
                   help="parallel workers (default: the usable cores; 1: in this process)")
    r.add_argument("--engine", choices=("pool", "dask"), default=None,
                   help="pool: local worker processes (default); dask: a Dask cluster "
                        "(needs the 'dask' extra)")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --engine "
                        "dask; without it, dask starts a local cluster on loopback)")
    r.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="stop a case after this time and record it as failed (local pool)")
    r.add_argument("--seed", type=int, default=None, help="seed of every case (default 0)")
    r.add_argument("--closure", choices=("auto", "deterministic", "monte-carlo"),
                   default=None, help="how closure checks are made when needed")
    r.add_argument("--retry-failed", action="store_true",
                   help="re-run the cases that failed in an earlier run")
    r.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar and no line per case; only the summary")
    r.add_argument("--list", action="store_true",
                   help="print the cases of the grid (and which are done in --out) and stop")


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Let SIGTERM (a batch system stopping the job) end a sweep the way Ctrl-C
    does: finished cases and the tables are saved first."""
    import signal

    def stop(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_count(args: argparse.Namespace) -> int:
    if args.subset is not None:
        from .subsetcli import run_subset
        return run_subset(args)
    from ..engine.counting import count
    _check_count_options(args)
    model = _model(args)
    with _progress(args):
        result = count(model, search_degree=args.degree, closure_rounds=args.closure_rounds,
                       seed=args.seed, max_memory=_max_memory(args), engine=args.engine)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True))
        return 0
    bounds = f"[{result.lower}, {result.upper}]"
    print(f"model       {result.model} (D = {result.parameters})")
    if result.laws is not None:
        print(f"laws        {result.laws}   (certified: {result.proof})")
    else:
        print(f"laws        between {result.lower} and {result.upper}   (bounds only)")
    stop = {"target": " (stopped at the proven upper bound)", "stalled": " (last depth added "
            "nothing)", "full": " (full rank)", "max_depth": " (depth limit)"}[result.growth.stop]
    print(f"bounds      {bounds}; Lie rank >= {result.lie_rank}; rank per bracket depth "
          f"{', '.join(map(str, result.growth.profile))}{stop}")
    print(f"exhibited   {plural(result.explicit_laws, 'independent law')}, each "
          f"{result.identity_text}")
    print(f"proof       {result.explanation}")
    print(f"time        {result.seconds:.2f} s")
    return 0


def _run_laws(args: argparse.Namespace) -> int:
    if args.subset is not None:
        from .subsetcli import run_subset
        return run_subset(args)
    from ..engine.counting import choose_engine
    if args.degree < 0:
        raise InputError(f"Argument '--degree' must be a non-negative int, not {args.degree}.")
    model = _model(args)
    engine = choose_engine(model, args.engine)
    start = time.perf_counter()
    with _progress(args):
        if engine == "program":
            from ..engine.evalsearch import find_laws_by_evaluation
            res = find_laws_by_evaluation(model, args.degree, args.homogeneous, seed=args.seed,
                                          max_memory=_max_memory(args))
        else:
            from ..engine.search import find_laws
            res = find_laws(model.generators, args.degree, args.homogeneous, seed=args.seed,
                            max_memory=_max_memory(args))
    seconds = time.perf_counter() - start
    strings = res.strings()
    if model.flow is not None and model.flow.time() is not None:  # s is time: say so
        from ..models.flows import time_strings
        strings = time_strings(res.laws, model.ring, model.flow)
    if args.json:
        if res.exact:
            verified = "every law checked as an exact identity grad h . X_i = 0"
        else:
            verified = (f"every law checked as an identity grad h . X_i = 0 by evaluation: "
                        f"{res.identities.describe()}")
        out = {"model": model.name, "parameters": model.D, "degree": res.degree,
               "homogeneous": res.homogeneous, "laws": strings,
               "independent": res.independent, "blocks": res.blocks,
               "verified": verified, "engine": res.engine,
               "seconds": round(seconds, 3)}
        if res.identities is not None:
            from ..kernel.brackets import format_probability
            out["law_identities"] = res.identities.as_dict() | {
                "error_bound": format_probability(res.identities.error_bound)}
        if args.latex:
            out["latex"] = res.latex()
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    kind = "homogeneous of degree" if res.homogeneous else "of degree <="
    found = plural(len(strings), "polynomial law")
    print(f"{model.name} (D = {model.D}): {found} {kind} {res.degree}, "
          f"{res.independent} functionally independent; {res.identity_text()}")
    for s in (res.latex() if args.latex else strings):
        print(f"  {s}")
    return 0


def _run_certify(args: argparse.Namespace) -> int:
    if args.subset is not None:
        from .subsetcli import run_subset
        return run_subset(args)
    from ..certificates.build import certify
    _check_count_options(args)
    from ..certificates.files import check_output
    check_output(args.output, "--output")  # before any computation
    model = _model(args)
    with _progress(args):
        cert, result = certify(model, args.output, reproducible=args.reproducible,
                               search_degree=args.degree, closure=args.closure,
                               closure_rounds=args.closure_rounds, seed=args.seed,
                               max_memory=_max_memory(args), engine=args.engine)
    if args.json:
        print(json.dumps(result.as_dict() | {"certificate": args.output}, indent=2,
                         sort_keys=True))
    else:
        print(str(result))
        print(f"certificate written to {args.output}")
    return 0


def _run_verify(args: argparse.Namespace) -> int:
    from ..workflows.recheck import verify_paths
    return verify_paths(args.files, exact=args.exact, fingerprint=not args.no_fingerprint,
                        rounds=args.rounds, work_limit=args.work_limit, jobs=args.jobs,
                        as_json=args.json, quiet=args.quiet)


def _check_dask(argument: str) -> None:
    from ..kernel.errors import UnsupportedError
    from ..workflows.engines import require_dask
    try:
        require_dask()
    except UnsupportedError:
        raise InputError(f"Argument {argument!r} needs the optional 'dask' extra, which is not "
                         f"installed: pip install 'exactcl[dask]' (or use the local pool).") \
            from None


def _run_sweep(args: argparse.Namespace) -> int:
    from ..workflows.grid import grid_cases, load_config, option_problem, spec_cases
    from ..workflows.sweep import SweepInterrupted, sweep
    if not args.list:  # before any work: a folder that can be created or written
        from ..certificates.files import check_output
        check_output(args.out, "--out", folder=True)
        if args.engine == "dask" or args.scheduler:
            _check_dask("--engine" if args.engine == "dask" else "--scheduler")
    cases, options = [], {}
    if args.config is not None:
        cases, options = load_config(args.config)
    if args.family:
        cases += grid_cases(args.family, depth=args.depth, width=args.width, input=args.input,
                            output=args.output, factors=args.factors, degree=args.degree)
    elif any(v is not None for v in (args.depth, args.width, args.input, args.output,
                                      args.factors)):
        raise InputError("Arguments '--depth', '--width', '--input', '--output' and "
                         "'--factors' go with '--family'.")
    if args.spec:
        cases += spec_cases(args.spec, args.degree)
    if args.flow is not None:
        import dataclasses

        from ..models.flows import parse_flow
        flow = parse_flow(args.flow, "--flow")
        _check_flow_tensors(cases, flow)  # before any folder is written
        cases = [dataclasses.replace(c, flow=flow.spec) for c in cases]
    for key in ("seed", "closure"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.timeout is not None:
        options["timeout"] = args.timeout
    if args.list:
        from ..workflows.sweep import list_cases
        for line in list_cases(cases, args.out, **options):
            print(line)
        return 0
    engine = args.engine or ("dask" if args.scheduler else "pool")
    for key, value in (("jobs", args.jobs), ("timeout", args.timeout)):
        if value is not None and (problem := option_problem(key, value)) is not None:
            raise InputError(f"Argument '--{key}' must be {problem}, not {value:g}.")
    if args.timeout is not None and engine == "dask":
        raise InputError("Argument '--timeout' applies to the local pool only; a Dask "
                         "cluster cannot stop a running task.")
    log = None if args.quiet else (lambda line: print(line, flush=True))
    try:
        with _terminate_as_interrupt():
            result = sweep(cases, args.out, jobs=args.jobs, engine=engine,
                           scheduler=args.scheduler, retry_failed=args.retry_failed,
                           progress=False if args.quiet else None, log=log, **options)
    except SweepInterrupted as stop:
        print(f"exactcl: {stop.result.summary()}", file=sys.stderr)
        return 130
    if result.merge_note():
        print(result.merge_note())
    print(result.summary())
    print("tables: " + ", ".join(os.path.relpath(p) for p in result.tables))
    return 0 if result.ok else 1


def _run_plot(args: argparse.Namespace) -> int:
    from . import plots
    ext = plots.check_output(args.output)  # before any computation
    plots.check_dpi(args.dpi, ext, "--dpi")
    if args.kind != "drift" and (args.steps is not None or args.step_sizes is not None):
        raise InputError("Arguments '--steps' and '--step-sizes' go with 'plot drift'.")
    if args.kind != "graph" and args.max_nodes is not None:
        raise InputError("Argument '--max-nodes' goes with 'plot graph'.")
    model = _model(args)
    if args.kind == "drift":
        options: dict = {"seed": args.seed}
        if args.steps is not None:
            options["steps"] = args.steps
        if args.step_sizes is not None:
            try:
                options["step_sizes"] = tuple(float(x) for x in args.step_sizes.split(","))
            except ValueError:
                raise InputError(f"Argument '--step-sizes' must be comma-separated numbers "
                                 f"such as 0.001,0.002, not {args.step_sizes!r}.") from None
        fig, d = plots.drift_figure(model, **options)
        plots.save(fig, args.output, dpi=args.dpi)
        print(f"{d.model}: {len(d.laws)} laws tracked along gradient descent, {d.steps} steps")
        for eta, worst in zip(d.step_sizes, d.final):
            print(f"  step size {eta:<10g} largest |h(theta_T)/h(theta_0) - 1| = {worst:.3e}")
        print(f"fitted exponent of the drift in the step size: {d.exponent:.3f} "
              f"(theory: 2 as the step size goes to 0 at a fixed number of steps)")
    elif args.kind == "growth":
        plots.save(plots.growth_figure(model, seed=args.seed), args.output, dpi=args.dpi)
    else:
        options = {} if args.max_nodes is None else {"max_nodes": args.max_nodes}
        plots.save(plots.graph_figure(model, seed=args.seed, **options), args.output,
                   dpi=args.dpi)
    print(f"picture written to {args.output}")
    return 0


def _run_reproduce(args: argparse.Namespace) -> int:
    from ..workflows.reproduce import reproduce_all
    with _progress(args):
        return reproduce_all(args.root, quick=args.quick, check=not args.write, slow=args.slow)


#: Exit status when the reader of standard output went away (128 + SIGPIPE,
#: what a shell reports for a tool that the closed pipe stopped).
EXIT_BROKEN_PIPE = 141


def _discard_stdout() -> None:
    """Point standard output at the null device, so that the flush at
    interpreter exit cannot fail again (the Python documentation's advice
    for SIGPIPE, in the signal module)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # not a real file (tests): nothing to do
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``exactcl`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except InputError as err:  # an option's own check (given twice)
        print(f"exactcl: error: {err}", file=sys.stderr)
        return 2
    if args.command is None:
        parser.print_help()
        return 2
    try:
        runners = {"count": _run_count, "laws": _run_laws, "certify": _run_certify,
                   "verify": _run_verify, "reproduce": _run_reproduce, "sweep": _run_sweep,
                   "plot": _run_plot}
        status = runners[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:  # `exactcl count --json | head`: stop quietly, as Unix tools do
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except (InputError, ResourceError) as err:
        print(f"exactcl: error: {err}", file=sys.stderr)
        return 2
    except ExactclError as err:
        print(f"exactcl: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("exactcl: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a bug: one line, the traceback on request
        if os.environ.get("EXACTCL_DEBUG"):
            raise
        print(f"exactcl: internal error: {type(err).__name__}: {err} (set EXACTCL_DEBUG=1 "
              f"for the traceback and please report it)", file=sys.stderr)
        return 70


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
