"""Sweeps: certify every case of a grid, in parallel, resumably, into one folder.

A sweep folder holds::

    sweep.json                  every case of the folder, in table order, and the options
                                of the last run
    certificates/<case>.json    one certificate per case that succeeded
    cases/<case>.json           one record per finished case (ok or failed)
    results.md, results.tex, results.csv   the table of results

A folder may hold several grids: running a different grid into a folder
adds its cases to the ones already finished there (each record keeps the
options it was made with), and the manifest and the tables list them all,
so they always agree with ``cases/``. :attr:`SweepResult.other_grid`
counts the cases kept from earlier grids (the command line prints it).

Every file is written atomically (a temporary file, then a rename), the
certificate before its record, by this process alone: workers only
compute. A case is done when its record exists, matches the case and the
options, and (when it succeeded) its certificate is there with the
recorded SHA-256. So an interrupted sweep loses at most the cases that
were running, and the same command resumes it. Certificates are written
reproducibly (no time inside; the time is in the record): the same grid
gives byte-identical certificates whatever the engine or the number of
workers.

A case that fails (bad input, too large, a bug, a time limit, a crashed
worker) gets a record with its error and a row in the table; the sweep
goes on. Failed cases are not re-run on resume unless asked
(``retry_failed``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..certificates.files import check_output, write_atomic
from ..engine.progress import Progress, format_duration
from ..kernel.errors import ExactclError, InputError, plural
from ..kernel.reading import strict_json
from .engines import (
    DaskEngine,
    Failure,
    InProcess,
    ProcessPool,
    default_jobs,
    require_dask,
)
from .grid import Case, option_problem, unique

__all__ = ["SWEEP_SCHEMA", "SweepInterrupted", "SweepResult", "folder_certificates",
           "list_cases", "run_case", "sweep"]

SWEEP_SCHEMA = "exactcl-sweep"
SWEEP_VERSION = 1
MANIFEST = "sweep.json"
LOCK = ".exactcl-sweep.lock"


def _options(seed: int, closure: str, closure_rounds: int) -> dict:
    opts = {"seed": seed, "closure": closure, "closure_rounds": closure_rounds}
    for key, value in opts.items():
        _check_argument(key, value)
    return opts


def _check_argument(key: str, value: object) -> None:
    problem = option_problem(key, value)
    if problem is not None:
        raise InputError(f"Argument {key!r} must be {problem}, not {value!r}.")


# -- one case (runs in a worker) ------------------------------------------------------

def run_case(task: dict) -> dict:
    """Certify one case; never raises.

    ``task`` is ``{"case": Case.as_dict(), "options": {...}}``. Returns
    ``{"record": ..., "certificate": text or None}``: the record holds
    the claim (or the error) and the time; the certificate is the
    canonical text to write.

    Examples
    --------
    >>> out = run_case({"case": Case(spec="linear:2,2,2").as_dict(),
    ...                 "options": {"seed": 0, "closure": "auto", "closure_rounds": 2}})
    >>> r = out["record"]
    >>> r["status"], r["parameters"], r["laws"], r["lie_dimension"], r["proof"]
    ('ok', 8, 3, 5, 'sandwich')
    >>> run_case({"case": Case(spec="relu:100,100,100,100").as_dict(),
    ...           "options": {"seed": 0, "closure": "auto", "closure_rounds": 2}})["record"]["error"]["kind"]
    'ResourceError'
    """
    from ..certificates.build import certify
    from ..kernel.certformat import dumps

    start = time.perf_counter()
    record: dict = {"case": task["case"], "options": task["options"]}
    text = None
    try:
        case = Case.from_dict(task["case"])
        opts = task["options"]
        model = case.model()
        record["parameters"] = model.D
        cert, result = certify(model, None, reproducible=True, search_degree=case.degree,
                               seed=opts["seed"], closure=opts["closure"],
                               closure_rounds=opts["closure_rounds"])
        text = dumps(cert)
        record.update(status="ok", **claim_summary(cert),
                      sha256=hashlib.sha256(text.encode()).hexdigest())
    except ExactclError as err:
        record.update(status="failed", error={"kind": type(err).__name__, "message": str(err)})
    except MemoryError:
        record.update(status="failed", error={"kind": "MemoryError",
                                              "message": "out of memory"})
    except Exception as err:  # a bug: reported in the table, the sweep goes on
        record.update(status="failed", error={"kind": "internal error",
                                              "message": f"{type(err).__name__}: {err}"})
    record["seconds"] = round(time.perf_counter() - start, 3)
    record["host"] = socket.gethostname()
    return {"record": record, "certificate": text}


def claim_summary(cert: dict) -> dict:
    """What a table shows of a certificate: the claim and how it was proven."""
    claim = cert["claim"]
    closure = cert.get("closure") or {}
    bound = closure.get("error_bound")
    if bound is not None:  # "p/q" in the certificate; "2^-k" (rounded up) in tables
        from fractions import Fraction

        from ..kernel.brackets import format_probability
        bound = format_probability(Fraction(bound))
    return {"model": cert["model"]["name"], "parameters": claim["parameters"],
            "laws": claim["laws"], "bounds": list(claim["bounds"]),
            "lie_dimension": claim["lie_dimension"], "lie_rank": cert["lie"]["rank"],
            "exhibited": cert["laws"]["rank"], "certified": claim["status"],
            "proof": claim["proof"], "closure_mode": closure.get("mode"),
            "error_bound": bound}


# -- the sweep ------------------------------------------------------------------------

@dataclass
class SweepResult:
    """The outcome of a sweep: one record per case (None when not run)."""

    folder: str
    cases: list[Case]
    records: dict[str, dict | None]
    ran: int = 0
    resumed: int = 0
    engine: str = ""
    seconds: float = 0.0
    interrupted: bool = False
    tables: list[str] = field(default_factory=list)
    other_grid: int = 0

    @property
    def failed(self) -> list[str]:
        return [k for k, r in self.records.items() if r and r["status"] == "failed"]

    @property
    def pending(self) -> list[str]:
        return [k for k, r in self.records.items() if r is None]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.pending

    def merge_note(self) -> str | None:
        """The line saying how many cases came from another grid, or None."""
        if not self.other_grid:
            return None
        were, them = ("case was", "it") if self.other_grid == 1 else ("cases were", "them")
        return (f"{self.other_grid} {were} already in {self.folder} from another grid; the "
                f"tables list {them} with this grid's")

    def summary(self) -> str:
        done = len(self.cases) - len(self.pending)
        parts = [f"{done} of {plural(len(self.cases), 'case')} done"]
        certified = sum(1 for r in self.records.values()
                        if r and r["status"] == "ok" and r["certified"] == "certified")
        bounds = sum(1 for r in self.records.values()
                     if r and r["status"] == "ok" and r["certified"] != "certified")
        parts.append(f"{certified} certified")
        if bounds:
            parts.append(f"{bounds} bounds only")
        parts.append(f"{len(self.failed)} failed")
        if self.resumed:
            parts.append(f"{self.resumed} kept from an earlier run")
        text = (f"{', '.join(parts)}; {self.engine}, {format_duration(self.seconds)} "
                f"wall clock")
        if self.interrupted:
            text += "; interrupted: run the same command to resume"
        return text

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: the summary line and the table of results
        (:func:`exactcl.workflows.tables.markdown_table`, as in ``results.md``)."""
        from ..engine.display import markdown_escape
        from .tables import markdown_table
        rows = [(case, self.records.get(case.id)) for case in self.cases]
        return f"{markdown_escape(self.summary())}\n\n{markdown_table(rows)}"


