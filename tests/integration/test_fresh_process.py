"""A process that has only imported the tasks module reads results, revokes and uses models at once."""
import json
import os
import subprocess
import sys

from tests.conftest import ROOT, TEST_DATABASE_URL
from tests.sample_tasks import Order, add, bad_input, wait_gate

READER = '''
import json, sys
from localq import AsyncResult
from tests.sample_tasks import app, Order
done, failed, waiting = sys.argv[1:4]
first = {"order_rows": Order.select().count()} if sys.argv[4] == "model-first" else {}
ok = AsyncResult(done)
out = dict(first, status=ok.status, info=ok.info, ready=ok.ready(), value=ok.get(timeout=5),
           result=app.AsyncResult(done).result)
try:
    AsyncResult(failed).get(timeout=5)
except ValueError as exc:
    out["error"] = "ValueError: %s" % exc
out["revoked"] = app.revoke(waiting)
print(json.dumps(out))
'''


def read_in_a_fresh_process(app, *args):
    """Run READER in a new Python process that configures nothing but the data folder (as a web
    process serving only GET /status/<id> would right after a restart)."""
    env = dict(os.environ, PYTHONPATH=ROOT, LOCALQ_DATA_DIR=app.config.data_dir,
               LOCALQ_DATABASE_URL=TEST_DATABASE_URL)
    proc = subprocess.run([sys.executable, '-c', READER, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_fresh_process_reads_status_info_and_value_and_revokes(app, worker):
    # Given a finished job, a failed one and one still waiting, written by this process
    done = add.delay(2, 3)
    assert done.get(timeout=10) == 5
    failed = bad_input.delay('x')
    failed.get(timeout=10, propagate=False)
    app.pause_queue('default')
    waiting = wait_gate.delay('never')
    # When a fresh process that only imported the tasks module reads them and revokes one
    out = read_in_a_fresh_process(app, done.id, failed.id, waiting.id, 'result-first')
    # Then it sees what this process sees, and the revoke took effect
    assert (out['status'], out['info'], out['ready'], out['value'], out['result']) == ('SUCCESS', 5, True, 5, 5)
    assert out['error'] == "ValueError: invalid input: 'x'"
    assert out['revoked'] == 'REVOKED' and waiting.state == 'REVOKED'


def test_a_fresh_process_can_use_its_own_models_first(app, worker):
    # Given an order row and a finished job
    Order.create(user_id='u1', product_id='p1')
    done = add.delay(1, 1)
    assert done.get(timeout=10) == 2
    app.pause_queue('default')
    waiting = wait_gate.delay('never')
    # When a fresh process's first database use is its own Peewee model
    out = read_in_a_fresh_process(app, done.id, done.id, waiting.id, 'model-first')
    # Then the model reads the app's database, and results work after it
    assert out['order_rows'] == 1 and out['value'] == 2
