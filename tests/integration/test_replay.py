"""Replaying a recorded job on your own machine (issue #28, item 2): `localq replay JOB_ID` runs the
job's task here with its recorded arguments, prints the outcome and writes no job row; `--pdb`
stops where it raises; the job page offers the command and the job as a JSON download."""
import os
import subprocess
import sys

import pytest

from localq.models import Attempt, Job
from localq.web import create_app
from tests.conftest import ROOT, wait_for
from tests.sample_tasks import add, charge, fail


def localq(app, *argv, stdin=None):
    """`localq -A tests.sample_tasks:app --data-dir ... ARGV` as a user runs it: (exit code, output)."""
    proc = subprocess.run([sys.executable, '-m', 'localq.cli', '-A', 'tests.sample_tasks:app', '--data-dir',
                           app.config.data_dir, *argv], cwd=ROOT, input=stdin, capture_output=True, text=True,
                          timeout=60, env=dict(os.environ, PYTHONPATH=ROOT))
    return proc.returncode, proc.stdout + proc.stderr


def snapshot(job_id):
    """Everything stored about a job: its row and its attempts' rows."""
    return (list(Job.select().where(Job.id == job_id).tuples()),
            list(Attempt.select().where(Attempt.job == job_id).order_by(Attempt.id).tuples()))


@pytest.fixture
def failed(app, worker):
    result = fail.delay(41, why='cannot parse')
    wait_for(lambda: result.state == 'FAILURE', what='FAILURE')
    return result


def test_replay_of_a_failed_job_raises_its_error_again_and_writes_no_row(app, failed):
    before = snapshot(failed.id)
    code, out = localq(app, 'replay', failed.id)
    assert code == 1, out
    assert 'Traceback' in out and "ValueError: cannot parse: 41" in out
    assert 'tests.fail %s raised ValueError: cannot parse: 41' % failed.id in out
    assert snapshot(failed.id) == before


def test_replay_of_a_successful_job_prints_its_value(app, worker):
    result = add.delay(20, 22)
    assert result.get(timeout=10) == 42
    before = snapshot(result.id)
    code, out = localq(app, 'replay', result.id)
    assert (code, out.strip()) == (0, 'tests.add %s returned: 42' % result.id)
    assert snapshot(result.id) == before


def test_replay_with_pdb_stops_where_it_raises(app, failed):
    code, out = localq(app, 'replay', failed.id, '--pdb', stdin='p value\np why\nq\n')
    assert '(Pdb) 41' in out and "(Pdb) 'cannot parse'" in out, out
    assert code == 1


def test_replay_of_an_unknown_job_says_so(app):
    code, out = localq(app, 'replay', 'no-such-job')
    assert code == 2 and out.strip().startswith('localq: ') and 'no-such-job' in out and 'Traceback' not in out


def test_the_job_page_offers_the_command_and_the_job_as_json(app, failed):
    client = create_app(app).test_client()
    page = client.get('/jobs/%s' % failed.id).get_data(as_text=True)
    assert 'localq -A YOUR_MODULE:app replay %s' % failed.id in page   # this app was not loaded by the CLI
    response = client.get('/api/task/export/%s' % failed.id)
    assert response.headers['Content-Disposition'] == 'attachment; filename="job-%s.json"' % failed.id
    document = response.get_json()
    assert document['job']['args'] == [41] and document['job']['kwargs'] == {'why': 'cannot parse'}
    (attempt,) = document['job']['attempt_rows']
    assert attempt['outcome'] == 'FAILURE' and 'ValueError: cannot parse: 41' in attempt['traceback']
    assert document['task_options']['max_retries'] == 0 and document['task_options']['name'] == 'tests.fail'
    assert set(document['versions']) == {'localq', 'huey', 'python'}
    assert client.get('/api/task/export/no-such-job').status_code == 404


def test_the_download_masks_secret_arguments_as_every_page_does(app):
    result = charge.delay('tok_live_123', 5)
    document = create_app(app).test_client().get('/api/task/export/%s' % result.id).get_json()
    assert 'tok_live_123' not in str(document) and document['job']['args'][1] == 5


def test_replay_record_runs_the_fixed_job_as_one_more_attempt_of_its_own(app, worker, tmp_path):
    from tests.sample_tasks import needs_file
    path = tmp_path / 'config.txt'
    result = needs_file.delay(str(path))
    wait_for(lambda: result.state == 'FAILURE', what='FAILURE')
    path.write_text('fixed')   # the fix
    code, out = localq(app, 'replay', result.id, '--record')
    assert code == 0, out
    assert 'tests.needs_file %s attempt 2 (recorded): SUCCESS, returned: "fixed"' % result.id in out
    assert result.get(timeout=10) == 'fixed'
    attempts = list(Attempt.select().where(Attempt.job == result.id).order_by(Attempt.number))
    assert [a.outcome for a in attempts] == ['FAILURE', 'SUCCESS']
    assert attempts[1].worker.startswith('replay@')


def test_replay_record_refuses_a_job_that_did_not_fail_and_changes_nothing(app, worker):
    result = add.delay(1, 2)
    assert result.get(timeout=10) == 3
    before = snapshot(result.id)
    code, out = localq(app, 'replay', result.id, '--record')
    assert code == 2 and 'is SUCCESS: --record runs a failed or revoked job again' in out, out
    assert snapshot(result.id) == before