class SweepInterrupted(KeyboardInterrupt):
    """Raised by :func:`sweep` on Ctrl-C once every finished case is saved;
    ``result`` holds what was done."""

    def __init__(self, result: SweepResult) -> None:
        super().__init__(result.summary())
        self.result = result


def sweep(cases: Sequence[Case], out: str | os.PathLike, *, jobs: int | None = None,
          engine: str = "pool", scheduler: str | None = None, timeout: float | None = None,
          seed: int = 0, closure: str = "auto", closure_rounds: int = 2,
          retry_failed: bool = False, progress: bool | None = None,
          log: Callable[[str], None] | None = None) -> SweepResult:
    """Certify every case into the folder ``out`` and write the tables.

    Parameters
    ----------
    cases : sequence of Case
        The grid (see :mod:`exactcl.workflows.grid`); its order is the table's.
    out : path
        The sweep folder (created if missing; an earlier sweep there is
        resumed).
    jobs : int, optional
        Parallel workers (default: the usable cores; 1 runs every case in
        this process, unless a ``timeout`` asks for a worker to stop).
    engine : {"pool", "dask"}
        The local process pool, or Dask: the scheduler at ``scheduler``,
        else a local cluster on loopback with ``jobs`` workers.
    timeout : float, optional
        Seconds after which a case is stopped and recorded as failed
        (local pool only).
    seed, closure, closure_rounds
        As in :func:`exactcl.count`.
    retry_failed : bool
        Re-run cases that failed in an earlier run.
    progress : bool, optional
        Draw a progress bar on standard error (default: when it is a
        terminal).
    log : callable, optional
        Called with one line per finished case.

    Raises
    ------
    SweepInterrupted
        On Ctrl-C, after the finished cases and the tables are saved.
    """
    opts = _options(seed, closure, closure_rounds)
    if engine not in ("pool", "dask"):
        raise InputError(f"Argument 'engine' must be 'pool' or 'dask', not {engine!r}.")
    if scheduler is not None and engine != "dask":
        engine = "dask"
    if timeout is not None:
        _check_argument("timeout", timeout)
        if engine == "dask":
            raise InputError("Argument 'timeout' applies to the local pool only; a Dask "
                             "cluster cannot stop a running task.")
    if jobs is not None:
        _check_argument("jobs", jobs)
    cases = unique(list(cases))
    if not cases:
        raise InputError("The sweep has no case: give a family with ranges, --spec or "
                         "--config.")
    if engine == "dask":
        require_dask()  # before the folder is made: a missing extra leaves nothing behind
    folder = _prepare_folder(out)
    start = time.monotonic()
    with _locked(folder):
        _clean_temporaries(folder)
        grid = cases
        records = {c.id: _finished(folder, c, opts, retry_failed) for c in grid}
        resumed = sum(r is not None for r in records.values())
        cases, others = _with_other_grids(folder, grid)
        records |= others
        write_atomic(os.path.join(folder, MANIFEST), _dumps({
            "schema": SWEEP_SCHEMA, "version": SWEEP_VERSION, "options": opts,
            "cases": [c.as_dict() for c in cases]}))
        result = SweepResult(folder, cases, records, resumed=resumed, other_grid=len(others))
        todo = sorted((c for c in grid if records[c.id] is None), key=lambda c: -c.cost())
        runner = _engine(engine, scheduler, jobs, timeout, len(todo))
        result.engine = runner.name
        bar = Progress(len(cases), "sweep", enabled=progress,
                       initial=result.resumed + result.other_grid, failed=len(result.failed))
        say = log if log is not None else (lambda line: None)
        tasks = [(c.id, {"case": c.as_dict(), "options": opts}) for c in todo]
        by_id = {c.id: c for c in cases}
        outcomes = runner.run(run_case, tasks, timeout, tick=bar.draw)
        try:
            for key, outcome in outcomes:
                with _signals_deferred():  # the table gets the record if the disk has it
                    record = _save(folder, by_id[key], opts, outcome)
                    records[key] = record
                result.ran += 1
                bar.clear()
                say(_log_line(record))
                bar.advance(failed=record["status"] == "failed")
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            outcomes.close()
            runner.close()
            bar.close()
            result.seconds = time.monotonic() - start
            result.tables = write_tables(folder, cases, records)
    if result.interrupted:
        raise SweepInterrupted(result)
    return result


