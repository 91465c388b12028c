"""Huey's key/value and counter contract (keyvalue.py) on the app's own tables, and Huey's locks on it."""
import pytest
from huey.constants import EmptyData
from huey.exceptions import TaskLockedException

from localq.storage import JobStorage


@pytest.fixture
def storage(app):
    return app.huey.storage


def test_a_value_is_put_read_and_popped_once(storage):
    storage.put_data('k', b'v1')
    storage.put_data('k', b'v2')   # a second put replaces
    assert storage.peek_data('k') == b'v2' and storage.has_data_for_key('k')
    assert storage.pop_data('k') == b'v2'
    assert storage.pop_data('k') is EmptyData and storage.peek_data('k') is EmptyData
    assert not storage.has_data_for_key('k')


def test_bytes_and_text_keys_name_one_value(storage):
    storage.put_data(b'key', b'from bytes')
    assert storage.peek_data('key') == b'from bytes'
    assert storage.incr('n') == 1 and storage.incr(b'n', 4) == 5


def test_put_if_empty_keeps_the_first_value(storage):
    assert storage.put_if_empty('lock', b'a') is True
    assert storage.put_if_empty('lock', b'b') is False
    assert storage.peek_data('lock') == b'a'
    with pytest.raises(NotImplementedError, match='ttl'):
        storage.put_if_empty('other', b'x', ttl=5)


def test_counters_count_up_and_down_and_are_deleted(storage):
    assert [storage.incr('c'), storage.incr('c', 10), storage.incr('c', -3)] == [1, 11, 8]
    storage.delete_counter('c')
    assert storage.incr('c') == 1


def test_keys_are_scoped_by_the_storage_name(app, storage):
    other = JobStorage('another-app', query=app.query)
    storage.put_data('shared', b'mine')
    assert other.peek_data('shared') is EmptyData
    other.put_data('shared', b'theirs')
    assert storage.peek_data('shared') == b'mine'
    storage.flush_results()
    assert storage.result_store_size() == 0 and other.result_items() == {'shared': b'theirs'}


def test_flushing_counters_leaves_the_values(storage):
    storage.put_data('v', b'1')
    storage.incr('c', 5)
    storage.flush_counters()
    assert storage.incr('c') == 1 and storage.peek_data('v') == b'1'


def test_hueys_task_lock_is_held_by_one_holder_at_a_time(app):
    lock = app.huey.lock_task('nightly-report')
    with lock:
        assert lock.is_locked()
        with pytest.raises(TaskLockedException):
            with app.huey.lock_task('nightly-report'):
                pass
    assert not lock.is_locked()
    with lock:   # free again once released
        assert lock.is_locked()
