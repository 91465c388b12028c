"""Huey's own storage and API semantics, on localq's storage (issue #25, item 8).

Written from Huey's documentation and test suite (huey/tests/test_storage.py, test_api.py):
`Huey.flush()` "removes all persistent or semi-persistent data" (queue, schedule, results,
counters); `rate_limit(..., retry=False)` raises without a later retry; the key/value store
takes bytes keys as well as text ones. Run on PostgreSQL too (LOCALQ_DATABASE_URL).
"""
from localq.models import Job
from tests.conftest import wait_for
from tests.sample_tasks import add, huey_limited


def test_huey_flush_drops_queued_and_scheduled_jobs(app):
    # Given a job ready to run and one scheduled for later
    ready = add.delay(1, 2)
    later = add.apply_async((3, 4), countdown=3600)
    assert len(app.huey) == 1 and app.huey.scheduled_count() == 1

    # When Huey is flushed, as Huey's own tests do between cases
    app.huey.flush()

    # Then neither is left to run: the queue and the schedule are empty
    assert len(app.huey) == 0
    assert app.huey.scheduled_count() == 0
    assert ready.state == 'REVOKED' and later.state == 'REVOKED'


def test_huey_flush_empties_the_key_value_store_and_counters(app):
    storage = app.huey.storage
    storage.put_data('lock', b'1')
    storage.incr('seen')
    app.huey.flush()
    assert storage.result_store_size() == 0
    assert storage.incr('seen', 0) == 0


def test_huey_rate_limit_without_retry_fails_the_call_over_the_limit(app, worker):
    # Given Huey's rate_limit(retry=False) allowing one call a day
    first = huey_limited.delay(1, retry=False)
    assert first.get(timeout=10) == 1

    # When a second call goes over the limit
    second = huey_limited.delay(2, retry=False)

    # Then it fails with RateLimitExceeded instead of waiting for a later retry
    second.get(timeout=10, propagate=False)
    assert second.state == 'FAILURE'
    assert 'RateLimitExceeded' in Job.get_by_id(second.id).error_type


def test_huey_rate_limit_with_retry_waits_for_the_next_window(app, worker):
    assert huey_limited.delay(1).get(timeout=10) == 1
    second = huey_limited.delay(2)
    row = wait_for(lambda: Job.get_or_none((Job.id == second.id) & (Job.wait_reason == 'rate-limited')),
                   what='the call over the limit to wait for the next window')
    assert row.state == 'PENDING' and row.attempts == 0


def test_bytes_and_text_keys_name_the_same_value(app):
    # Huey's storage contract passes bytes keys (huey/tests/test_storage.py) and text keys (locks)
    storage = app.huey.storage
    storage.put_data(b'k1', b'v1')
    assert storage.peek_data(b'k1') == b'v1'
    assert storage.peek_data('k1') == b'v1'
    assert storage.put_if_empty(b'k2', b'first')
    assert not storage.put_if_empty('k2', b'second')
    assert storage.pop_data(b'k1') == b'v1'
    assert not storage.has_data_for_key(b'k1')
    assert {k: v for k, v in storage.result_items().items()} == {'k2': b'first'}
    assert storage.incr(b'count') == 1
    assert storage.incr('count') == 2
    storage.delete_counter(b'count')
    assert storage.incr('count', 0) == 0