def list_cases(cases: Sequence[Case], out: str | os.PathLike, *, seed: int = 0,
               closure: str = "auto", closure_rounds: int = 2, **_ignored) -> list[str]:
    """One line per case of the grid, saying whether ``out`` holds it done,
    then a count; nothing is written.

    >>> import tempfile
    >>> from exactcl.workflows.grid import grid_cases
    >>> list_cases(grid_cases("linear", depth=2, width=1), tempfile.mkdtemp())
    ['todo    linear_1-1-1    linear:1,1,1', '1 case: 0 done, 0 failed, 1 to run']
    """
    opts = _options(seed, closure, closure_rounds)
    cases = unique(list(cases))
    if not os.fspath(out):
        raise InputError("Argument '--out' must name a folder, not ''.")
    folder = os.path.abspath(os.fspath(out))
    exists = os.path.isdir(folder)
    lines, done, failed = [], 0, 0
    width = max((len(c.id) for c in cases), default=0)
    for c in cases:
        record = _finished(folder, c, opts, retry_failed=False) if exists else None
        state = "todo" if record is None else record["status"]
        done += state == "ok"
        failed += state == "failed"
        lines.append(f"{state:<7} {c.id:<{width}}    {c.label}"
                     + ("" if c.degree is None else f" (degree {c.degree})"))
    lines.append(f"{plural(len(cases), 'case')}: {done} done, {failed} failed, "
                 f"{len(cases) - done - failed} to run")
    others = _with_other_grids(folder, cases)[1] if exists else {}
    if others:
        lines.append(f"{plural(len(others), 'more case')} in the folder from another grid "
                     f"(kept, and listed in its tables)")
    return lines


