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


@sqlite_only
def test_a_folder_with_the_full_state_index_gets_the_finished_jobs_index_and_keeps_its_counts(app, worker):
    # Given finished jobs in a folder whose state index held every job (before job_finished)
    ids = [add.delay(i, i).id for i in range(5)]
    for job_id in ids:
        app.AsyncResult(job_id).get(timeout=10)
    db = app.database
    db.execute_sql('DROP INDEX job_finished')
    db.execute_sql('CREATE INDEX job_state_done ON job (state, finished_at, queue)')
    # When this version opens it
    create_extra_indexes(db)
    indexes = {name for _, name, *_ in db.execute_sql('PRAGMA index_list(job)').fetchall()}
    # Then the old index is gone, the partial one serves the finished tabs, and they count every job
    assert 'job_state_done' not in indexes and 'job_finished' in indexes
    plan = db.execute_sql("EXPLAIN QUERY PLAN SELECT COUNT(*) FROM job WHERE state = 'SUCCESS' "
                          'AND finished_at IS NOT NULL').fetchall()
    assert 'job_finished' in plan[0][-1]
    from localq.retention import COUNT_FINISHED
    assert app.query.sql(COUNT_FINISHED).fetchone()[0] == 5   # what pruning weighs against the cap
