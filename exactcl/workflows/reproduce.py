"""Reproduce claims of the papers as certified results.

Each script in ``proofs/`` names one claim and lists its cases (a model,
what the paper or the literature says, and the expected count when there
is one). :func:`run_claim` certifies every case, writes or compares the
certificate under ``data/<claim>/``, re-verifies it with the independent
verifier, and writes a Markdown summary. ``exactcl reproduce`` runs every
script.

Certificates are written with ``reproducible=True`` (no timings), so check
mode compares them byte for byte with the committed files; the only part
set aside is the ``software`` block (versions of Python and python-flint),
which records where a file was made, not what it proves.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..certificates.build import certify
from ..certificates.files import write_atomic
from ..engine.progress import clear as clear_progress
from ..engine.progress import step
from ..kernel.certformat import dumps, loads
from ..kernel.errors import InputError
from ..kernel.verifier import verify_certificate
from ..models.builtin import Model

#: The certificates of proofs/ come from this repository's own scripts, so the
#: verifier's budget of work (meant for files of unknown origin) is raised;
#: every certificate of data/ fits the default budget as well (a test checks it).
VERIFY_WORK_LIMIT = 20

__all__ = ["Case", "Outcome", "ClaimReport", "others_differ", "run_claim", "script_main", "find_root",
           "load_script", "reproduce_all"]


@dataclass(frozen=True)
class Case:
    """One certified instance of a claim.

    Attributes
    ----------
    name : str
        File stem of the certificate, e.g. ``"linear_2_3_2"``.
    build : callable
        Returns the Model (built lazily, only when the case runs).
    claim : str
        What the paper or the literature says, in words.
    expected : int or None
        The count the claim predicts, when it predicts one.
    quick : bool
        Part of the quick set.
    slow : bool
        Left out of the default run (it takes minutes); run with ``slow=True``
        (``exactcl reproduce --slow``).
    options : dict
        Keyword arguments for :func:`exactcl.count` (e.g. ``search_degree``).
    follow_up : callable, optional
        Called with the CountResult; returns a sentence for the summary
        (e.g. the result of a higher-degree search for missing laws).
    """

    name: str
    build: Callable[[], Model]
    claim: str
    expected: int | None = None
    quick: bool = False
    slow: bool = False
    options: dict = field(default_factory=dict)
    follow_up: Callable | None = None


@dataclass(frozen=True)
class Outcome:
    case: Case
    model: str
    parameters: int
    laws: int | None
    bounds: tuple[int, int]
    proof: str
    exhibited: int
    agrees: bool | None
    verified: bool
    file_status: str
    note: str
    seconds: float


@dataclass
class ClaimReport:
    claim_id: str
    title: str
    source: str
    outcomes: list[Outcome]
    finding: str = ""
    skipped: list[str] = field(default_factory=list)

    @property
    def differ(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.agrees is False]

    @property
    def ok(self) -> bool:
        return all(o.verified and o.file_status in ("written", "identical")
                   for o in self.outcomes)


def _comparable(text: str) -> str:
    cert = json.loads(text)
    cert["software"] = {}
    return dumps(cert)


def others_differ(outcomes: Sequence[Outcome]) -> str:
    """The sentence a finding ends with when some cases do not agree with
    the laws listed (empty when all do).

    >>> others_differ([])
    ''
    """
    off = [o for o in outcomes if o.agrees is not True]
    if not off:
        return ""
    return " Others differ: " + ", ".join(
        f"{o.case.name}: {o.laws} ({o.proof}), {o.case.expected} listed" for o in off) + "."


def run_claim(claim_id: str, title: str, source: str, cases: Sequence[Case], *,
              data_dir: str | os.PathLike, check: bool = False, quick: bool = False,
              slow: bool = False,
              progress: Callable[[str], None] | None = None,
              finding: Callable[[list[Outcome]], str] | None = None) -> ClaimReport:
    """Certify, store (or compare) and verify every case of one claim."""
    folder = Path(data_dir) / claim_id
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [c for c in cases if (c.quick or not quick) and (slow or not c.slow)]
    skipped = [c for c in cases if c.slow and not slow and not quick]
    outcomes = []
    rng = random.Random(f"verify:{claim_id}")
    for k, case in enumerate(chosen):
        step(f"reproduce {claim_id}", k, len(chosen), "cases", outer=True)
        start = time.perf_counter()
        model = case.build()
        cert, result = certify(model, reproducible=True, **case.options)
        text = dumps(cert)
        path = folder / f"{case.name}.json"
        if check:
            if not path.exists():
                file_status = "missing"
            elif _comparable(path.read_text()) == _comparable(text):
                file_status = "identical"
            else:
                file_status = "DIFFERS"
        else:
            write_atomic(path, text)
            file_status = "written"
        verified = verify_certificate(loads(text), rng=rng, work_limit=VERIFY_WORK_LIMIT).ok
        agrees = None if case.expected is None else result.laws == case.expected
        note = case.follow_up(result) if case.follow_up else ""
        # a subset's count lives in |S| dimensions: the subset goes with the model's name
        label = (f"{result.model} on {result.subset_text()}" if hasattr(result, "subset_text")
                 else result.model)
        outcome = Outcome(case, label, result.parameters, result.laws,
                          (result.lower, result.upper), result.proof, result.explicit_laws,
                          agrees, verified, file_status, note, time.perf_counter() - start)
        outcomes.append(outcome)
        if progress:
            clear_progress()
            mark = {True: "agrees", False: "DIFFERS FROM THE CLAIM", None: ""}[agrees]
            found = result.laws if result.laws is not None else result.bounds
            progress(f"[{k + 1}/{len(chosen)}] {claim_id}: {result.model} -> "
                     f"{found} law{'' if found == 1 else 's'} "
                     f"({result.proof}; {'verified' if verified else 'NOT VERIFIED'}; "
                     f"{file_status}) {mark}")
    report = ClaimReport(claim_id, title, source, outcomes,
                         finding(outcomes) if finding else "", [c.name for c in skipped])
    if not check and not skipped and not quick:
        write_atomic(folder / "SUMMARY.md", summary_markdown(report))
    return report


def summary_markdown(report: ClaimReport) -> str:
    """The claim's table: the paper's claim, exactcl's certified result, agreement."""
    lines = [f"# {report.title}", "", f"Source: {report.source}", "",
             "Every count below is certified (the proof column says how) and its "
             "certificate re-verified by `exactcl verify`.", ""]
    if report.finding:
        lines += [f"**Finding.** {report.finding}", ""]
    subsets = any(" on " in o.model for o in report.outcomes)
    lines += [f"| model | {'parameters (D, or the subset)' if subsets else 'D'} | the paper / "
              f"literature | certified laws | proof | exhibited | agrees | certificate |",
              "|---|---|---|---|---|---|---|---|"]
    for o in report.outcomes:
        laws = o.laws if o.laws is not None else f"{o.bounds[0]}..{o.bounds[1]}"
        agree = {True: "yes", False: "**no**", None: "-"}[o.agrees]
        lines.append(f"| `{o.model}` | {o.parameters} | {o.case.claim} | {laws} | {o.proof} | "
                     f"{o.exhibited} | {agree} | [{o.case.name}.json]({o.case.name}.json) |")
    notes = [o for o in report.outcomes if o.note]
    if notes:
        lines += ["", "## Notes", ""]
        lines += [f"* `{o.model}`: {o.note}" for o in notes]
    return "\n".join(lines) + "\n"