def _engine(engine: str, scheduler: str | None, jobs: int | None, timeout, todo: int):
    if todo == 0:
        return InProcess()  # nothing to run: no workers, no cluster
    if engine == "dask":
        return DaskEngine(scheduler, jobs)
    jobs = default_jobs() if jobs is None else jobs
    if timeout is None and (jobs == 1 or todo <= 1):
        return InProcess()
    return ProcessPool(max(1, min(jobs, todo)))


def _prepare_folder(out: str | os.PathLike) -> str:
    folder = os.path.abspath(check_output(out, "--out", folder=True))
    try:
        for sub in ("", "certificates", "cases"):
            os.makedirs(os.path.join(folder, sub), exist_ok=True)
    except OSError as err:
        raise InputError(f"Argument '--out' must be a folder that can be created, not "
                         f"{os.fspath(out)!r} ({err.strerror}).") from None
    return folder


@contextlib.contextmanager
def _signals_deferred():
    """Hold Ctrl-C and SIGTERM while a case's certificate and record are
    written, so an interrupt never separates them; they arrive right after."""
    import signal
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def _locked(folder: str):
    """Hold an exclusive lock on the folder: two sweeps never write one folder."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not on POSIX: no lock
        yield
        return
    fh = open(os.path.join(folder, LOCK), "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise InputError(f"Argument '--out' names a folder another sweep is writing now: "
                             f"{folder!r}.") from None
        yield
    finally:
        fh.close()


def _clean_temporaries(folder: str) -> None:
    """Remove temporary files a killed earlier run left (never a result)."""
    for sub in ("", "certificates", "cases"):
        where = os.path.join(folder, sub)
        for name in os.listdir(where):
            if name.startswith(".exactcl-") and name.endswith(".tmp"):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(where, name))


def _dumps(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def certificate_path(folder: str, case: Case) -> str:
    return os.path.join(folder, "certificates", f"{case.id}.json")


def record_path(folder: str, case: Case) -> str:
    return os.path.join(folder, "cases", f"{case.id}.json")


def _finished(folder: str, case: Case, opts: dict, retry_failed: bool) -> dict | None:
    """The record of a case already done in this folder, else None."""
    try:
        with open(record_path(folder, case), encoding="utf-8") as fh:
            record = strict_json(fh.read())
    except (OSError, ValueError):
        return None
    if (not isinstance(record, dict) or record.get("case") != case.as_dict()
            or record.get("options") != opts):
        return None
    if record.get("status") == "failed":
        return None if retry_failed else record
    if record.get("status") != "ok":
        return None
    try:
        with open(certificate_path(folder, case), "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
    except OSError:
        return None
    return record if digest == record.get("sha256") else None


def _with_other_grids(folder: str, grid: Sequence[Case]) -> tuple[list[Case], dict]:
    """The cases of the folder's table, and the records of those finished
    there by another grid: every valid record in ``cases/`` (with the
    options it was made with) is kept. Without such records the table is
    the grid; else the folder's earlier order, then the grid's new cases."""
    in_grid = {c.id for c in grid}
    held: dict[str, tuple[Case, dict]] = {}
    where = os.path.join(folder, "cases")
    names = sorted(os.listdir(where)) if os.path.isdir(where) else []
    for name in names:
        if not name.endswith(".json") or name.startswith(".") or name[:-5] in in_grid:
            continue
        try:
            with open(os.path.join(where, name), encoding="utf-8") as fh:
                data = strict_json(fh.read())
            case = Case.from_dict(data["case"])
            options = data["options"]
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            continue  # not a record of this format: never listed
        if f"{case.id}.json" != name or not isinstance(options, dict):
            continue
        record = _finished(folder, case, options, retry_failed=False)
        if record is not None:
            held[case.id] = (case, record)
    if not held:
        return list(grid), {}
    try:
        earlier = [Case.from_dict(d).id for d in read_manifest(folder)["cases"]]
    except (InputError, TypeError, KeyError, AttributeError):
        earlier = []
    by_id = {c.id: c for c in grid} | {k: case for k, (case, _) in held.items()}
    order = dict.fromkeys(earlier + sorted(held) + [c.id for c in grid])  # first place kept
    cases = [by_id[k] for k in order if k in by_id]
    return cases, {k: record for k, (_, record) in held.items()}


def _save(folder: str, case: Case, opts: dict, outcome: object) -> dict:
    """Write the certificate, then the record, of a finished case."""
    if isinstance(outcome, Failure):
        record = {"case": case.as_dict(), "options": opts, "status": "failed",
                  "error": {"kind": outcome.kind, "message": outcome.message},
                  "seconds": None, "host": None}
    else:
        record = outcome["record"]
        if outcome["certificate"] is not None:
            write_atomic(certificate_path(folder, case), outcome["certificate"])
            record["certificate"] = os.path.relpath(certificate_path(folder, case), folder)
    write_atomic(record_path(folder, case), _dumps(record))
    return record


def _log_line(record: dict) -> str:
    case = Case.from_dict(record["case"])
    if record["status"] == "failed":
        err = record["error"]
        return f"failed  {case.label}: {err['kind']}: {err['message']}"
    laws = (plural(record["laws"], "law") if record["laws"] is not None
            else "between {} and {} laws".format(*record["bounds"]))
    proof = record["proof"] if record["certified"] == "certified" else "bounds only"
    return (f"ok      {case.label}{'' if case.degree is None else f' (degree {case.degree})'}: "
            f"D = {record['parameters']}, {laws} ({proof}), {record['seconds']:.2f} s")


def _renderers() -> tuple:
    from .tables import csv_table, latex_table, markdown_table
    return (("results.md", markdown_table), ("results.tex", latex_table),
            ("results.csv", csv_table))


#: The table files of a sweep folder, in the order they are written.
TABLE_FILES = ("results.md", "results.tex", "results.csv")


def write_tables(folder: str, cases: Sequence[Case], records: dict) -> list[str]:
    """Write results.md, results.tex and results.csv; return their paths."""
    rows = [(c, records.get(c.id)) for c in cases]
    paths = []
    for name, render in _renderers():
        path = os.path.join(folder, name)
        write_atomic(path, render(rows))
        paths.append(path)
    return paths


# -- reading a sweep back -------------------------------------------------------------

def read_manifest(folder: str) -> dict:
    """The manifest of a sweep folder (:class:`InputError` when unreadable)."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as fh:
            data = strict_json(fh.read(), path)
    except (OSError, ValueError) as err:
        raise InputError(f"{path} is not a readable sweep manifest ({err}).") from None
    if not isinstance(data, dict) or data.get("schema") != SWEEP_SCHEMA \
            or not isinstance(data.get("cases"), list):
        raise InputError(f"{path} is not an exactcl sweep manifest.")
    return data


