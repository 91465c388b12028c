"""Huey's messages and stored values as JSON (serializer.py), on their own: what goes in comes
back out, what JSON cannot carry is refused in the caller with a TaskArgumentError naming the task,
and nothing read back can run code (no pickle)."""
import datetime
import json
import pickle

import pytest
from huey.registry import Message

from localq.errors import TaskArgumentError
from localq.serializer import MAX_DEPTH, JSONSerializer, check_depth, dumps_json

serializer = JSONSerializer()


def message(**fields):
    base = dict.fromkeys(Message._fields)
    base.update(id='job-1', name='reports.build', retries=0, args=(), kwargs={})
    base.update(fields)
    return Message(**base)


def nested(depth):
    """A list nested `depth` deep: [[[...]]]."""
    value = []
    for _ in range(depth - 1):
        value = [value]
    return value


@pytest.mark.parametrize('fields', [
    {'args': (1, 'two', 3.5, None, True), 'kwargs': {'user': {'id': 7, 'tags': ['a', 'b']}}},
    {'eta': datetime.datetime(2026, 12, 5, 14, 30, 0, 250000)},
    {'eta': datetime.datetime(2026, 12, 5, 14, 30, tzinfo=datetime.timezone.utc),
     'expires': datetime.datetime(2026, 12, 6, tzinfo=datetime.timezone(datetime.timedelta(hours=9)))},
    {'expires_resolved': datetime.datetime(2027, 1, 1), 'retries': 3, 'retry_delay': 2.5, 'priority': 9,
     'timeout': 30, 'retry_backoff': 2},
    {'args': ('ünïcødé ✓', '\x00 and "quotes"')},
])
def test_a_message_comes_back_as_it_was_sent(fields):
    sent = message(**fields)
    assert serializer.deserialize(serializer.serialize(sent)) == sent


def test_datetimes_keep_their_type_and_time_zone():
    eta = datetime.datetime(2026, 12, 5, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5)))
    back = serializer.deserialize(serializer.serialize(message(eta=eta)))
    assert isinstance(back.eta, datetime.datetime) and back.eta.utcoffset() == datetime.timedelta(hours=-5)
    assert back.eta == eta


def test_args_come_back_a_tuple_as_huey_calls_them():
    back = serializer.deserialize(serializer.serialize(message(args=[1, 2])))
    assert back.args == (1, 2) and isinstance(back.args, tuple)


def test_linked_messages_and_a_chord_config_travel_inside_the_message():
    callback = message(id='job-2', name='reports.mail', args=('done',))
    failure = message(id='job-3', name='reports.alert', eta=datetime.datetime(2026, 1, 1))
    sent = message(on_complete=callback, on_error=failure, chord_config=('chord-1', 3, 0, callback))
    back = serializer.deserialize(serializer.serialize(sent))
    assert back.on_complete == callback and back.on_error == failure
    assert back.on_error.eta == datetime.datetime(2026, 1, 1)
    assert back.chord_config == ('chord-1', 3, 0, callback)


def test_a_stored_message_is_readable_json_not_pickle():
    data = serializer.serialize(message(args=(2, 3)))
    body = json.loads(data)
    assert body['m']['name'] == 'reports.build' and body['m']['args'] == [2, 3]


def test_a_workflow_marker_rides_beside_the_message_and_is_given_back_with_it():
    marker = {'root': 'job-0', 'parent': 'job-0', 'next': True, 'errbacks': [{'task': 'x.alert'}]}
    sent = message(args=(1,))
    data = serializer.dump_message(sent, marker)
    assert serializer.load_message(data) == (sent, marker)
    assert serializer.load_message(memoryview(data)) == (sent, marker)   # as PostgreSQL hands a bytea back


def test_a_message_without_a_marker_loads_with_none():
    assert serializer.load_message(serializer.dump_message(message()))[1] is None
    assert b'"w"' not in serializer.dump_message(message(), {})


