"""The instructor's sources: releasing them, checking them, and what they ask of a submission.

:mod:`.release` makes the student notebooks from ``solutions/``; :mod:`.kit` the student
edition; :mod:`.samples` the sample submissions; :mod:`.lint` and :mod:`.memorize` the house
rules (a check never rewards guessing); :mod:`.integrity` the assignment's spec and what a
student did to its cells; :mod:`.run` runs a notebook top to bottom for checks and tests.

This room knows the ground, the sandbox and the judge; it knows nothing of the records.
"""
