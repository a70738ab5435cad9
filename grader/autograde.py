"""``python -m grader autograde``: grade a folder of submissions with nbgrader, into a CSV.

SUBMISSIONS is laid out as nbgrader's ``submitted/`` folder:
``<student_id>/<assignment>/<notebook>.ipynb``. Every expected notebook of every student
gets exactly one row, ``graded`` with its score or ``error`` with a reason an instructor
can act on; a broken or hostile submission never stops the batch. No link is followed at any
level (a linked assignment folder is graded as one without files, a linked student folder is
not graded), and a folder whose name is not a student id
(:func:`grader.course.student_id_problem`, the rule of ``ingest``) is not graded: each
becomes a row with the reason. The time a submission was received comes from
``received.json`` (:mod:`grader.records.receipts`), never from its ``timestamp.txt``.

The grading itself is nbgrader's own ``Autograde`` converter (locked cells restored from
the gradebook, deleted test cells re-inserted), one job per student and assignment, run in
parallel worker processes (:mod:`grader.pool`): the student's code in a sandboxed kernel
(:mod:`grader.sandbox.kernel`), every graded test, visible or hidden, in a judge outside it
(:mod:`grader.judge.script`) that reaches the student's answers only as data. Only this process writes the gradebook (:mod:`grader.gradebook`),
so formgrader and manual grading keep working on the results.

Grading is incremental: a submission is graded only when it is new, or its files or its
assignment's sources changed since it was last graded in this workdir (hashes kept by
:mod:`grader.records.ledger`); ``force`` grades all. The rows returned, and so the CSV, always
cover the whole class as the gradebook holds it (:mod:`grader.records.results`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .authoring.integrity import AssignmentSpec, notebook_spec
from .course import ASSIGNMENT_RE, Course, GraderError, student_id_problem
from .engines import share_engines
from .records.grades import UNSANDBOXED_NOTE

__all__ = [
    "DEFAULT_MEMORY_MB",
    "ClassResults",
    "assignment_hash",
    "autograde",
]

log = logging.getLogger(__name__)

DEFAULT_MEMORY_MB = 4096
"""Memory limit of each student's sandbox (MiB): resident memory of all its processes (a
cgroup, as root) and what each process allocates (``RLIMIT_DATA``); see :mod:`grader.sandbox.bwrap`."""


def assignment_spec(course: Course, assignment: str) -> AssignmentSpec:
    """What a worker needs to know about ``assignment``, read from the course's files."""
    notebooks = {
        source.stem: notebook_spec(course.student_notebook(assignment, source.stem), source)
        for source in course.source_notebooks(assignment)
    }
    others = {}
    for other in course.assignments():
        if other != assignment:
            others[other] = {
                gid
                for source in course.source_notebooks(other)
                for gid in notebook_spec(source, source).cell_ids
            }
    folder = course.source_dir / assignment
    extra = {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
        and p.suffix != ".ipynb"
        and not {".ipynb_checkpoints", "__pycache__"} & set(p.relative_to(folder).parts)
    }
    return AssignmentSpec(assignment, notebooks, others, extra)


def _worker_config(
    config, timeout: float | None, memory_mb: int, network: str, sandbox: bool = True
) -> dict:
    """The part of nbgrader's settings a worker needs, as plain dictionaries."""
    plain: dict[str, dict] = {}
    for section in (
        "Execute",
        "ExecutePreprocessor",
        "LimitOutput",
        "ClearOutput",
        "IgnorePattern",
    ):
        if section in config:
            plain[section] = dict(config[section])
    course = config.get("CourseDirectory", {})
    plain["CourseDirectory"] = {k: course[k] for k in ("course_id", "ignore") if k in course}
    if timeout is not None:
        plain.setdefault("Execute", {})["timeout"] = max(1, round(timeout))
    plain["SandboxKernelManager"] = {
        "memory_mb": int(memory_mb),
        "network": network,
        "sandbox": bool(sandbox),
    }
    return plain


class ClassResults(list):
    """The rows of the whole class (a list of :class:`GradeRow`), with what this run did.

    ``regraded`` counts the notebooks graded in this run; ``unchanged`` the notebooks of
    submissions skipped because neither they nor their assignment changed since last time;
    ``sandboxed`` is False when this run graded without the OS sandbox.
    """

    def __init__(
        self, rows=(), *, regraded: int = 0, unchanged: int = 0, sandboxed: bool = True
    ) -> None:
        super().__init__(rows)
        self.regraded = regraded
        self.unchanged = unchanged
        self.sandboxed = sandboxed


