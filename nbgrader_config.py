"""nbgrader's settings for Serverless Auth Lab (read by nbgrader, JupyterLab and `python -m grader`)."""

import os

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

_here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "serverless-auth-lab"
c.CourseDirectory.root = _here
# solutions/NN-slug/NN-slug.ipynb are the sources; notebooks/ is their generated image.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
# Per-cell time limit when validating and autograding; no course cell needs more than a few seconds.
c.Execute.timeout = 30
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# The exchange. On a JupyterHub it is the hub's, set once for instructors and students alike in
# the nbgrader_config.py of a folder in every server's Jupyter config path (`make hub`:
# etc/common; docs/hub.md); nothing here overrides it there. On a laptop, a local exchange, so
# the Assignments tab works without /srv/nbgrader.
if "JUPYTERHUB_API_URL" not in os.environ:
    c.Exchange.root = os.path.join(_here, ".exchange")
    os.makedirs(c.Exchange.root, exist_ok=True)
# nbgrader's own grading and feedback would bypass the course's sandbox and show hidden tests:
# `nbgrader autograde`, `nbgrader generate_feedback` and formgrader's Autograde and Generate
# Feedback buttons refuse, naming `python -m grader autograde` / `python -m grader feedback`;
# Release Feedback refuses pages that show hidden tests (grader/guard.py).
c.Autograde.exporter_class = "grader.guard.AutogradeRefused"
c.GenerateFeedback.exporter_class = "grader.guard.FeedbackRefused"
c.ExchangeFactory.release_feedback = "grader.guard.CheckedReleaseFeedback"
try:  # formgrader's dialog shows a refusal's one line, not a traceback (grader/guard.py)
    from grader.guard import refusals_in_one_line
except ImportError:  # no grader here: the refusing exporters above still fail closed
    pass
else:
    refusals_in_one_line()
