"""A task's options (checked when @app.task(...) runs) and a call's options (checked where the call
enters: apply_async, send_task, a signature's options), on their own: each refused value gets an
error that names the option and says what is allowed; each accepted one comes back normalized."""
import datetime

import pytest

from localq.errors import InvalidCallOptions, InvalidTaskOptions
from localq.options import CALL_OPTIONS, MAX_DELAY, OPTIONS, check_call_options, resolve_options


def declared(**given):
    def report_sales():
        pass
    return resolve_options(report_sales, given)


# -- at decoration time ----------------------------------------------------------------------

def test_without_options_a_task_gets_celerys_defaults():
    options = declared()
    assert (options.max_retries, options.default_retry_delay, options.retry_backoff_max) == (3, 180, 600)
    assert (options.bind, options.acks_late, options.ignore_result, options.retry_jitter) == (False, False, False,
                                                                                             True)
    assert (options.queue, options.priority, options.rate_limit, options.time_limit) == (None, 0, None, None)


def test_the_default_name_is_the_functions_module_and_qualified_name():
    assert declared().name == __name__ + '.declared.<locals>.report_sales'
    assert declared(name='reports.sales').name == 'reports.sales'


@pytest.mark.parametrize('option, value, allowed', [
    ('name', '', 'a non-empty str'),
    ('name', 42, 'a non-empty str'),
    ('bind', 1, 'True or False'),
    ('max_retries', -1, 'an int >= 0'),
    ('max_retries', True, 'an int >= 0'),            # a bool is an int to Python, not to a user
    ('max_retries', 2.5, 'an int >= 0'),
    ('autoretry_for', (ValueError, 'TimeoutError'), 'a tuple of exception classes'),
    ('autoretry_for', (int,), 'a tuple of exception classes'),   # a class, but no exception
    ('autoretry_for', ValueError(), 'a tuple of exception classes'),
    ('retry_backoff', 0, 'True/False or a positive number'),
    ('retry_backoff', -2, 'True/False or a positive number'),
    ('retry_backoff', '2', 'True/False or a positive number'),
    ('retry_backoff_max', 0, 'a positive number of seconds'),
    ('retry_backoff_max', True, 'a positive number of seconds'),
    ('retry_jitter', None, 'True or False'),
    ('default_retry_delay', -1, 'seconds >= 0'),
    ('default_retry_delay', '10', 'seconds >= 0'),
    ('default_retry_delay', True, 'seconds >= 0'),              # not "1 second"
    ('default_retry_delay', float('nan'), 'seconds >= 0'),
    ('time_limit', float('inf'), 'a positive number of seconds or None'),
    ('retry_backoff', float('inf'), 'True/False or a positive number'),
    ('time_limit', 0, 'a positive number of seconds or None'),
    ('soft_time_limit', '5', 'a positive number of seconds or None'),
    ('acks_late', 'yes', 'True or False'),
    ('ignore_result', 0, 'True or False'),
    ('rate_limit', '10 per minute', '"N/s", "N/m", "N/h"'),
    ('rate_limit', '10/d', '"N/s", "N/m", "N/h"'),
    ('rate_limit', 10, '"N/s", "N/m", "N/h"'),
    ('queue', '', 'a queue name of letters'),
    ('queue', 'a/b', 'a queue name of letters'),
    ('queue', 'q' * 101, 'a queue name of letters'),
    ('priority', 1001, 'from -1000 to 1000'),
    ('priority', -1001, 'from -1000 to 1000'),
    ('priority', 1.5, 'from -1000 to 1000'),
    ('priority', False, 'from -1000 to 1000'),
    ('expires', -5, 'seconds after enqueue'),
])
def test_an_ill_typed_option_is_refused_naming_the_option_the_value_and_what_it_allows(option, value, allowed):
    with pytest.raises(InvalidTaskOptions) as info:
        declared(**{option: value})
    message = str(info.value)
    assert message.startswith('@task(%s=%r) for ' % (option, value))
    assert 'report_sales' in message and allowed in message


@pytest.mark.parametrize('option, value', [
    ('max_retries', 0), ('retry_backoff', True), ('retry_backoff', 2.5), ('retry_backoff_max', 30),
    ('default_retry_delay', 0), ('time_limit', 0.5), ('rate_limit', '2.5/s'), ('rate_limit', ' 10 / h '),
    ('queue', 'reports.daily-2_x'), ('priority', -1000), ('priority', 1000), ('expires', 3600),
])
def test_a_value_at_the_edge_of_what_is_allowed_is_kept_as_given(option, value):
    assert getattr(declared(**{option: value}), option) == value


