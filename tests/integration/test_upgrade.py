"""A data folder made by an older localq opens in this one, rows kept."""
from localq.models import Attempt, Job, create_extra_indexes
from tests.conftest import sqlite_only
from tests.sample_tasks import add


@sqlite_only
def test_a_job_table_from_before_workflows_gets_its_new_columns_and_keeps_its_rows(app, worker):
    # Given a job (with its attempt row) in a job table as it was before workflows
    job_id = add.delay(1, 2).id
    assert app.AsyncResult(job_id).get(timeout=10) == 3
    db = app.database
    for index in ('job_waiting', 'job_group', 'job_root'):
        db.execute_sql('DROP INDEX %s' % index)
    for column in ('root_id', 'parent_id', 'group_id', 'group_index', 'waits_for'):
        db.execute_sql('ALTER TABLE job DROP COLUMN %s' % column)
    # When this version opens the folder (the attempt row references the job table throughout)
    create_extra_indexes(db)
    # Then the columns are back with their defaults, and nothing was lost
    job = Job.get_by_id(job_id)
    assert (job.state, job.result, job.waits_for, job.root_id) == ('SUCCESS', '3', 0, None)
    assert Attempt.select().where(Attempt.job == job_id).count() == 1
