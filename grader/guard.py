"""nbgrader's own doors to autograding and feedback, closed or checked (nbgrader_config.py).

The course grades with ``python -m grader autograde`` (each notebook in a bubblewrap sandbox,
graded tests in a separate judge) and writes feedback with ``python -m grader feedback`` (each
check's verdict and message, never a hidden test's source). nbgrader offers other ways to do
both, from its command line and from formgrader's buttons, which would bypass all that:

* ``Autograde`` (``nbgrader autograde``, formgrader's *Autograde* button) runs a student's
  notebook in an ordinary kernel of the grader's own account, or of the Jupyter server's.
* ``GenerateFeedback`` (``nbgrader generate_feedback``, formgrader's *Generate Feedback*
  buttons) renders whole autograded notebooks to HTML under ``feedback/``, hidden tests (their
  source, and their tracebacks) included, overwriting the pages of ``grader feedback``.

``nbgrader_config.py`` sets both converters' ``exporter_class`` to the refusing exporters below.
A converter builds its exporter in ``start()`` before it touches a file, the gradebook or a
kernel, so these commands and buttons stop at once, saying what to run instead: the message is
logged as an error (formgrader shows it in the dialog's log) and raised. Formgrader's dialog
would show the raised error as a whole Python traceback (nbgrader's API returns
``traceback.format_exc()``); :func:`refusals_in_one_line`, called by ``nbgrader_config.py``,
makes it show the refusal's one line instead. ``python -m grader
autograde`` is unaffected: its workers build their own nbgrader settings, which never carry the
``Autograde`` section (see ``grader.autograde._worker_config``).

``ReleaseFeedback`` (``nbgrader release_feedback``, formgrader's *Release Feedback* buttons)
stays: it publishes the pages of ``grader feedback``. It is replaced by
:class:`CheckedReleaseFeedback`, which refuses to release anything while a page under
``feedback/`` still holds hidden-test markers (e.g. a page nbgrader wrote before this guard),
and which finds each submission's ``timestamp.txt`` and ``submission_secret.txt`` (that
nbgrader's release reads beside each page, and ``grader feedback`` does not write) in
``submitted/``.

Limits: these are settings. They hold wherever nbgrader reads this course's nbgrader_config.py
(JupyterLab started in the course folder, as `make lab` does; nbgrader run there), and fail
closed if ``grader`` cannot be imported; they do not hold against nbgrader run with other
settings (another folder, ``--Autograde.exporter_class=...``, an edited config file). The check
before release looks for nbgrader's default delimiters (``ClearHiddenTests``).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
from typing import Any, ClassVar

from nbconvert.exporters import Exporter
from nbgrader.converters.base import NbGraderException
from nbgrader.exchange.default import ExchangeReleaseFeedback

AUTOGRADE_REFUSED = (
    "nbgrader's Autograde is disabled in this course:\n"
    "it would run student code outside the sandbox.\n"
    "Grade with `python -m grader autograde` (or `make autograde`), which runs\n"
    "every notebook in the sandbox and its graded tests in a separate judge."
)
"""What ``nbgrader autograde`` and formgrader's Autograde button say instead of grading
(short lines: formgrader shows it in a ``<pre>``)."""

AUTOGRADE_REFUSED_LINE = "Refused: grade with `python -m grader autograde` (or `make autograde`)."
"""The one line in formgrader's dialog where nbgrader's traceback would be."""

FEEDBACK_REFUSED = (
    "nbgrader's Generate Feedback is disabled in this course:\n"
    "its pages would show the hidden tests.\n"
    "Write feedback with `python -m grader feedback` (or `make feedback`): each\n"
    "check's verdict and message, never a hidden test. Release Feedback then\n"
    "publishes those pages."
)
"""What ``nbgrader generate_feedback`` and formgrader's Generate Feedback buttons say."""

FEEDBACK_REFUSED_LINE = (
    "Refused: write feedback with `python -m grader feedback` (or `make feedback`)."
)
"""The one line in formgrader's dialog where nbgrader's traceback would be."""

RELEASE_REFUSED = (
    "Not releasing feedback: {page} shows hidden tests\n"
    "(a page of nbgrader's Generate Feedback?). Run `python -m grader feedback`\n"
    "to rewrite the pages, then release again."
)
"""What Release Feedback says when a page under ``feedback/`` holds hidden-test markers."""

RELEASE_UNMATCHED = (
    "Not releasing feedback: {page} has no {name}, nor has {submitted}.\n"
    "Release Feedback needs the submission as nbgrader collected it (its timestamp\n"
    "and secret name the page a student fetches)."
)
"""What Release Feedback says when a page's submission lacks nbgrader's timestamp or secret."""

