"""Periodic tasks' pure parts (beat.py): crontab parsing, when an entry is due, the idempotency key of
each tick (one job per tick however many workers tick), and beat_schedule entries refused where set.
Times are given (`now=`), never read from the clock."""
import datetime
import zoneinfo

import pytest

from localq.beat import Beat, Entry, crontab
from localq.errors import ConfigError

UTC = zoneinfo.ZoneInfo('UTC')
MONDAY = datetime.datetime(2026, 12, 7)   # a Monday


@pytest.mark.parametrize('schedule, at, matches', [
    (crontab(), MONDAY.replace(hour=13, minute=37), True),
    (crontab(minute='*/15'), MONDAY.replace(minute=45), True),
    (crontab(minute='*/15'), MONDAY.replace(minute=46), False),
    (crontab(minute=30, hour='9-17'), MONDAY.replace(hour=17, minute=30), True),
    (crontab(minute=30, hour='9-17'), MONDAY.replace(hour=18, minute=30), False),
    (crontab(minute=0, hour=7, day_of_week='mon-fri'), MONDAY.replace(hour=7), True),
    (crontab(minute=0, hour=7, day_of_week='mon-fri'), MONDAY.replace(day=12, hour=7), False),   # Saturday
    (crontab(minute=0, hour=7, day_of_week='sat,sun'), MONDAY.replace(day=13, hour=7), True),    # Sunday
    (crontab(minute=0, hour=7, day_of_week='sunday'), MONDAY.replace(day=13, hour=7), True),     # full names
    (crontab(minute=0, hour=7, day_of_week=0), MONDAY.replace(day=13, hour=7), True),            # 0 is Sunday
    (crontab(minute=0, hour=7, day_of_week='MON'), MONDAY.replace(hour=7), True),
    (crontab(minute=0, hour=0, day_of_month='1,15'), datetime.datetime(2026, 12, 15), True),
    (crontab(minute=0, hour=0, day_of_month='1,15'), datetime.datetime(2026, 12, 16), False),
    (crontab(minute=0, hour=0, day=1, month=1), datetime.datetime(2027, 1, 1), True),            # Huey's names
    (crontab(minute=0, hour=0, day_of_month=1, month_of_year='6-8'), datetime.datetime(2026, 7, 1), True),
    (crontab(minute=0, hour=0, day_of_month=1, month_of_year='6-8'), datetime.datetime(2026, 9, 1), False),
    (crontab.hourly(), MONDAY.replace(hour=5), True),
    (crontab.hourly(), MONDAY.replace(hour=5, minute=1), False),
    (crontab.daily(), MONDAY, True),
    (crontab.daily(), MONDAY.replace(hour=1), False),
])
def test_a_crontab_matches_the_minutes_it_names(schedule, at, matches):
    assert bool(schedule(at)) is matches


@pytest.mark.parametrize('fields', [
    {'minute': '61'}, {'hour': '24'}, {'day_of_week': 'someday'}, {'day_of_month': '0'},
    {'month_of_year': '13'}, {'minute': 'every'},
])
def test_a_crontab_that_would_never_run_as_meant_is_refused_naming_its_fields(fields):
    with pytest.raises(ConfigError) as info:
        crontab(**fields)
    name, value = next(iter(fields.items()))
    assert str(info.value).startswith('crontab(%s=%r): ' % (name, value))


@pytest.mark.parametrize('schedule, shown', [
    (crontab(), '<crontab: every minute>'),
    (crontab(minute='*/15', hour='9-17'), "<crontab: minute='*/15', hour='9-17'>"),
    (crontab.daily(), "<crontab: minute=0, hour=0>"),
])
def test_a_crontab_shows_only_the_fields_it_sets(schedule, shown):
    assert repr(schedule) == shown


# -- when an interval entry is due -------------------------------------------------------------

def test_an_interval_is_due_at_each_multiple_of_its_seconds_since_the_epoch():
    entry = Entry('sync', 'app.sync', 10)
    slot, key = entry.due(100.0, None, UTC)
    # The first tick only learns where it is: the slot it starts in is not run (it may be half over).
    assert (slot, key) == (10, None)
    assert entry.due(109.9, slot, UTC) == (10, None)
    assert entry.due(110.0, slot, UTC) == (11, 'periodic:sync:every-10s:11')