def folder_certificates(folder: str | os.PathLike) -> tuple[list[tuple[str, dict | None]],
                                                              list[str]]:
    """The certificates a folder holds, to verify them all.

    For a sweep folder (one with ``sweep.json``): the certificate of every
    case whose record says it succeeded, each with the claim the table
    shows (to compare with the certificate's), and a list of problems
    (a succeeded case whose certificate is missing, cases not run, failed
    cases). For any other folder: every ``*.json`` file below it, sorted.
    """
    folder = os.fspath(folder)
    if not os.path.exists(os.path.join(folder, MANIFEST)):
        found = []
        for root, dirs, files in os.walk(folder):
            dirs.sort()
            found += [(os.path.join(root, f), None) for f in sorted(files)
                      if f.endswith(".json") and not f.startswith(".")]
        return found, []
    try:
        manifest = read_manifest(folder)
        cases = [Case.from_dict(data) for data in manifest["cases"]]
    except (InputError, TypeError, KeyError, AttributeError):
        # verified as a file, the manifest is reported unreadable with the reason
        return [(os.path.join(folder, MANIFEST), None)], []
    out, notes = [], []
    for case in cases:
        path = record_path(folder, case)
        try:
            with open(path, encoding="utf-8") as fh:
                record = strict_json(fh.read())
        except OSError:
            notes.append(f"{case.label}: not run yet")
            continue
        except ValueError:  # verified as a file: unreadable, with the reason
            out.append((path, None))
            continue
        if not isinstance(record, dict) or record.get("case") != case.as_dict():
            out.append((path, None))  # not the record of its row: unreadable as it is
            notes.append(f"{case.label}: its record is not the record of this case")
            continue
        if record.get("status") == "failed":
            notes.append(f"{case.label}: failed in the sweep "
                         f"({(record.get('error') or {}).get('kind')})")
            continue
        out.append((certificate_path(folder, case), record))
    return out, notes