def assignment_hash(course: Course, assignment: str) -> str:
    """SHA-256 of an assignment's sources and student notebooks: a change regrades its class."""
    from .records.ledger import files_hash, folder_hash

    return files_hash(
        (name, folder_hash(folder).encode("ascii"))
        for name, folder in (
            ("source", course.source_dir / assignment),
            ("release", course.release_dir / assignment),
        )
        if folder.is_dir()
    )


def autograde(
    course: Course,
    submissions: Path,
    *,
    workdir: Path | None = None,
    jobs: int | None = None,
    timeout: float | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    network: str = "loopback",
    dask: str | None = None,
    progress: bool = False,
    force: bool = False,
    sandbox: bool = True,
) -> ClassResults:
    """Autograde the new and changed submissions under ``submissions``; return the whole class.

    A submission is graded again only when its files, or its assignment's sources, differ
    from when it was last graded here (SHA-256 recorded in the gradebook by
    :mod:`grader.records.ledger`); ``force`` grades every submission. The rows returned cover every
    student and notebook in the gradebook, graded now or before, with today's scores
    (manual grades included, see :mod:`grader.records.results`).

    ``workdir`` receives nbgrader's ``submitted/`` (a staged copy), ``autograded/`` and the
    gradebook (default: the course root, as nbgrader itself does). ``jobs`` worker
    processes (default: one per core, plus one), or the Dask scheduler at ``dask``; ``timeout`` is
    the per-cell limit in seconds (default: ``Execute.timeout`` from nbgrader_config.py).

    Each notebook runs in the OS sandbox of :mod:`grader.sandbox.bwrap`; when it cannot start here
    this raises :class:`~grader.sandbox.bwrap.SandboxUnavailable` naming the fix, unless
    ``sandbox=False`` (trusted work only: every row graded so says it in its reason).
    Submitted files are read by :mod:`grader.staging` (no links followed, sizes capped);
    the files it refuses are named in the row's reason. Student and assignment folders are
    looked at without following links either (see the module). Each submission's time is
    its receipt's in ``submissions/received.json`` while its files match the receipt, else
    none ("time unverified"). Before any is graded, the limits are checked against the
    instructor's solutions (:mod:`grader.limits`, once per assignment and limits):
    :class:`~grader.limits.LimitsTooSmall` if they stop them.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.utils import parse_utc

    from .gradebook import record_assignments, record_result
    from .pool import make_pool
    from .progress import Progress
    from .records.ledger import Ledger, files_hash, folder_hash
    from .records.receipts import Receipt, read_receipts
    from .records.results import class_rows
    from .staging import Staged, read_submission, write_files
    from .worker import Job

    submissions = submissions.resolve()
    if not submissions.is_dir():
        raise GraderError(f"No submissions folder at {submissions}.")
    if sandbox and not dask:  # a Dask worker checks its own machine when it starts a kernel
        from .sandbox.bwrap import require

        require()
    work = (workdir or course.root).resolve()
    work.mkdir(parents=True, exist_ok=True)
    db = work / "gradebook.db"
    db_url = f"sqlite:///{db}"
    config = course.nbgrader_config(
        root=work,
        submitted_directory=work / "submitted",
        autograded_directory=work / "autograded",
        feedback_directory=work / "feedback",
        db_url=db_url,
    )
    share_engines()  # each gradebook file's SQL is compiled once in this run (grader.engines)
    if not db.is_file():  # nbgrader's tables first, so nbgrader stamps its schema version
        from nbgrader.api import Gradebook

        Gradebook(db_url, config.CourseDirectory.course_id).close()
    ledger = Ledger(db)
    known = set(course.assignments())
    found = _scan(submissions, known, ledger)
    receipts = read_receipts(submissions)

    # The incremental decision: grade what is new or changed since it was last graded here.
    recorded = ledger.hashes()
    graded_before: dict[tuple[str, str], bool] = {}  # True: its autograded notebooks exist
    for (s, a, _), outcome in ledger.outcomes().items():
        present = outcome.status != "graded" or (work / "autograded" / s / a).is_dir()
        graded_before[(s, a)] = graded_before.get((s, a), True) and present
    source_hashes = {a: assignment_hash(course, a) for a in sorted({a for _, a, _ in found})}
    todo: list[tuple[str, str, Path, tuple[str, str]]] = []
    received: dict[tuple[str, str], Receipt | None] = {}
    unchanged = 0
    for student, assignment, folder in found:
        if folder.is_symlink():  # never followed: graded as a submission without files
            files = files_hash([("", f"refused: {LINKED_FOLDER}".encode())])
        else:
            files = folder_hash(folder)
        receipt = receipts.get((student, assignment))
        receipt = receipt if receipt is not None and receipt.sha256 == files else None
        received[(student, assignment)] = receipt
        if receipt is not None:  # a new receipt for the same files is a change too
            files = files_hash([("files", files.encode()), ("received", receipt.time.encode())])
        hashes = (files, source_hashes[assignment])
        if (
            not force
            and recorded.get((student, assignment)) == hashes
            and graded_before.get((student, assignment), False)
        ):
            unchanged += len(course.notebook_names(assignment))
            continue
        todo.append((student, assignment, folder, hashes))
    if not todo:
        return ClassResults(class_rows(work), unchanged=unchanged, sandboxed=sandbox)

    needed = sorted({assignment for _, assignment, _, _ in todo})
    template = record_assignments(NbGraderAPI(config=config), needed, work, db)
    specs = {assignment: assignment_spec(course, assignment) for assignment in needed}
    plain = _worker_config(config, timeout, memory_mb, network, sandbox)
    cell_timeout = float(plain.get("Execute", {}).get("timeout") or 30)
    # One pool for the limits check and the class: its workers and warm judges start once.
    with make_pool(jobs, dask) as pool:
        seconds = _check_limits(
            course,
            needed,
            source_hashes,
            work,
            plain,
            cell_timeout,
            sandbox,
            pool,
            lambda s, a, f, c: Job(s, a, f, specs[a], template, c),
        )
        job_list, timestamps, job_hashes, refused = [], {}, {}, {}
        for student, assignment, folder, hashes in todo:
            linked = folder.is_symlink()
            read = (
                Staged(refused=[(assignment, LINKED_FOLDER)]) if linked else read_submission(folder)
            )
            staged = work / "submitted" / student / assignment
            # The folder itself is never resolved: a link is not followed, even to compare.
            if staged.parent.resolve() / staged.name != folder.parent.resolve() / folder.name:
                shutil.rmtree(staged, ignore_errors=True)
                staged.mkdir(parents=True)
                write_files(staged, read.files)
            files = dict(read.files)
            refused[(student, assignment)] = read.notes()
            files.pop("timestamp.txt", None)  # the student's word: never the submission's time
            receipt = received.get((student, assignment))
            stamp = receipt.time if receipt is not None else None
            timestamps[(student, assignment)] = parse_utc(stamp) if stamp else None
            ledger.record_time(
                student,
                assignment,
                stamp,
                receipt.source if receipt is not None else "no record the student does not write",
            )
            job_hashes[(student, assignment)] = hashes
            job_list.append(
                Job(student, assignment, files, specs[assignment], template, plain, stamp)
            )

        # Longest first (by the solutions' time), so that no long job starts last while the
        # other workers have nothing left to do.
        job_list.sort(key=lambda one: -seconds.get(one.assignment, 0.0))
        bar = Progress(len(job_list), label="grading ") if progress else None
        regraded = 0
        for result in pool.run(job_list, lambda job: job.time_limit(cell_timeout)):
            key = (result.student, result.assignment)
            try:
                record_result(db_url, config, result, work, timestamps.get(key))
            except Exception as exc:  # noqa: BLE001 - one unrecordable result never stops the batch
                log.warning("could not record %s/%s: %r", *key, exc)
                why = f"the grader could not record it: {type(exc).__name__}: {exc}"[:300]
                for nb in result.notebooks:
                    nb.status, nb.reason = "error", why
            notes = refused.get(key, []) + ([] if sandbox else [UNSANDBOXED_NOTE])
            ledger.record(*key, _outcomes(result, notes), job_hashes[key])
            regraded += len(result.notebooks)
            if bar:
                errors = sum(nb.status == "error" for nb in result.notebooks)
                bar.advance(
                    note=f"{result.student}/{result.assignment}" + (" (error)" if errors else "")
                )
    return ClassResults(class_rows(work), regraded=regraded, unchanged=unchanged, sandboxed=sandbox)


LINKED_FOLDER = "a symbolic link, not followed"
"""Why a student's or an assignment's folder that is a link is never graded as what it
points to (the instructor's ``solutions/``, a classmate's folder)."""

_CACHES = {".ipynb_checkpoints", "__pycache__", "__MACOSX"}


def _printable(name: str) -> str:
    """``name`` with what cannot be shown (control characters, undecodable bytes) escaped."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in name
    )