@pytest.mark.parametrize('value', [None, 0, -1.25, 'text', [1, [2, [3]]], {'a': {'b': None}}, True])
def test_a_stored_value_round_trips(value):
    assert serializer.deserialize(serializer.serialize(value)) == value


def test_a_stored_value_read_back_from_a_memoryview():
    assert serializer.deserialize(memoryview(serializer.serialize({'n': 1}))) == {'n': 1}


def test_json_turns_tuples_into_lists_and_dict_keys_into_strings():
    # What a task receives after the trip through JSON, as with Celery's JSON serializer.
    back = serializer.deserialize(serializer.serialize({1: (1, 2), 'k': {2: 'two'}}))
    assert back == {'1': [1, 2], 'k': {'2': 'two'}}


@pytest.mark.parametrize('bad, says', [
    ({1, 2}, 'set is not JSON serializable'),
    (object(), 'object is not JSON serializable'),
    (b'bytes', 'bytes is not JSON serializable'),
    (datetime.date(2026, 1, 1), 'date is not JSON serializable'),
    (float('nan'), 'Out of range float values are not JSON compliant'),   # (Python 3.13 adds the value)
    (float('inf'), 'Out of range float values are not JSON compliant'),
])
def test_an_argument_json_cannot_carry_is_refused_naming_the_task(bad, says):
    with pytest.raises(TaskArgumentError) as info:
        serializer.serialize(message(args=(1, bad)))
    text = str(info.value)
    assert text.startswith('an argument of task reports.build is not JSON-serialisable')
    assert says in text and 'pass plain data' in text


def test_a_workflow_marker_that_json_cannot_carry_is_refused_too():
    with pytest.raises(TaskArgumentError, match='an argument of task reports.build'):
        serializer.dump_message(message(), {'root': {1, 2}})


def test_a_stored_value_json_cannot_carry_is_named_a_stored_value():
    with pytest.raises(TaskArgumentError, match='^a stored value is not JSON-serialisable'):
        serializer.serialize({'at': datetime.datetime(2026, 1, 1)})


def test_a_self_referencing_argument_is_refused_not_a_crash():
    loop = []
    loop.append(loop)
    with pytest.raises(TaskArgumentError, match='Circular reference'):
        dumps_json(loop, 'an argument of task x')


def test_an_argument_too_deep_for_json_is_refused_as_too_deep():
    with pytest.raises(TaskArgumentError, match='an argument of task x nests too deep to send'):
        dumps_json(nested(100000), 'an argument of task x')


def test_dumps_json_is_compact():
    assert dumps_json({'a': [1, 2]}, 'x') == '{"a":[1,2]}'


def test_pickled_data_is_never_unpickled():
    with pytest.raises(ValueError):   # json.JSONDecodeError: read as text, refused
        serializer.deserialize(pickle.dumps({'v': 1}))


# -- how deep arguments may nest (check_depth) -------------------------------------------------

def test_arguments_nested_up_to_the_limit_are_accepted():
    check_depth(nested(MAX_DEPTH), 'the arguments')
    check_depth({'a': {'b': [[{'c': 1}]]}}, 'the arguments', limit=5)


@pytest.mark.parametrize('value', [
    nested(MAX_DEPTH + 1),
    {'k': nested(MAX_DEPTH)},
    [1, 'a', {'deep': nested(MAX_DEPTH)}],
])
def test_arguments_nested_past_the_limit_are_refused(value):
    with pytest.raises(TaskArgumentError, match='the arguments nests lists or dicts more than %d deep' % MAX_DEPTH):
        check_depth(value, 'the arguments')


def test_a_very_deep_value_is_refused_without_recursing():
    # A million levels would overflow Python's stack in a recursive check.
    with pytest.raises(TaskArgumentError, match='more than 32 deep'):
        check_depth(nested(1_000_000), 'the result')


def test_a_wide_but_shallow_value_is_fine():
    check_depth([[i] * 10 for i in range(10000)], 'the arguments')


def test_strings_and_numbers_do_not_count_as_depth():
    check_depth('[' * 1000, 'the arguments', limit=1)
    check_depth(12, 'the arguments', limit=0)