def test_several_unknown_options_are_named_together_with_every_allowed_one():
    with pytest.raises(InvalidTaskOptions) as info:
        declared(retries=3, timeout=5)
    message = str(info.value)
    assert message.startswith('@task(retries, timeout): unknown option(s) retries, timeout for ')
    assert 'allowed: ' + ', '.join(sorted(OPTIONS)) in message


@pytest.mark.parametrize('given, expected', [
    (ConnectionError, (ConnectionError,)),                     # one class, as Celery allows
    ([ConnectionError, TimeoutError], (ConnectionError, TimeoutError)),
    ((), ()),
])
def test_autoretry_for_takes_one_class_a_list_or_a_tuple_and_keeps_a_tuple(given, expected):
    assert declared(autoretry_for=given).autoretry_for == expected


@pytest.mark.parametrize('rate, seconds_between_starts', [
    ('10/m', 6.0), ('1/s', 1.0), ('2.5/s', 0.4), ('60/h', 60.0), (' 4 / m ', 15.0),
])
def test_a_rate_limit_is_read_as_the_time_between_two_starts(rate, seconds_between_starts):
    assert declared(rate_limit=rate).rate_interval == pytest.approx(seconds_between_starts)


def test_without_a_rate_limit_there_is_no_interval():
    assert declared().rate_interval is None


@pytest.mark.parametrize('soft, hard', [(5, 5), (10, 5)])
def test_a_soft_time_limit_not_below_the_hard_one_is_refused(soft, hard):
    with pytest.raises(InvalidTaskOptions, match=r'soft_time_limit \(%s\) must be below time_limit \(%s\)'
                       % (soft, hard)):
        declared(soft_time_limit=soft, time_limit=hard)


def test_a_soft_time_limit_alone_or_below_the_hard_one_is_kept():
    assert declared(soft_time_limit=5).soft_time_limit == 5
    assert (declared(soft_time_limit=4, time_limit=5).soft_time_limit) == 4


def test_retry_kwargs_fill_in_the_limit_and_delay_but_explicit_options_win():
    options = declared(autoretry_for=(ConnectionError,), max_retries=7, retry_kwargs={'max_retries': 2,
                                                                                        'countdown': 9})
    assert (options.max_retries, options.default_retry_delay) == (7, 9)


def test_retry_kwargs_with_other_keys_are_refused_saying_which_ones_they_take():
    with pytest.raises(InvalidTaskOptions, match='takes max_retries and countdown'):
        declared(retry_kwargs={'max_retries': 2, 'interval_start': 1})


def test_retry_kwargs_values_are_checked_like_the_options_they_set():
    with pytest.raises(InvalidTaskOptions, match='max_retries=-1'):
        declared(retry_kwargs={'max_retries': -1})


# -- at call time ------------------------------------------------------------------------------

def test_a_call_without_options_gets_every_call_option_as_none():
    assert check_call_options({}) == dict.fromkeys(CALL_OPTIONS)


def test_celerys_publishing_options_are_accepted_and_dropped():
    assert check_call_options({'retry': True, 'retry_policy': {'max_retries': 3}, 'queue': 'low'}) == dict(
        dict.fromkeys(CALL_OPTIONS), queue='low')


@pytest.mark.parametrize('options, says', [
    ({'countdown': 'soon'}, 'countdown must be a number of seconds, got .*soon'),
    ({'countdown': True}, 'countdown must be a number of seconds'),
    ({'countdown': float('nan')}, 'countdown must be a number of seconds'),
    ({'countdown': float('inf')}, 'countdown must be a number of seconds'),
    ({'countdown': MAX_DELAY + 1}, 'countdown must be from .* \\(a year\\)'),
    ({'countdown': -MAX_DELAY - 1}, 'countdown must be from'),
    ({'expires': 0}, 'expires must be from 0.001'),
    ({'expires': -3}, 'expires must be from 0.001'),
    ({'expires': '1h'}, 'expires must be a number of seconds'),
    ({'expires': datetime.datetime(2000, 1, 1)}, 'expires must be within a year of now, got 2000-01-01T00:00:00'),
    ({'eta': 30}, 'eta must be a datetime, got .*30'),
    ({'eta': datetime.date.today()}, 'eta must be a datetime'),
    ({'eta': datetime.datetime.now() + datetime.timedelta(days=400)}, 'eta must be within a year of now'),
    ({'queue': 'has space'}, 'queue must be 1-100 letters'),
    ({'queue': 7}, 'queue must be 1-100 letters'),
    ({'priority': 1001}, 'priority must be a whole number from -1000 to 1000, got .*1001'),
    ({'priority': True}, 'priority must be a whole number'),
    ({'priority': '5'}, 'priority must be a whole number'),
    ({'task_id': 'a/b'}, 'task_id must be 1-64 letters'),
    ({'task_id': 'x' * 65}, 'task_id must be 1-64 letters'),
    ({'task_id': 12}, 'task_id must be 1-64 letters'),
    ({'idempotency_key': ''}, 'idempotency_key must be a string of 1-200 characters'),
    ({'idempotency_key': 'k' * 201}, 'idempotency_key must be a string of 1-200 characters'),
    ({'idempotency_key': 'a\x00b'}, 'idempotency_key must be a string'),
    ({'idempotency_key': 5}, 'idempotency_key must be a string'),
])
def test_a_call_option_out_of_range_is_refused_naming_it(options, says):
    with pytest.raises(InvalidCallOptions, match=says):
        check_call_options(options)