def _listing(folder: Path) -> list[Path] | None:
    """The folders and links in ``folder``, sorted (None when it cannot be read)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_symlink() or p.is_dir())
    except OSError:
        return None


def _scan(submissions: Path, known: set[str], ledger) -> list[tuple[str, str, Path]]:
    """``(student, assignment, folder)`` of every submission under ``submissions``, links
    included (a linked assignment folder is graded as one without files, its reason says
    so); a student folder that cannot be graded (a link, or a name that is not a student
    id) and an unknown assignment become a row of their own in the ledger, with the reason.
    Nothing is followed: every entry is looked at with ``lstat``."""
    from .records.ledger import Outcome

    found: list[tuple[str, str, Path]] = []
    before = ledger.outcomes()
    for student_dir in sorted(submissions.iterdir()):
        name = student_dir.name
        if name in _CACHES:
            continue
        linked, is_dir = student_dir.is_symlink(), student_dir.is_dir()
        if not linked and not is_dir:
            continue  # a stray file beside the student folders
        problem = student_id_problem(name)
        if problem or linked:
            shown = _printable(name)
            why = f"student id {shown!r} refused: {problem}" if problem else ""
            why = why or f"the student folder is {LINKED_FOLDER}"
            log.warning("not graded: %s/: %s", shown, why)
            inside = [] if linked else (_listing(student_dir) or [])
            inside = [p.name for p in inside if ASSIGNMENT_RE.match(p.name)]
            for assignment in inside or [""]:
                ledger.record(shown, assignment, {"": Outcome("error", why + "; not graded")})
            continue
        listing = _listing(student_dir)
        if listing is None:
            why = "the student folder could not be read (permissions?); not graded"
            ledger.record(name, "", {"": Outcome("error", why)})
            continue
        if (name, "", "") in before:  # was a link or unreadable, is fine now: a stale row
            ledger.record(name, "", {})
        for assignment_dir in listing:
            assignment = assignment_dir.name
            if assignment in known:
                found.append((name, assignment, assignment_dir))
            elif ASSIGNMENT_RE.match(assignment):
                log.warning("skipping %s/%s: not an assignment of this course", name, assignment)
                reason = f"unknown assignment {assignment!r}"
                ledger.record(name, assignment, {"": Outcome("error", reason)})
    return found


def _check_limits(
    course: Course,
    needed: list[str],
    source_hashes: dict[str, str],
    work: Path,
    plain: dict,
    cell_timeout: float,
    sandbox: bool,
    pool,
    job,
) -> dict[str, float]:
    """:func:`grader.limits.check_limits` with the class's pool and settings; the seconds
    each assignment's solutions took to grade, where known
    (:func:`grader.limits.solution_seconds`)."""
    import copy

    from .limits import check_limits, solution_seconds
    from .sandbox.bwrap import Limits

    manager = plain["SandboxKernelManager"]
    default = Limits()
    limits = {
        "memory_mb": manager["memory_mb"],
        "processes": manager.get("processes", default.processes),
        "cpu_seconds": manager.get("cpu_seconds", default.cpu_seconds),
        "disk_mb": manager.get("disk_mb", default.disk_mb),
        "timeout": cell_timeout,
        "sandbox": sandbox,
        "network": manager["network"],
    }

    def make_job(student, assignment, files, memory_mb):
        config = copy.deepcopy(plain)
        config["SandboxKernelManager"]["memory_mb"] = memory_mb
        return job(student, assignment, files, config)

    def run(job_list):
        return pool.run(job_list, lambda one: one.time_limit(cell_timeout))

    check_limits(course, needed, source_hashes, limits, work, make_job, run)
    return solution_seconds(work, {a: source_hashes[a] for a in needed}, limits)


def _outcomes(result, extra: list[str] = ()) -> dict:
    """What the ledger keeps of one job's result: each notebook's status, reason and time
    (``extra``: notes on the whole submission, such as files staging refused)."""
    from .records.ledger import Outcome

    share = result.seconds / max(1, len(result.notebooks))
    outcomes = {}
    for nb in result.notebooks:
        notes = list(nb.notes) + list(extra)
        if nb.status != "graded":
            notes.insert(0, nb.reason)
        outcomes[nb.name] = Outcome(nb.status, "; ".join(n for n in notes if n), share)
    return outcomes
