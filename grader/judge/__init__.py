"""The judge: where the graded tests run, outside the student's kernel, on data only.

:mod:`.execute` runs a submitted notebook in the sandboxed kernel (:mod:`grader.sandbox`)
but never sends it a graded test cell; :mod:`.server` starts, per notebook, a judge process
(forked from a template that ran the notebook's first lessons in a network of its own:
:mod:`.netns`; one judge at a time per template, each from its own copy of their state)
that replays the rest of the instructor's notebook (:mod:`.script`), reaches the student's
answers through the kernel (:mod:`.link`, which sends :mod:`.probe`'s source there) and
reads every reply as plain data (:mod:`.wire`).

**Trusted**: the instructor's source notebook (its lessons and its tests, visible and
hidden), the course library, and the judge's own process, which never runs student code.

**Not trusted**: everything that comes from the student's kernel: a reply is JSON data
decoded with size and depth limits, never unpickled or executed; an exception comes back as
names and a message and is rebuilt without importing anything on the student's say-so; the
probe's code runs in the kernel, where the student can change it, so what it reports is
only ever a claim. A hostile kernel can make its answers wrong or unreadable; it cannot see a
hidden test, reach the judge's memory, or make a test pass without answering its inputs.

This room knows the ground and the sandbox; it knows nothing of the records.
"""