def script_main(script: str, argv: Sequence[str] | None = None) -> int:
    """Command line of one proofs/ script (``script`` is its ``__file__``):
    ``[--check] [--quick] [--data DIR]``."""
    module = sys.modules.get("__main__")
    claim_id, title, source = module.CLAIM_ID, module.TITLE, module.SOURCE
    cases, finding = module.cases, getattr(module, "finding", None)
    root = find_root(Path(script).resolve().parent)
    ap = argparse.ArgumentParser(description=title)
    ap.add_argument("--check", action="store_true",
                    help="recompute and compare with the committed certificates")
    ap.add_argument("--quick", action="store_true", help="only the quick cases")
    ap.add_argument("--slow", action="store_true", help="also the cases that take minutes")
    ap.add_argument("--data", default=str((root or Path.cwd()) / "data"),
                    help="data folder (default: data/ of the repository)")
    args = ap.parse_args(argv)
    report = run_claim(claim_id, title, source, cases(), data_dir=args.data, check=args.check,
                       quick=args.quick, slow=args.slow, progress=print, finding=finding)
    print(report.finding)
    return 0 if report.ok else 1


def find_root(start: str | os.PathLike | None = None) -> Path | None:
    """The repository folder holding ``proofs/`` (from ``start`` or the working
    directory upwards)."""
    here = Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "proofs").is_dir() and (folder / "data").is_dir():
            return folder
    return None


def load_script(path: Path):
    """Import a proofs/ script as a module (its ``main`` is not run)."""
    spec = importlib.util.spec_from_file_location(f"exactcl_proof_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reproduce_all(root: str | os.PathLike | None = None, *, quick: bool = False,
                  check: bool = True, slow: bool = False, out=sys.stdout) -> int:
    """Run every proofs/ script; returns 0 when every certificate verifies and
    (in check mode) matches the committed one."""
    base = find_root() if root is None else Path(root)
    if base is None or not (base / "proofs").is_dir() or not (base / "data").is_dir():
        raise InputError("Argument '--root' must be a checkout of exactcl holding proofs/ and "
                         f"data/, not {str(root or os.getcwd())!r}.")
    scripts = sorted(p for p in (base / "proofs").glob("*.py") if not p.name.startswith("_"))
    start = time.perf_counter()
    reports = []
    for path in scripts:
        module = load_script(path)
        clear_progress()
        print(f"== {path.name}: {module.TITLE}", file=out, flush=True)
        report = run_claim(module.CLAIM_ID, module.TITLE, module.SOURCE, module.cases(),
                           data_dir=base / "data", check=check, quick=quick, slow=slow,
                           progress=lambda s: print("  " + s, file=out, flush=True),
                           finding=getattr(module, "finding", None))
        reports.append(report)
    total = sum(len(r.outcomes) for r in reports)
    clear_progress()
    print("", file=out)
    print(f"Summary ({total} certificates, {len(reports)} claims, "
          f"{time.perf_counter() - start:.1f} s):", file=out)
    for r in reports:
        verified = sum(o.verified for o in r.outcomes)
        files = {s: sum(o.file_status == s for o in r.outcomes)
                 for s in ("identical", "written", "DIFFERS", "missing")}
        shown = ", ".join(f"{n} {s}" for s, n in files.items() if n)
        print(f"  {r.claim_id}: {verified}/{len(r.outcomes)} verified; {shown}", file=out)
        if r.skipped:
            print(f"    left out as slow (run with --slow): {', '.join(r.skipped)}", file=out)
        if r.finding:
            print(f"    finding: {r.finding}", file=out)
        for o in r.differ:
            print(f"    differs from the claim: {o.model}: claimed {o.case.claim}, certified "
                  f"{o.laws} ({o.proof})", file=out)
    ok = all(r.ok for r in reports)
    print("all claims reproduced and verified" if ok else "SOME CHECKS FAILED", file=out)
    return 0 if ok else 1