def table_matches(record: dict, cert: dict) -> str | None:
    """None when what a sweep's record shows of a certificate (its claim and
    how it was proven, :func:`claim_summary`) is the certificate's, else what
    differs."""
    for key, value in claim_summary(cert).items():
        if record.get(key) != value:
            return (f"the sweep's record says {key} = {record.get(key)!r} but the certificate "
                    f"says {value!r}")
    return None


def rebuilt_tables(folder: str | os.PathLike, certificates: dict[str, dict]
                   ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """The tables a sweep folder should hold, rebuilt in memory as the sweep
    builds them: from the manifest and the records the sweep counts as done
    (a record matching its case and options, with its certificate's
    SHA-256), each succeeded case showing the claim of its certificate as
    given in ``certificates`` (certificate path, as :func:`folder_certificates`
    lists it, -> parsed certificate; a case missing there shows its record).
    The seconds and the host come from the records.

    Returns the text of each table file, and (case label, certificate path)
    for every row that shows a certificate.
    """
    folder = os.fspath(folder)
    manifest = read_manifest(folder)
    options = manifest.get("options")
    cases = [Case.from_dict(data) for data in manifest["cases"]]
    records: dict[str, dict | None] = {}
    backed = []
    for case in cases:
        record = _finished(folder, case, options, retry_failed=False)
        path = certificate_path(folder, case)
        if record is not None and record.get("status") == "ok":
            backed.append((case.label, path))
            if path in certificates:
                record = {**record, **claim_summary(certificates[path]),
                          "certificate": os.path.relpath(path, folder)}
        records[case.id] = record
    rows = [(c, records[c.id]) for c in cases]
    return {name: render(rows) for name, render in _renderers()}, backed
