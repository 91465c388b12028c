"""The course snippets run on localq with only the import changed."""
import pytest

from localq.models import Attempt, Job
from localq.worker import LocalqConsumer


@pytest.fixture
def seeds(tmp_path):
    from tests import seed_snippets
    seed_snippets.app.configure(data_dir=str(tmp_path / 'seeds'))
    consumer = LocalqConsumer(seed_snippets.app, workers=2, name='seeds-worker')
    consumer.start_in_thread()
    yield seed_snippets
    consumer.shutdown()
    seed_snippets.app.close()


def test_basic_and_task_definition_snippets(seeds):
    task = seeds.simple_task.delay("hello")
    assert task.get(timeout=10) == {"result": "hello"}
    assert seeds.check(task.id) == "Done: {'result': 'hello'}"
    assert seeds.my_task.delay(2, 3).get(timeout=10) == 5
    assert seeds.my_task(2, 3) == 5          # "Test task logic directly"


def test_production_task_snippet(seeds):
    assert seeds.robust_task.delay('/tmp/x').get(timeout=10) == {"status": "done"}


def test_document_pipeline_reports_four_steps_and_its_result(seeds, tmp_path):
    path = tmp_path / 'doc.txt'
    path.write_text('localq runs Celery-style tasks on one SQLite file. ' * 3)
    # Record every state the job passes through, as a polling client would.
    from localq.tracking import JobTracker
    seen = []
    original = JobTracker.update_state

    def spy(self, job_id, state, meta, **kwargs):
        original(self, job_id, state, meta, **kwargs)
        seen.append((seeds.AsyncResult(job_id).status, seeds.AsyncResult(job_id).info['step']))
    JobTracker.update_state = spy
    try:
        result = seeds.process_document.delay(str(path), 'u1')
        value = result.get(timeout=10)
    finally:
        JobTracker.update_state = original
    assert seen == [('PROCESSING', 'extracting'), ('PROCESSING', 'chunking'),
                    ('PROCESSING', 'embedding'), ('PROCESSING', 'storing')]
    assert value == {"document_id": "doc-u1-8", "chunks": 8}


def test_manual_retry_snippet(seeds):
    seeds.calls.clear()
    result = seeds.manual_retry_task.delay()
    assert result.get(timeout=10) == 'recovered'
    assert [a.outcome for a in Attempt.select().where(Attempt.job == result.id).order_by(Attempt.number)] == \
        ['RETRY', 'SUCCESS']
    first = Attempt.get((Attempt.job == result.id) & (Attempt.number == 1))
    assert first.error_type == 'tests.seed_snippets.TempError'
    assert Job.get_by_id(result.id).error_type is None   # the job succeeded in the end
