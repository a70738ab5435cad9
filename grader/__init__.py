"""The instructor's harness: release, ingest, autograde (parallel, sandboxed), feedback, report, lint (``python -m grader``)."""