SUBMISSION_FILES = ("timestamp.txt", "submission_secret.txt")
"""What nbgrader's ReleaseFeedback reads beside each page: collected with the submission."""

HIDDEN_MARKER = re.compile(r"(BEGIN|END)\s+HIDDEN\s+TESTS", re.IGNORECASE)
"""nbgrader's delimiters of hidden tests, as they appear in a rendered notebook's source."""


class _RefusingExporter(Exporter):
    """An exporter that cannot be built: its converter stops before it changes anything."""

    message: ClassVar[str] = ""
    line: ClassVar[str] = ""

    def __init__(self, config: Any = None, **kw: Any) -> None:
        parent = kw.get("parent")
        log = getattr(parent, "log", None) or logging.getLogger("grader")
        log.error(self.message)
        if parent is not None:
            parent._grader_refusal = self.line  # read by refusals_in_one_line's capture_log
        raise NbGraderException(self.message)


class AutogradeRefused(_RefusingExporter):
    """``Autograde.exporter_class`` in nbgrader_config.py: refuses with :data:`AUTOGRADE_REFUSED`."""

    message = AUTOGRADE_REFUSED
    line = AUTOGRADE_REFUSED_LINE


class FeedbackRefused(_RefusingExporter):
    """``GenerateFeedback.exporter_class`` in nbgrader_config.py: refuses with
    :data:`FEEDBACK_REFUSED`."""

    message = FEEDBACK_REFUSED
    line = FEEDBACK_REFUSED_LINE


def refusals_in_one_line() -> None:
    """Make formgrader's dialog show a refusal's one line, not nbgrader's traceback.

    Formgrader's buttons call :class:`nbgrader.apps.api.NbGraderAPI`, which runs the converter
    through ``capture_log`` and returns ``{"success": False, "error": <the traceback>, "log":
    ...}``; the dialog shows the log, then the traceback. This wraps the API's ``capture_log``
    (once per process; ``nbgrader_config.py`` calls it each time it is read) so that, when a
    refusing exporter stopped the converter, ``error`` is the refusal's one line. Any other
    failure keeps nbgrader's traceback.
    """
    from nbgrader.apps import api

    if getattr(api.capture_log, "grader_one_line", False):
        return
    original = api.capture_log

    def capture_log(app: Any, *args: Any, **kw: Any) -> dict:
        result = original(app, *args, **kw)
        line = getattr(app, "_grader_refusal", "")
        if line and not result.get("success"):
            result["error"] = line
        return result

    capture_log.grader_one_line = True  # type: ignore[attr-defined]
    api.capture_log = capture_log


def pages_with_hidden_tests(pages: list[str]) -> list[str]:
    """Those of the HTML ``pages`` (paths) that hold nbgrader's hidden-test delimiters."""
    found = []
    for page in pages:
        with open(page, encoding="utf-8", errors="replace") as fh:
            if HIDDEN_MARKER.search(fh.read()):
                found.append(page)
    return found


class CheckedReleaseFeedback(ExchangeReleaseFeedback):
    """nbgrader's ReleaseFeedback, refusing while a page to release shows hidden tests.

    ``ExchangeFactory.release_feedback`` in nbgrader_config.py. All pages are checked before
    the first is copied, so a refusal releases nothing.
    """

    def copy_files(self) -> None:
        """Check every page under the source folder, then release them as nbgrader does.

        ``grader feedback`` writes the pages alone; the submission's ``timestamp.txt`` and
        ``submission_secret.txt``, which nbgrader's release reads beside each page, are copied
        there from ``submitted/<student>/<assignment>/`` (where ``nbgrader collect`` put them).
        """
        pages = sorted(glob.glob(os.path.join(self.src_path, "*.html")))
        leaking = pages_with_hidden_tests(pages)
        if leaking:
            page = os.path.relpath(leaking[0], self.coursedir.root)
            self.fail(RELEASE_REFUSED.format(page=page))
        for page in pages:
            self._add_submission_files(page)
        super().copy_files()

    def _add_submission_files(self, page: str) -> None:
        """Put the submission's timestamp and secret beside ``page`` if they are missing."""
        folder = os.path.dirname(page)
        student = os.path.basename(os.path.dirname(folder))
        submitted = self.coursedir.format_path(
            self.coursedir.submitted_directory, student, self.coursedir.assignment_id
        )
        for name in SUBMISSION_FILES:
            target = os.path.join(folder, name)
            if os.path.isfile(target):
                continue
            source = os.path.join(submitted, name)
            if not os.path.isfile(source):
                self.fail(
                    RELEASE_UNMATCHED.format(
                        page=os.path.relpath(page, self.coursedir.root),
                        name=name,
                        submitted=os.path.relpath(source, self.coursedir.root),
                    )
                )
            shutil.copyfile(source, target)
