"""Celery's task.chunks(items, n) (the Canvas guide's "Chunks"): many small calls in fewer jobs,
on a real worker process; each chunk's value is the list of its calls' values."""
import pytest

from localq import CanvasError, TaskArgumentError, chord
from localq.chunks import STARMAP
from localq.models import Job
from tests.conftest import wait_for
from tests.sample_tasks import add, fail, sum_lists


def test_chunks_run_n_calls_per_job_and_get_lists_each_chunks_values(app, process_worker):
    result = add.chunks(zip(range(10), range(10)), 4).apply_async()
    assert result.get(timeout=20) == [[0, 2, 4, 6], [8, 10, 12, 14], [16, 18]]
    # three jobs, not ten: the calls ran inside them
    assert [(j.task, j.state) for j in Job.select()] == [(STARMAP, 'SUCCESS')] * 3


def test_a_chunk_whose_call_raises_fails_with_that_error(app, process_worker):
    result = fail.chunks([(1,), (2,)], 1).apply_async()
    with pytest.raises(ValueError, match='broken: 1'):
        result.get(timeout=20)     # the first failure is raised; the other chunk may still run
    wait_for(lambda: sorted(Job.select(Job.state).tuples()) == [('FAILURE',), ('FAILURE',)], what='both chunks failed')


def test_chunks_are_a_group_so_a_chord_body_gets_their_lists(app, process_worker):
    assert chord(add.chunks([(1, 1), (2, 2), (3, 3)], 2), sum_lists.s()).apply_async().get(timeout=20) == 12
    assert add.chunks([(1, 1), (2, 2), (3, 3)], 2).group().apply_async().get(timeout=20) == [[2, 4], [6]]


def test_skew_starts_the_chunks_a_step_apart():
    skewed = add.chunks([(i, i) for i in range(6)], 2).skew(start=1, step=2)
    assert [member.options['countdown'] for member in skewed.tasks] == [1, 3, 5]


def test_a_bad_chunk_size_or_call_is_refused_before_anything_is_queued(app):
    with pytest.raises(CanvasError, match='an int >= 1'):
        add.chunks([(1, 1)], 0)
    with pytest.raises(TaskArgumentError):
        add.chunks([(1, 1), (1, 2, 3)], 1)          # add takes two arguments
    assert Job.select().count() == 0


def test_chunks_run_eagerly_with_apply():
    assert add.chunks([(1, 2), (3, 4), (5, 6)], 2).apply().get() == [[3, 7], [11]]