def test_two_schedulers_ticking_the_same_slot_make_the_same_key():
    # Each worker's scheduler has its own memory; the key is the same, so the unique index lets one through.
    entry = Entry('sync', 'app.sync', 10)
    first = entry.due(110.2, 10, UTC)
    second = entry.due(119.7, 10, UTC)
    assert first == second == (11, 'periodic:sync:every-10s:11')


def test_a_tick_that_skips_slots_queues_once_for_the_latest():
    entry = Entry('sync', 'app.sync', 10)
    assert entry.due(175.0, 10, UTC) == (17, 'periodic:sync:every-10s:17')


@pytest.mark.parametrize('schedule, every, key', [
    (1, 1.0, 'periodic:e:every-1s:'),
    (2.5, 2.5, 'periodic:e:every-2.5s:'),
    (datetime.timedelta(minutes=2), 120.0, 'periodic:e:every-120s:'),
])
def test_an_interval_may_be_seconds_or_a_timedelta(schedule, every, key):
    entry = Entry('e', 't', schedule)
    assert entry.every == every
    slot = int(1000 // every)
    assert entry.due(1000.0, slot - 1, UTC) == (slot, key + str(slot))


@pytest.mark.parametrize('schedule, says', [
    (0.5, 'must be at least 1 second'),
    (0, 'must be at least 1 second'),
    (datetime.timedelta(milliseconds=10), 'must be at least 1 second'),
    (True, 'must be a number of seconds, a timedelta or crontab'),
    ('hourly', 'must be a number of seconds, a timedelta or crontab'),
    (None, 'must be a number of seconds, a timedelta or crontab'),
])
def test_a_schedule_that_cannot_run_is_refused_naming_the_task(schedule, says):
    with pytest.raises(ConfigError, match="^periodic task 'nightly': schedule " + says):
        Entry('nightly', 'app.nightly', schedule)


# -- when a crontab entry is due ---------------------------------------------------------------

def at(*args, tz=datetime.timezone.utc):
    return datetime.datetime(*args, tzinfo=tz).timestamp()


def test_a_crontab_entry_is_due_once_in_the_minute_it_matches():
    entry = Entry('report', 'app.report', crontab(minute=30))
    minute = int(at(2026, 12, 7, 9, 30) // 60)
    assert entry.due(at(2026, 12, 7, 9, 29, 59), None, UTC) == (minute - 1, None)
    assert entry.due(at(2026, 12, 7, 9, 30, 1), minute - 1, UTC) == (minute, 'periodic:report:%d' % minute)
    assert entry.due(at(2026, 12, 7, 9, 30, 40), minute, UTC) == (minute, None)   # the same minute again
    assert entry.due(at(2026, 12, 7, 9, 31), minute, UTC) == (minute + 1, None)


def test_a_crontab_entry_runs_in_the_minute_a_scheduler_starts_in():
    # Unlike an interval: a crontab names whole minutes, so the first tick of a matching one queues it.
    entry = Entry('report', 'app.report', crontab(minute=30))
    minute = int(at(2026, 12, 7, 9, 30) // 60)
    assert entry.due(at(2026, 12, 7, 9, 30, 50), None, UTC)[1] == 'periodic:report:%d' % minute


def test_a_crontab_entry_is_read_in_the_time_zone_given():
    entry = Entry('morning', 'app.morning', crontab(hour=9, minute=0))
    nine_in_tokyo = at(2026, 12, 7, 0, 0)   # midnight UTC
    assert entry.due(nine_in_tokyo, None, zoneinfo.ZoneInfo('Asia/Tokyo'))[1] is not None
    assert entry.due(nine_in_tokyo, None, UTC)[1] is None


def test_a_crontab_follows_daylight_saving_in_its_time_zone():
    entry = Entry('morning', 'app.morning', crontab(hour=9, minute=0))
    berlin = zoneinfo.ZoneInfo('Europe/Berlin')
    winter, summer = at(2026, 1, 5, 8, 0), at(2026, 7, 6, 7, 0)   # 09:00 in Berlin, CET and CEST
    assert entry.due(winter, None, berlin)[1] and entry.due(summer, None, berlin)[1]
    assert entry.due(at(2026, 7, 6, 8, 0), None, berlin)[1] is None


def test_any_function_of_a_datetime_is_a_schedule():
    entry = Entry('even', 'app.even', lambda dt: dt.minute % 2 == 0)
    assert entry.due(at(2026, 12, 7, 9, 2), None, UTC)[1] is not None
    assert entry.due(at(2026, 12, 7, 9, 3), None, UTC)[1] is None


# -- beat_schedule as set (no app needed) -------------------------------------------------------

def test_beat_schedule_entries_are_compiled_with_their_arguments_and_options():
    beat = Beat(None)
    beat.configure({'sync': {'task': 'app.sync', 'schedule': 30, 'args': [1], 'kwargs': {'full': True},
                             'options': {'queue': 'low', 'priority': 3}}})
    (entry,) = beat.entries()
    assert (entry.name, entry.task, entry.every, entry.args, entry.kwargs) == ('sync', 'app.sync', 30.0, (1,),
                                                                               {'full': True})
    assert entry.options == {'queue': 'low', 'priority': 3}


@pytest.mark.parametrize('schedule, says', [
    ([('sync', {})], 'beat_schedule must be a dict of name -> entry'),
    ({'': {'task': 't', 'schedule': 5}}, 'a periodic task name is a string of 1-120 characters'),
    ({'x' * 121: {'task': 't', 'schedule': 5}}, 'a periodic task name is a string of 1-120 characters'),
    ({'sync': 'app.sync'}, "beat_schedule\\['sync'\\] must be a dict with 'task' and 'schedule'"),
    ({'sync': {'schedule': 5}}, "must be a dict with 'task' and 'schedule'"),
    ({'sync': {'task': 't', 'schedule': 5, 'relative': True, 'every': 3}},
     "beat_schedule\\['sync'\\]: unknown field\\(s\\) every; allowed: task, schedule, args"),
    ({'sync': {'task': 't', 'schedule': 5, 'options': {'queue': 'bad queue'}}},
     "beat_schedule\\['sync'\\] options: queue must be"),
    ({'sync': {'task': 't', 'schedule': 5, 'options': {'exchange': 'x'}}},
     "options: option exchange is not supported by localq: use queue="),
    ({'sync': {'task': 't', 'schedule': 0.1}}, "periodic task 'sync': schedule must be at least 1 second"),
])
def test_a_beat_schedule_localq_cannot_run_is_refused_and_the_old_one_kept(schedule, says):
    beat = Beat(None)
    beat.configure({'old': {'task': 'app.old', 'schedule': 60}})
    with pytest.raises(ConfigError, match=says):
        beat.configure(schedule)
    assert [e.name for e in beat.entries()] == ['old']


def test_declared_entries_come_first_and_forget_removes_either_kind():
    beat = Beat(None)
    beat.configure({'from-conf': {'task': 'app.a', 'schedule': 5}})
    beat.declare('app.declared', 10)
    assert [e.name for e in beat.entries()] == ['app.declared', 'from-conf']
    beat.forget('app.declared')
    beat.forget('from-conf')
    beat.forget('never-there')
    assert beat.entries() == []


def test_a_beat_schedule_entry_overrides_a_declared_task_of_the_same_name():
    beat = Beat(None)
    beat.declare('app.sync', 10)
    beat.configure({'app.sync': {'task': 'app.sync', 'schedule': 60}})
    (entry,) = beat.entries()
    assert entry.every == 60.0


def test_the_configure_receivers_run_once_before_the_schedule_is_first_read():
    beat, calls = Beat('the app'), []

    @beat.on_after_configure.connect
    def setup(sender, **kwargs):
        calls.append(('configure', sender))
        beat.declare('app.from_receiver', 5)

    beat.on_after_finalize.connect(weak=False)(lambda sender: calls.append(('finalize', sender)))
    assert [e.name for e in beat.entries()] == ['app.from_receiver']
    beat.entries()
    assert calls == [('configure', 'the app'), ('finalize', 'the app')]
