"""The same grading jobs sent to a Dask cluster (a local one on 127.0.0.1)."""

from __future__ import annotations

import shutil

import pytest

from grader.autograde import autograde

from .conftest import COURSE, ROOT

NB = "01-sessions-vs-tokens"

distributed = pytest.importorskip("distributed")


@pytest.mark.notebooks
def test_autograde_on_a_local_dask_cluster(tmp_path):
    submissions = tmp_path / "class"
    shutil.copytree(ROOT / "data" / "submissions" / "partial" / NB, submissions / "partial" / NB)
    (submissions / "broken" / NB).mkdir(parents=True)
    (submissions / "broken" / NB / f"{NB}.ipynb").write_text("{", encoding="utf-8")
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    ) as cluster:
        rows = autograde(
            COURSE, submissions, workdir=tmp_path / "work", dask=cluster.scheduler_address
        )
    graded = {row.student_id: row for row in rows}
    assert (graded["partial"].status, graded["partial"].score) == ("graded", 2.0)
    assert graded["broken"].status == "error" and "not valid JSON" in graded["broken"].reason
    autograded = tmp_path / "work" / "autograded" / "partial" / NB / f"{NB}.ipynb"
    assert autograded.is_file()
