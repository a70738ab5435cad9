"""The instructor's harness: release student notebooks, autograde, lint (``python -m grader``)."""
