"""The verifier: re-derive every claim of a certificate from the file alone.

It trusts nothing the producer computed. It rebuilds the generator fields
from the stored model, re-evaluates every bracket word at the stored point
modulo fresh random primes by jets (or expands the words exactly over Q
with ``exact``), recomputes the ranks, checks
every law identity exactly over Q, re-runs the closure check with its own
randomness, and checks that the claimed count follows.

A network stored as its program (schema version 2) is expanded when it is
small (:data:`exactcl.kernel.rankcheck.SMALL_TERMS`, and within the work budget) and then verified
as above. A larger one is never expanded: its generator fields (the
components grad phi_c, or the probe fields the file names) and every basis
word are evaluated from the program at the stored point modulo fresh
primes (:mod:`exactcl.kernel.evaluator`), ranked block by block, and every law
identity grad h . X_c = 0 is checked by Monte Carlo: at least the file's
rounds (and ``rounds``) of evaluations at random points and random probes
modulo random primes, all drawn by the verifier, with the Schwartz-Zippel
error bound stated in the report. A certificate of the program engine
carries no closure section.

It also checks that a model named by a built-in spec (``linear:2,2,2``)
is that model, rebuilding its phi (or its layers) from the name
(:mod:`exactcl.kernel.namecheck`); another name is reported as unchecked.

This module imports only the parsing, ring, field, bracket, jet, program
evaluator and linear algebra layers and the name check (a test enforces
it): never the growth or search code that produced the certificate, nor
the builders of the models, nor SymPy.

Exit statuses of ``exactcl verify``: 0 when every claim holds, 1 when a
claim is false, 3 when a file is unreadable or of an unknown schema.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, field

from .blocks import BlockLayout
from .budget import (
    DERIVATIVE,
    VERIFY_WORK,
    BudgetExceeded,
    WorkBudget,
    evaluation_work,
    verify_budget,
)
from .certformat import check_structure, decode_terms, dumps, fingerprint, loads
from .closurecheck import closure_claim, understated
from .errors import CertificateFormatError, plural
from .fields import (
    VectorField,
    gradient_values,
    terms_gradient_mod,
)
from .lawchecks import (
    Check,
    _file_terms,
    _identities_exact,
    _identities_monte_carlo,
    _terms_work,
)
from .namecheck import check_name, is_builtin_name, shown_name
from .programs import program_layout
from .rankcheck import (
    ProbeFields,
    exact_factor,
    expanded_program,
    program_rank,
    program_text,
    values_rank,
    words_rank,
)
from .reading import MAX_FILE_BYTES, checked, int_list
from .rebuild import (
    decode_work,
    generators_of,
    ring_of,
)
from .rings import LazyLaws, terms_degree

__all__ = ["Check", "Report", "not_verified", "verify", "verify_text", "verify_certificate"]

#: Bounds on the bracket words a file may ask for (hostile files): their
#: number, their depth (the degree of a word grows with it), and the terms
#: of all words expanded exactly (memory). The work of every phase is
#: bounded by the budget of :mod:`exactcl.kernel.budget` (VERIFY_WORK units times
#: ``work_limit``), estimated before each phase and counted during it.
MAX_WORDS_PER_PARAMETER = 8
MAX_WORD_DEPTH = 64


@dataclass(frozen=True)
class Report:
    """Outcome of verifying one certificate.

    ``status`` is ``"verified"`` (every claim holds), ``"false"`` (a claim
    does not hold) or ``"unreadable"``.
    """

    source: str
    status: str
    checks: tuple[Check, ...] = field(default=())
    summary: str = ""
    #: Units of work spent (:mod:`exactcl.kernel.budget`), a deterministic count.
    work: int = 0

    def __post_init__(self) -> None:
        if self.status == "verified" and not all(c.passed for c in self.checks):
            raise ValueError("A report with a failed check cannot be 'verified'.")

    def with_check(self, check: Check) -> Report:
        """This report with one more check, and one verdict for the file: a
        failed check makes a verified or false report false, its summary
        naming every failed claim. An unreadable report stays unreadable.

        >>> r = Report("c.json", "verified", (Check("count", True, "3 laws"),), "VERIFIED: ...")
        >>> r.with_check(Check("sweep table", False, "laws differ")).summary
        'NOT VERIFIED: false claim(s): sweep table'
        """
        checks = self.checks + (check,)
        if check.passed or self.status == "unreadable":
            return Report(self.source, self.status, checks, self.summary, self.work)
        return Report(self.source, "false", checks, not_verified(checks), self.work)

    @property
    def ok(self) -> bool:
        return self.status == "verified"

    @property
    def exit_code(self) -> int:
        return {"verified": 0, "false": 1, "unreadable": 3}[self.status]

    def lines(self) -> list[str]:
        head = f"{self.source}: {self.status.upper()}"
        return [head] + [c.line() for c in self.checks] + ([f"  {self.summary}"]
                                                            if self.summary else [])

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def _repr_markdown_(self) -> str:
        """Markdown for Jupyter: the status, each check passed or FAILED, and
        the summary.

        >>> print(Report("c.json", "false", (Check("Lie rank", True, "rank 5"),
        ...       Check("count", False, "3 laws = 8 - 5")), "NOT VERIFIED")._repr_markdown_())
        **FALSE**: c.json
        <BLANKLINE>
        - passed: Lie rank: rank 5
        - **FAILED**: count: 3 laws = 8 - 5
        <BLANKLINE>
        NOT VERIFIED
        """
        lines = [f"**{self.status.upper()}**: {_markdown(self.source)}"]
        if self.checks:
            lines.append("")
        for c in self.checks:
            state = "passed" if c.passed else "**FAILED**"
            lines.append(f"- {state}: {_markdown(c.claim)}: {_markdown(c.detail)}")
        if self.summary:
            lines += ["", _markdown(self.summary)]
        return "\n".join(lines)


#: Markdown's special characters outside math, escaped in a rich display
#: (as exactcl.engine.display.markdown_escape does: the verifier imports nothing
#: outside its layers).
_MARKDOWN = str.maketrans({ch: "\\" + ch for ch in "\\`*_<>#|$~&"})


def _markdown(text: str) -> str:
    return " ".join(text.translate(_MARKDOWN).split())


def not_verified(checks: tuple[Check, ...] | list[Check]) -> str:
    """The summary of a report with failed checks, naming each failed claim."""
    return "NOT VERIFIED: false claim(s): " + ", ".join(c.claim for c in checks
                                                         if not c.passed)


def verify(path: str | os.PathLike, **options) -> Report:
    """Verify the certificate in a file (see :func:`verify_certificate`)."""
    import stat
    source = os.fspath(path)
    try:  # without blocking: a named pipe with no writer would wait forever
        fd = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return Report(source, "unreadable",
                              summary="cannot read the file: not a regular file")
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as err:
        return Report(source, "unreadable", summary=f"cannot read the file: {err.strerror}")
    return verify_text(data, source=source, **options)


def verify_text(data: str | bytes, source: str = "<certificate>", **options) -> Report:
    """Verify certificate text."""
    try:
        cert = loads(data)
    except CertificateFormatError as err:
        return Report(source, "unreadable", summary=str(err))
    return verify_certificate(cert, source=source, nbytes=len(data), **options)


def verify_certificate(cert: dict, source: str = "<certificate>", *,
                       check_fingerprint: bool = True, exact: bool = False,
                       rounds: int = 2, rng: random.Random | None = None,
                       work_limit: float = 1.0, nbytes: int | None = None) -> Report:
    """Re-derive every claim of a parsed certificate.

    Parameters
    ----------
    cert : dict
        As returned by :func:`exactcl.kernel.certformat.loads`.
    check_fingerprint : bool
        Also compare the model's fingerprint (an integrity check only: the
        claims are verified by recomputation either way).
    exact : bool
        Decide ranks exactly over Q instead of modulo fresh primes.
    rounds : int
        Minimum number of Monte Carlo rounds re-run: of the closure check,
        and of the law identities of a program too large to expand.
    rng : random.Random, optional
        Source of the fresh primes and points (default: the system's).
    work_limit : float
        Multiplies the budget of work (:func:`exactcl.kernel.budget.verify_budget`:
        ``VERIFY_WORK`` units, at most a second, for a file of up to 100 kB,
        and more in proportion to the size of a larger one) and the bound
        on the terms of exactly expanded words. A file whose estimated or
        counted work exceeds it is refused (status "unreadable", exit 3)
        with the estimate; raise it for a trusted source (the refusal
        message says to what).
    nbytes : int, optional
        The size of the file the certificate was read from (default: that
        of its canonical text).

    Examples
    --------
    >>> from exactcl.certificates.build import certify
    >>> from exactcl.models.builtin import product
    >>> cert, _ = certify(product(3), reproducible=True)
    >>> report = verify_certificate(cert)
    >>> report.status, report.exit_code
    ('verified', 0)
    """
    rng = rng or random.SystemRandom()
    budget = WorkBudget(verify_budget(nbytes or 0, work_limit))
    try:
        check_structure(cert)  # a dict given directly is held to the file's rules
        if nbytes is None:
            nbytes = len(dumps(cert).encode())
            budget.limit = verify_budget(nbytes, work_limit)
        checks = _run(cert, check_fingerprint, exact, rounds, rng, work_limit, budget)
        notes = [c.note for c in checks if c.note]
    except CertificateFormatError as err:
        return Report(source, "unreadable", summary=str(err), work=budget.spent)
    except BudgetExceeded as err:
        return Report(source, "unreadable", summary=_refusal(err, work_limit, nbytes),
                      work=budget.spent)
    ok = all(c.passed for c in checks)
    claim = cert["claim"]
    if ok:
        if claim["laws"] is not None:
            summary = (f"VERIFIED: exactly {plural(claim['laws'], 'independent conservation law')} "
                       f"(D = {claim['parameters']}, proof: {claim['proof']})")
        else:
            summary = (f"VERIFIED: between {claim['bounds'][0]} and {claim['bounds'][1]} "
                       f"independent conservation laws (bounds only)")
        summary += "".join(f"; {note}" for note in notes)
        model = cert["model"]
        named = model["base"]["name"] if "flow" in model else model["name"]
        if not _checked_name(named):
            whose = "the base model's" if "flow" in model else "the model's"
            summary += (f"; name not checked: {whose} name {shown_name(named, 100)!r} is not a "
                        f"built-in spec")
    else:
        summary = not_verified(checks)
    return Report(source, "verified" if ok else "false", tuple(checks), summary, budget.spent)


def _refusal(err: BudgetExceeded, work_limit: float, nbytes: int) -> str:
    """The one-line refusal of a file whose work exceeds the budget."""
    allowed = verify_budget(nbytes)
    if err.needed is not None:
        advice = (f"a trusted file may be verified with a work limit of "
                  f"{_round_up(err.needed / allowed)} or more")
    else:
        advice = f"a trusted file may be verified with a work limit above {work_limit:g}"
    return (f"refused: {err}; a file of {nbytes:,} bytes from an unknown source may cost at "
            f"most {allowed:,} units (about {allowed / VERIFY_WORK:.2g} s of CPU) at work limit 1, and "
            f"{advice} (exactcl verify --work-limit X).")


def _round_up(x: float) -> str:
    """``x`` rounded up to three significant digits.

    >>> _round_up(2.0), _round_up(1788.02), _round_up(0.012341)
    ('2', '1790', '0.0124')
    """
    if x <= 0:
        return "0"
    scale = 10 ** (math.floor(math.log10(x)) - 2)
    return f"{math.ceil(x / scale - 1e-9) * scale:g}"


def _run(cert: dict, check_fingerprint: bool, exact: bool, rounds: int,
         rng: random.Random, work_limit: float, budget: WorkBudget) -> list[Check]:
    checks: list[Check] = []
    model = cert["model"]
    ring = ring_of(cert)
    D = ring.nvars
    if check_fingerprint:
        ok = fingerprint(model) == model["fingerprint"]
        checks.append(Check("model fingerprint", ok, "matches the model section" if ok else
                            "does not match: the model section was altered"))
    claim = cert["claim"]
    proof = checked(claim["proof"], "claim.proof", "str")
    lie = cert["lie"]
    law_section = cert["laws"]
    # version 1: the model's own generators, identities exact
    kinds = lie.get("generators", {"kind": "components"})
    stated = law_section.get("identities", {"mode": "exact"})
    layout = program_layout(model) if "program" in model else None
    probes = kinds["kind"] == "probes"
    # what only the program engine writes: such a certificate has no closure section
    engine = "program" if probes or stated["mode"] == "monte-carlo" else "expanded"
    if layout is None:
        generators = generators_of(cert, ring, budget)
        d = len(generators)
        source = "gradients of phi" if "phi" in model else "fields given directly"
        checks.append(Check("model", True, f"{d} generator fields rebuilt ({source}), D = {D}"))
    else:
        need = (exact or (proof == "closure" and cert["closure"] is not None)) \
            and engine == "expanded"
        if isinstance(layout, BlockLayout) and not probes:
            need = True  # a block program's generators are its expanded components
        # identities stated exact are checked exactly (expanded when small); a
        # file whose identities were checked by Monte Carlo is verified as it
        # was made, by evaluation
        generators = (expanded_program(layout, ring, budget, need)
                      if stated["mode"] == "exact" or need else None)
        d = kinds["count"] if probes else (len(generators) if generators is not None
                                            else layout.components)
        checks.append(Check("model", True, program_text(layout, kinds, generators)))
    if "flow" in model:  # the fields of a flow, and its name: rebuilt from the base model
        checks += _flow_checks(model, generators, ring, budget)
    else:
        checks.append(_name_check(model))

    n_params = checked(claim["parameters"], "claim.parameters", "int", lo=0)
    checks.append(Check("parameters", n_params == D,
                        f"claim D = {n_params}, the model has {D} variables"))

    # -- Lie side: rank lower bound K ------------------------------------------
    point = int_list(lie["point"], "lie.point", length=D, decimal=True)
    checked(lie["prime"], "lie.prime", "decimal", lo=2)
    words = checked(lie["words"], "lie.words", "list")
    basis = int_list(lie["basis"], "lie.basis", lo=0)
    claimed_rank = checked(lie["rank"], "lie.rank", "int", lo=0)
    if len(words) > MAX_WORDS_PER_PARAMETER * D + 100 or len(basis) > D:
        raise CertificateFormatError(
            f"lie holds {len(words)} words and a basis of {len(basis)} for D = {D}; at most "
            f"{MAX_WORDS_PER_PARAMETER * D + 100} words and a basis of at most D are read.")
    triples = [int_list(item, f"lie.words[{k}]", length=3, lo=0) for k, item in enumerate(words)]
    depth: dict[int, int] = {}
    for k, (node, left, right) in enumerate(triples):
        if node < d or node in depth or left >= d or (right >= d and right not in depth):
            raise CertificateFormatError(
                f"lie.words[{k}] = {[node, left, right]} must name a new id >= {d}, a "
                f"generator on the left and an earlier id on the right.")
        depth[node] = depth.get(right, 0) + 1
        if depth[node] > MAX_WORD_DEPTH:
            raise CertificateFormatError(
                f"lie.words[{k}] has bracket depth {depth[node]}; at most {MAX_WORD_DEPTH} "
                f"is read.")
    unknown = [b for b in basis if b >= d and b not in depth]
    if unknown:
        raise CertificateFormatError(f"lie.basis names unknown word ids {unknown[:5]}.")
    K = len(basis)
    brackets = {node: (left, right) for node, left, right in triples}
    if generators is not None and not probes:
        rank, how = words_rank(generators, triples, brackets, basis, point, D, exact, rng,
                                work_limit, budget)
        symbolic = rank.fields
        rank = rank.rank
    else:
        symbolic = None
        rank, how = program_rank(layout, kinds, brackets, basis, point, rng, budget,
                                  exact)
    ok = rank == K == claimed_rank and len(set(basis)) == K
    checks.append(Check("Lie rank", ok,
                        f"{K} bracket words recomputed, rank {rank} at the point {how} "
                        f"(claimed {claimed_rank}); so dim Lie >= {rank} and at most "
                        f"{D} - {rank} = {plural(D - rank, 'law')}"))

    # -- law side: lower bound M -------------------------------------------------
    polys = checked(law_section["polynomials"], "laws.polynomials", "list")
    labels = checked(law_section["labels"], "laws.labels", "list")
    claimed_m = checked(law_section["rank"], "laws.rank", "int", lo=0)
    work = sum(decode_work(h, D) for h in polys)
    budget.require(work, f"decoding {len(polys)} laws")
    budget.spend(work)
    # checked as decode_poly checks them; each made a polynomial only where it is read
    # (exact identities and gradients: O(D) per term in flint, so not for wide programs)
    laws = LazyLaws(ring, [decode_terms(h, ring, f"laws.polynomials[{k}]")
                           for k, h in enumerate(polys)])
    if len(labels) != len(laws) or not all(isinstance(s, str) for s in labels):
        raise CertificateFormatError("laws.labels must hold one string per law.")
    M = len(laws)
    # the laws' terms as the file writes them (decode_poly checked them): gradients mod p
    # in O(terms), whatever D
    terms = [_file_terms(h) for h in polys]
    sparse_work = sum(_terms_work(t) for t in terms)
    if generators is not None:
        checks.append(_identities_exact(laws, labels, generators, budget))
    else:
        minimum = stated.get("rounds", 0)
        checks.append(_identities_monte_carlo(layout, terms, laws, labels,
                                              max(rounds, minimum), sparse_work, rng, budget,
                                              stated))
    gradient_work = sum(len({v for mono, _ in t for v, _ in mono})
                        * (evaluation_work(len(t), terms_degree(t)) + DERIVATIVE * len(t))
                        for t in map(laws.terms, range(M)))

    def law_gradients(values, work):
        budget.require(work, f"the gradients of {M} laws at the point")
        budget.spend(work)
        return values()

    factor = exact_factor(point)
    grank, how = values_rank(
        lambda p: law_gradients(lambda: [terms_gradient_mod(t, point, p) for t in terms],
                                sparse_work),
        lambda: law_gradients(lambda: [gradient_values(h, point) for h in laws],
                              factor * gradient_work),
        M, D, exact and generators is not None, rng, budget, f"the gradients of {M} laws")
    ok = grank == M == claimed_m
    checks.append(Check("laws independent", ok,
                        f"gradients of the {M} laws have rank {grank} at the point {how} "
                        f"(claimed {claimed_m}); so at least {plural(grank, 'law')}"))

    # -- closure ------------------------------------------------------------------
    closure = cert["closure"]
    closure_ok = None
    if engine == "program" and closure is not None:
        checks.append(Check("closure", False, "the certificate is of the program engine ("
                                              + ("probe fields" if probes else
                                                 "law identities by Monte Carlo")
                                              + "), which writes no closure section"))
        closure_ok = False
    elif proof != "closure" and closure is not None:
        checks.append(Check("closure", False, f"the proof is {proof!r} but the file holds a "
                                              f"closure section"))
    elif proof == "closure":
        if closure is None:
            checks.append(Check("closure", False, "the proof is 'closure' but the file holds "
                                                  "no closure section"))
            closure_ok = False
        else:
            mode = checked(closure["mode"], "closure.mode", "str")
            claimed_rounds = checked(closure["rounds"], "closure.rounds", "int", lo=0,
                                     hi=10_000)
            closure_ok, detail, res = closure_claim(generators, symbolic(), point, mode,
                                                    max(rounds, claimed_rounds), rng, budget)
            short = understated(closure, res, claimed_rounds) if mode == "monte-carlo" else None
            if short is not None:
                closure_ok, detail = False, short
            checks.append(Check("closure", closure_ok, detail))

    # -- the count follows ----------------------------------------------------------
    laws_claim = checked(claim["laws"], "claim.laws", "int?", lo=0)
    lie_claim = checked(claim["lie_dimension"], "claim.lie_dimension", "int?", lo=0)
    bounds = int_list(claim["bounds"], "claim.bounds", length=2)
    status = checked(claim["status"], "claim.status", "str")
    if proof == "sandwich":
        ok = (M == D - K == laws_claim and lie_claim == K and bounds == [M, M]
              and status == "certified")
        detail = (f"{M} exhibited laws = {D} - {K}: claimed {laws_claim} laws, "
                  f"dim Lie {lie_claim}, bounds {bounds}")
    elif proof == "closure":
        ok = (bool(closure_ok) and laws_claim == D - K and lie_claim == K
              and bounds == [D - K, D - K] and M <= D - K and status == "certified")
        detail = (f"closure gives dim Lie = {K}, so {D} - {K} = {plural(D - K, 'law')}: claimed "
                  f"{laws_claim} laws, dim Lie {lie_claim}, bounds {bounds}")
    elif proof == "bounds only":
        ok = (laws_claim is None and lie_claim is None and bounds == [M, D - K]
              and status == "bounds")
        detail = f"bounds [{M}, {D} - {K}] against the claimed {bounds}"
    else:
        ok, detail = False, f"unknown proof kind {proof!r}"
    checks.append(Check("count", ok, detail))
    if "subset" in cert:  # version 3: the laws on a parameter subset
        from .subsetcheck import subset_checks
        # a block program's components exist only expanded: its words by jets
        by_program = layout is not None and not (isinstance(layout, BlockLayout)
                                                  and kinds["kind"] == "components")
        checks += subset_checks(cert, ring, generators, layout if by_program else None,
                                ProbeFields(layout, kinds) if by_program else None,
                                brackets, d, rounds, rng, budget)
    return checks


def _checked_name(name: str) -> bool:
    """Whether a verified model's name was rebuilt and compared (a built-in
    spec, a ``net:`` program, or one of them ``under gradient``)."""
    return is_builtin_name(name.removesuffix(" under gradient"))


def _name_check(model: dict) -> Check:
    """Is the model the one its name says? Rebuilt from the name for a built-in
    spec (exactcl.kernel.namecheck); a custom name passes, saying it is unchecked."""
    ok, detail = check_name(model)
    return Check("model name", ok, detail)


def _flow_checks(model: dict, fields, ring, budget: WorkBudget) -> list[Check]:
    """The fields of a model under a flow are the flow of its base
    (:mod:`exactcl.kernel.flowcheck`), and the base is the model its name says."""
    from .flowcheck import flow_check

    def base_generators(base: dict, base_ring) -> list[VectorField]:
        if "program" in base:  # expanded over Q, within the budget
            return expanded_program(program_layout(base), base_ring, budget, True)
        return generators_of({}, base_ring, budget, section=base, where="model.base")

    outcome = flow_check(model, fields, ring, base_generators, budget)
    ok, detail = check_name(model["base"])
    named = model["name"] == outcome.name
    return [Check("flow", outcome.passed, outcome.detail, outcome.note),
            Check("model name", named,
                  f"{model['name']!r} is the base's name and the flow's text" if named else
                  f"model.name {shown_name(model['name'], 100)!r} is not the name of the flow of "
                  f"its base, {shown_name(outcome.name, 100)!r}"),
            Check("base model name", ok, detail)]




