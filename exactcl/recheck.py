"""Re-check many certificates: files, folders and whole sweeps.

``exactcl verify`` takes files and folders. A sweep folder (one with
``sweep.json``) contributes the certificate of every case its records say
succeeded, and each certificate's claim is compared with the claim the
sweep's table shows; a missing certificate is an unreadable file. Any
other folder contributes every ``*.json`` file below it. Each file is
verified by :func:`exactcl.verifier.verify`, in worker processes with
``jobs > 1``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from .progress import Progress
from .verifier import Check, Report, verify

__all__ = ["verify_paths"]


def _verify_one(task: dict) -> Report:
    return verify(task["path"], **task["options"])


def _expand(paths: Sequence[str]):
    """(file, sweep record or None, folder it came from or None) triples,
    and notes per folder."""
    from .sweep import folder_certificates
    items, notes = [], {}
    for path in paths:
        if os.path.isdir(path):
            found, folder_notes = folder_certificates(path)
            items += [(f, rec, path) for f, rec in found]
            notes[path] = folder_notes
            if not found:
                notes[path].append("no certificate found")
        else:
            items.append((path, None, None))
    return items, notes


def _against_table(report: Report, path: str, record: dict | None) -> Report:
    """Fail a verified certificate whose claim is not the one its sweep's
    table shows."""
    from .sweep import table_matches
    if record is None or not report.ok:
        return report
    with open(path, encoding="utf-8") as fh:
        claim = json.load(fh)["claim"]
    problem = table_matches(record, claim)
    if problem is None:
        return report
    return report.with_check(Check("sweep table", False, problem))


def verify_paths(paths: Sequence[str], *, exact: bool = False, fingerprint: bool = True,
                 rounds: int = 2, work_limit: float = 1.0, jobs: int = 1,
                 as_json: bool = False, quiet: bool = False) -> int:
    """Verify files and folders, print one report per file (and a summary
    per folder); return the exit status (0 all verified, 1 a claim is
    false, 3 a file is unreadable)."""
    from .engines import InProcess, ProcessPool
    from .errors import InputError
    if rounds < 1:
        raise InputError(f"Argument '--rounds' must be an int >= 1, not {rounds}.")
    if not work_limit > 0:
        raise InputError(f"Argument '--work-limit' must be a positive number, not "
                         f"{work_limit}.")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InputError(f"Argument '--jobs' must be an int >= 1, not {jobs!r}.")
    items, notes = _expand(paths)
    options = {"check_fingerprint": fingerprint, "exact": exact, "rounds": rounds,
               "work_limit": work_limit}
    tasks = [(str(i), {"path": f, "options": options}) for i, (f, _, _) in enumerate(items)]
    runner = ProcessPool(min(jobs, len(tasks))) if jobs > 1 and len(tasks) > 1 else InProcess()
    bar = Progress(len(tasks), "verify", "files", enabled=None if len(tasks) > 1 and
                   not as_json and not quiet else False)
    reports: dict[int, Report] = {}
    outcomes = runner.run(_verify_one, tasks, tick=bar.draw)
    try:
        for key, report in outcomes:
            i = int(key)
            path, record, _ = items[i]
            if not isinstance(report, Report):  # the worker died
                report = Report(path, "unreadable", summary=f"not verified: {report.message}")
            report = _against_table(report, path, record)
            reports[i] = report
            bar.clear()
            if as_json:
                print(json.dumps({"file": path, "status": report.status,
                                  "checks": [{"claim": c.claim, "passed": c.passed,
                                              "detail": c.detail} for c in report.checks],
                                  "summary": report.summary}, sort_keys=True), flush=True)
            elif not (quiet and report.ok):
                print(report, flush=True)
            bar.advance(failed=not report.ok)
    finally:
        outcomes.close()
        runner.close()
        bar.close()
    for folder, folder_notes in notes.items():
        mine = [reports[i] for i, (_, _, src) in enumerate(items) if src == folder]
        counts = {s: sum(r.status == s for r in mine) for s in ("verified", "false",
                                                                 "unreadable")}
        line = (f"{folder}: {len(mine)} certificates: {counts['verified']} verified, "
                f"{counts['false']} false, {counts['unreadable']} unreadable")
        stream = sys.stderr if as_json else sys.stdout
        print(line, file=stream)
        for note in folder_notes:
            print(f"  note: {note}", file=stream)
    worst = max((r.exit_code for r in reports.values()), default=0)
    if any(not any(src == folder for _, _, src in items) for folder in notes):
        worst = max(worst, 3)  # a folder without any certificate proves nothing
    return worst