def test_a_long_refused_value_is_cut_in_the_message():
    with pytest.raises(InvalidCallOptions) as info:
        check_call_options({'queue': 'q' * 500})
    assert len(str(info.value)) < 200 and 'q' * 59 + '...' in str(info.value)


@pytest.mark.parametrize('option, instead', [
    ('ignore_result', '@app.task(ignore_result=True)'), ('headers', 'as an argument'),
    ('serializer', 'always JSON'), ('routing_key', 'use queue='), ('exchange', 'use queue='),
])
def test_a_celery_option_localq_refuses_says_what_to_do_instead(option, instead):
    with pytest.raises(InvalidCallOptions) as info:
        check_call_options({option: 'x'})
    assert str(info.value).startswith('option %s is not supported by localq: ' % option)
    assert instead in str(info.value)


def test_unknown_call_options_are_named_with_the_allowed_ones():
    with pytest.raises(InvalidCallOptions, match='unknown option\\(s\\) delay, soon; allowed: countdown, eta, '):
        check_call_options({'soon': 1, 'delay': 2})


def test_an_invalid_call_option_is_also_a_value_error_and_a_type_error_for_callers_that_catch_those():
    with pytest.raises(ValueError):
        check_call_options({'priority': 5000})
    with pytest.raises(TypeError):
        check_call_options({'countdown': 'x'})


def test_accepted_call_options_come_back_normalized():
    eta = datetime.datetime.now() + datetime.timedelta(hours=1)
    checked = check_call_options({'countdown': 5, 'expires': 60, 'eta': eta, 'queue': 'low', 'priority': -3,
                                  'task_id': 'report:2026-12.a_b', 'idempotency_key': 'invoice 42',
                                  'retry': False})
    assert checked == {'countdown': 5.0, 'expires': 60.0, 'eta': eta, 'queue': 'low', 'priority': -3,
                       'task_id': 'report:2026-12.a_b', 'idempotency_key': 'invoice 42'}
    assert isinstance(checked['countdown'], float)


def test_a_negative_countdown_is_allowed_as_in_celery_runs_at_once():
    assert check_call_options({'countdown': -30})['countdown'] == -30.0


def test_expires_may_be_a_datetime_as_well_as_seconds():
    when = datetime.datetime.now() + datetime.timedelta(minutes=5)
    assert check_call_options({'expires': when})['expires'] is when


def test_a_none_option_means_not_given():
    assert check_call_options({'queue': None, 'priority': None, 'eta': None}) == dict.fromkeys(CALL_OPTIONS)


def test_max_retries_none_is_refused_when_the_task_is_declared():
    """None ("no limit") is not supported: refused at declaration, rather than failing at the first retry."""
    with pytest.raises(InvalidTaskOptions, match=r'max_retries=None\) for .*: must be an int >= 0'):
        resolve_options(lambda: None, {'max_retries': None})


@pytest.mark.parametrize('retry_kwargs', [5, 'max_retries', ['countdown']])
def test_retry_kwargs_that_is_not_a_dict_is_a_clear_error(retry_kwargs):
    with pytest.raises(InvalidTaskOptions, match='takes max_retries and countdown'):
        resolve_options(lambda: None, {'retry_kwargs': retry_kwargs})


@pytest.mark.parametrize('option, value, shown', [('priority', 1001, 'got 1001'), ('priority', '5', "got '5'"),
                                                  ('queue', 'a b', "got 'a b'"), ('countdown', 'soon', "got 'soon'")])
def test_a_refused_call_option_shows_the_value_as_it_was_given(option, value, shown):
    with pytest.raises(InvalidCallOptions) as refused:
        check_call_options({option: value})
    assert str(refused.value).endswith(shown)
