"""Re-check many certificates: files, folders and whole sweeps.

``exactcl verify`` takes files and folders. A sweep folder (one with
``sweep.json``) contributes the certificate of every case its records say
succeeded, and each certificate's claim is compared with what its record
shows of it, and its model with the model the record's case (spec or phi,
flow) gives: a certificate of another model does not back a row, whatever
its own claim; a missing certificate, or a record or manifest that cannot
be read (a repeated key, another case's record), is an unreadable file. Its tables
(``results.md``, ``results.tex``, ``results.csv``) are files with a verdict
too: each is rebuilt in memory from the manifest, the records and the
verified certificates, as the sweep writes it, and must be the file byte
for byte (else the report names the first line that differs), every row
that shows a certificate showing one that verified. Any other folder
contributes every ``*.json`` file below it. Each certificate is verified by
:func:`exactcl.kernel.verifier.verify`, in worker processes with ``jobs > 1``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

from ..engine.progress import Progress
from ..kernel.verifier import Check, Report, not_verified, verify

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


def _read_certificate(path: str) -> dict | None:
    """The parsed certificate of a file just verified (None if it cannot be read
    now)."""
    from ..kernel.certformat import loads
    from ..kernel.errors import CertificateFormatError
    from ..kernel.reading import MAX_FILE_BYTES
    try:
        with open(path, "rb") as fh:
            return loads(fh.read(MAX_FILE_BYTES + 1))
    except (OSError, CertificateFormatError):
        return None


def _against_table(report: Report, path: str, record: dict | None,
                   verified: dict[str, dict]) -> Report:
    """Fail a verified certificate whose claim is not the one its sweep's
    record shows. The certificates that verified (whatever their records
    say) are kept in ``verified``: the tables are rebuilt from them."""
    from .sweep import table_matches
    if record is None or not report.ok:
        return report
    cert = _read_certificate(path)
    if cert is None:
        return report.with_check(Check("sweep table", False, "the certificate cannot be read "
                                                             "again after its verification"))
    problem = case_matches(record, cert)
    if problem is not None:  # it backs no row: the tables showing it are false too
        return report.with_check(Check("sweep case", False, problem))
    verified[path] = cert
    problem = table_matches(record, cert)
    if problem is not None:
        return report.with_check(Check("sweep table", False, problem))
    return report


def case_matches(record: dict, cert: dict) -> str | None:
    """None when the certificate proves the case of its sweep record (the
    model its spec or phi gives, under its flow: the same model section,
    name, variables, program, phi or fields, flow and base), else what
    differs. A certificate of another model, even with a true claim of its
    own, does not back the row."""
    from ..certificates.build import model_section
    from ..kernel.errors import ExactclError
    from .grid import Case
    try:
        case = Case.from_dict(record["case"])
        expected = model_section(case.model())
    except (ExactclError, KeyError, TypeError, ValueError, AttributeError) as err:
        return f"the record's case cannot be rebuilt to compare ({err})"
    got = cert["model"]
    if got == expected:
        return None
    for key in ("name", "variables", "program", "phi", "fields", "flow", "base"):
        if got.get(key) != expected.get(key):
            return (f"the certificate is not of the record's case {case.label}: its model's "
                    f"{key} differs from the one {case.label} gives (the certificate names "
                    f"{got.get('name')!r})")
    return (f"the certificate is not of the record's case {case.label}: its model section "
            f"differs from the one {case.label} gives")


#: Characters of a table line shown in a report.
LINE_CHARS = 100


def _shown(line: str | None) -> str:
    if line is None:
        return "nothing (the file ends)"
    line = line.rstrip("\n")
    return repr(line if len(line) <= LINE_CHARS else line[:LINE_CHARS - 3] + "...")


def _first_difference(disk: bytes, ours: str) -> str:
    """Where a table file differs from the rebuilt table: its first line that
    differs, and both versions."""
    try:
        theirs = disk.decode("utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        return "the file is not UTF-8 text"
    mine = ours.splitlines(keepends=True)
    for n in range(max(len(theirs), len(mine))):
        a = theirs[n] if n < len(theirs) else None
        b = mine[n] if n < len(mine) else None
        if a != b:
            return (f"line {n + 1} differs from the table rebuilt from the certificates and "
                    f"records: the file has {_shown(a)}, the rebuilt table {_shown(b)}")
    return "the bytes differ from the table rebuilt from the certificates and records"


def _table_reports(folder: str, verified: dict[str, dict]) -> list[Report]:
    """One report per table file of a sweep folder: its bytes are those of the
    tables rebuilt from the verified certificates and the records, and every
    row showing a certificate shows one that verified."""
    from ..kernel.errors import ExactclError
    from .sweep import TABLE_FILES, rebuilt_tables
    try:
        tables, backed = rebuilt_tables(folder, verified)
    except (ExactclError, TypeError, KeyError, AttributeError):
        return []  # the manifest is unreadable: reported so as a file
    unbacked = [label for label, path in backed if path not in verified]
    out = []
    for name in TABLE_FILES:
        path = os.path.join(folder, name)
        try:
            with open(path, "rb") as fh:
                disk = fh.read()
        except OSError as err:
            same, detail = False, (f"cannot read it ({err.strerror}); a sweep writes its "
                                   f"tables when it ends")
        else:
            same = disk == tables[name].encode("utf-8")
            detail = (f"the bytes of the table rebuilt from the manifest, the {len(backed)} "
                      f"certificates and the records" if same else
                      _first_difference(disk, tables[name]))
        rows = (Check("table rows", True, f"every row showing a certificate ({len(backed)}) "
                                          f"shows one that verified") if not unbacked else
                Check("table rows", False,
                      f"{len(unbacked)} row(s) show a certificate that did not verify: "
                      + ", ".join(unbacked[:5]) + (", ..." if len(unbacked) > 5 else "")))
        checks = (Check("table", same, detail), rows)
        if same and not unbacked:
            out.append(Report(path, "verified", checks,
                              "VERIFIED: the table is the one the verified certificates and "
                              "the sweep's records give"))
        else:
            out.append(Report(path, "false", checks, not_verified(checks)))
    return out


#: The table of a proofs/ claim's folder (:func:`exactcl.workflows.reproduce.summary_markdown`).
SUMMARY = "SUMMARY.md"


def _row_claims(cert: dict) -> dict:
    """What a summary row shows of its certificate: model, D (or the
    subset's size), laws (or bounds lo..hi), proof, exhibited."""
    part = cert.get("subset") or cert["claim"]
    laws = part["laws"] if part["laws"] is not None else "{}..{}".format(*part["bounds"])
    if "subset" in cert:
        return {"parameters": str(len(part["parameters"])), "laws": str(laws),
                "proof": part["proof"], "exhibited": str(part["laws_rank"])}
    return {"parameters": str(cert["claim"]["parameters"]), "laws": str(laws),
            "proof": part["proof"], "exhibited": str(cert["laws"]["rank"])}


def _summary_report(folder: str, ok: set[str]) -> Report:
    """The SUMMARY.md of a proofs/ claim's folder against the certificates its
    rows link to: every linked certificate verified, and each row shows that
    certificate's model and claim (D or the subset's size, laws, proof,
    exhibited)."""
    import re
    path = os.path.join(folder, SUMMARY)
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        return Report(path, "unreadable", summary=f"not verified: cannot read it ({err})")
    row = re.compile(r"\| `(?P<model>[^`]*)` \| (?P<parameters>[^|]*) \|.*\| (?P<laws>[^|]*) \| "
                     r"(?P<proof>[^|]*) \| (?P<exhibited>[^|]*) \| [^|]* \| "
                     r"\[[^\]]*\]\((?P<file>[^)]*)\) \|")
    problems, rows = [], 0
    for n, line in enumerate(lines, 1):
        m = row.fullmatch(line)
        if m is None:
            continue
        rows += 1
        target = os.path.normpath(os.path.join(folder, m["file"]))
        if os.path.dirname(target) != os.path.normpath(folder) or target not in ok:
            problems.append(f"line {n} shows {m['file']}, which is not a certificate of this "
                            f"folder that verified")
            continue
        cert = _read_certificate(target)
        if cert is None:
            problems.append(f"line {n}: {m['file']} cannot be read again")
            continue
        name = cert["model"]["name"]
        if not (m["model"] == name or ("subset" in cert and m["model"].startswith(f"{name} on "))):
            problems.append(f"line {n} names the model {m['model']!r}; {m['file']} is of {name!r}")
            continue
        for key, value in _row_claims(cert).items():
            if m[key].strip() != value:
                problems.append(f"line {n} ({m['model']}) shows {key} {m[key].strip()!r}; "
                                f"{m['file']} claims {value!r}")
                break
    checks = (Check("summary rows", not problems and rows > 0,
                    f"{rows} rows, each the claim of the verified certificate it links to"
                    if not problems and rows else
                    (problems[0] + (f" (and {len(problems) - 1} more)" if len(problems) > 1
                                    else "") if problems else "no row links a certificate")),)
    if checks[0].passed:
        return Report(path, "verified", checks, "VERIFIED: every row is the claim of the "
                                                "verified certificate it links to")
    return Report(path, "false", checks, not_verified(checks))


def _summaries(folder: str) -> list[str]:
    """The folders below ``folder`` (itself included) holding a SUMMARY.md."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        if SUMMARY in files:
            out.append(root)
    return out


def _is_sweep(folder: str) -> bool:
    from .sweep import MANIFEST
    return os.path.isdir(folder) and os.path.exists(os.path.join(folder, MANIFEST))


def _print(report: Report, as_json: bool, quiet: bool) -> None:
    if as_json:
        print(json.dumps({"file": report.source, "status": report.status,
                          "checks": [{"claim": c.claim, "passed": c.passed,
                                      "detail": c.detail} for c in report.checks],
                          "summary": report.summary}, sort_keys=True), flush=True)
    elif not (quiet and report.ok):
        print(report, flush=True)


def verify_paths(paths: Sequence[str], *, exact: bool = False, fingerprint: bool = True,
                 rounds: int = 2, work_limit: float = 1.0, jobs: int = 1,
                 as_json: bool = False, quiet: bool = False) -> int:
    """Verify files and folders, print one report per file (and a summary
    per folder); return the exit status (0 all verified, 1 a claim is
    false, 3 a file is unreadable)."""
    from ..kernel.errors import InputError
    from .engines import InProcess, ProcessPool
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
    verified: dict[str, dict] = {}  # certificate path -> parsed, once verified
    outcomes = runner.run(_verify_one, tasks, tick=bar.draw)
    try:
        for key, report in outcomes:
            i = int(key)
            path, record, _ = items[i]
            if not isinstance(report, Report):  # the worker died
                report = Report(path, "unreadable", summary=f"not verified: {report.message}")
            report = _against_table(report, path, record, verified)
            reports[i] = report
            bar.clear()
            _print(report, as_json, quiet)
            bar.advance(failed=not report.ok)
    finally:
        outcomes.close()
        runner.close()
        bar.close()
    tables: dict[str, list[Report]] = {}
    ok = {os.path.normpath(items[i][0]) for i, r in reports.items() if r.ok}
    for folder in notes:
        if _is_sweep(folder):
            tables[folder] = _table_reports(folder, verified)
        else:  # every proofs/ claim's summary below the folder
            tables[folder] = [_summary_report(root, ok) for root in _summaries(folder)]
        for report in tables.get(folder, []):
            _print(report, as_json, quiet)
    for folder, folder_notes in notes.items():
        mine = [reports[i] for i, (_, _, src) in enumerate(items) if src == folder]
        counts = {s: sum(r.status == s for r in mine) for s in ("verified", "false",
                                                                 "unreadable")}
        line = (f"{folder}: {len(mine)} certificates: {counts['verified']} verified, "
                f"{counts['false']} false, {counts['unreadable']} unreadable")
        if tables.get(folder):
            good = sum(r.ok for r in tables[folder])
            line += f"; {len(tables[folder])} tables: {good} verified, " \
                    f"{len(tables[folder]) - good} false"
        stream = sys.stderr if as_json else sys.stdout
        print(line, file=stream)
        for note in folder_notes:
            print(f"  note: {note}", file=stream)
    worst = max((r.exit_code for r in [*reports.values(), *(r for rs in tables.values()
                                                            for r in rs)]), default=0)
    if any(not any(src == folder for _, _, src in items) for folder in notes):
        worst = max(worst, 3)  # a folder without any certificate proves nothing
    return worst
