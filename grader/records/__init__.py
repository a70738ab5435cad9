"""What is kept and shown: the gradebook's results, ``grades.csv``, feedback, reports, exports.

:mod:`.ledger` and :mod:`.receipts` keep what ``grader`` adds to nbgrader's gradebook (hashes,
outcomes, when a submission was received); :mod:`.ingest` files an LMS download;
:mod:`.results` reads the class's scores as they stand, :mod:`.grades` writes and reads
``grades.csv``; :mod:`.feedback`, :mod:`.report`, :mod:`.rubrics` and :mod:`.export` show
them; every CSV goes through :mod:`.safecsv`.

This room knows the ground and the instructor's sources (:mod:`grader.authoring`); it knows
nothing of the sandbox or the judge.
"""
