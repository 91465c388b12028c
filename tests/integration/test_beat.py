"""Periodic tasks as Celery declares them (issue #25, item 1), run by the workers' schedulers.

From Celery's "Periodic Tasks" guide: entries of app.conf.beat_schedule ({'task', 'schedule':
seconds | timedelta | crontab(...), 'args', 'kwargs', 'options'}), app.add_periodic_task() from an
on_after_configure receiver, and crontab(hour=7, minute=30, day_of_week='mon-fri'). Each test has
an app of its own, so its schedule never reaches another test's workers.
"""
import datetime

import pytest

from localq import ConfigError, InvalidTaskOptions, LocalQ, crontab
from localq.models import Job
from localq.worker import LocalqConsumer
from tests.conftest import TEST_DATABASE_URL, wait_for


@pytest.fixture
def fresh_app(tmp_path):
    app = LocalQ('beat-tests', data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL,
                 poll_interval=0.005)

    @app.task(name='beat.add')
    def add(x, y):
        return x + y

    app.setup()
    consumers = []

    def start_worker():
        consumer = LocalqConsumer(app, workers=1, name='beat-worker-%d' % len(consumers))
        consumer.start_in_thread()
        consumers.append(consumer)
        return consumer

    app.start_worker = start_worker
    yield app
    for consumer in consumers:
        consumer.shutdown()
    app.close()


def periodic_jobs(app, prefix):
    return list(Job.select().where(Job.idempotency_key.startswith('periodic:' + prefix)).order_by(Job.queued_at))


def test_a_beat_schedule_entry_in_seconds_runs_on_the_workers(fresh_app):
    # Given Celery's beat_schedule with a schedule of one second
    fresh_app.conf.beat_schedule = {
        'add-every-second': {'task': 'beat.add', 'schedule': 1.0, 'args': (16, 16)},
    }
    # When a worker runs
    fresh_app.start_worker()
    # Then the task runs by itself, again and again
    wait_for(lambda: sum(j.state == 'SUCCESS' for j in periodic_jobs(fresh_app, 'add-every-second')) >= 2,
             timeout=15, what='two ticks of the one-second entry')
    assert {j.result for j in periodic_jobs(fresh_app, 'add-every-second') if j.state == 'SUCCESS'} == {'32'}


def test_a_crontab_entry_with_kwargs_and_options_runs_on_its_first_tick(fresh_app):
    fresh_app.conf.update(beat_schedule={
        'every-minute': {'task': 'beat.add', 'schedule': crontab(minute='*'), 'kwargs': {'x': 1, 'y': 2},
                         'options': {'queue': 'low', 'priority': 5}},
    })
    fresh_app.start_worker()
    job = wait_for(lambda: Job.get_or_none((Job.idempotency_key.startswith('periodic:every-minute:'))
                                           & (Job.state == 'SUCCESS')), timeout=15, what='the first tick')
    assert (job.result, job.queue, job.priority) == ('3', 'low', 5)


def test_two_workers_queue_each_tick_once(fresh_app):
    fresh_app.conf.beat_schedule = {'tick': {'task': 'beat.add', 'schedule': datetime.timedelta(seconds=1),
                                             'args': (1, 1)}}
    fresh_app.start_worker()
    fresh_app.start_worker()
    wait_for(lambda: len(periodic_jobs(fresh_app, 'tick')) >= 3, timeout=15, what='three ticks')
    slots = [int(j.idempotency_key.rsplit(':', 1)[1]) for j in periodic_jobs(fresh_app, 'tick')]
    assert len(slots) == len(set(slots))


def test_add_periodic_task_from_on_after_configure_runs(fresh_app):
    # Celery's idiom, the receiver connected before the task it schedules is declared
    @fresh_app.on_after_configure.connect
    def setup_periodic_tasks(sender, **kwargs):
        sender.add_periodic_task(1.0, sender.tasks['beat.mul'].s(6, 7), name='mul every second')

    @fresh_app.task(name='beat.mul')
    def mul(x, y):
        return x * y

    fresh_app.start_worker()
    job = wait_for(lambda: Job.get_or_none((Job.task == 'beat.mul') & (Job.state == 'SUCCESS')), timeout=15,
                   what='the added periodic task')
    assert job.result == '42'
    assert 'mul every second' in fresh_app.conf.beat_schedule


def test_periodic_task_decorator_takes_seconds_and_timedeltas(fresh_app):
    @fresh_app.periodic_task(datetime.timedelta(seconds=1), name='beat.heartbeat')
    def heartbeat():
        return 'beat'

    @fresh_app.periodic_task(1.5, name='beat.pulse')
    def pulse():
        return 'pulse'

    fresh_app.start_worker()
    for name in ('beat.heartbeat', 'beat.pulse'):
        wait_for(lambda: Job.get_or_none((Job.task == name) & (Job.state == 'SUCCESS')), timeout=15,
                 what='a run of %s' % name)


def test_a_crontab_is_read_in_the_timezone_setting(fresh_app):
    # crontab(hour=9, minute=0) in Tokyo (UTC+9, no daylight saving) is midnight UTC
    fresh_app.conf.timezone = 'Asia/Tokyo'
    fresh_app.conf.beat_schedule = {'morning': {'task': 'beat.add', 'schedule': crontab(hour=9, minute=0),
                                                'args': (0, 0)}}
    midnight_utc = datetime.datetime(2026, 1, 5, tzinfo=datetime.timezone.utc).timestamp()
    ticker = fresh_app.beat.ticker()
    assert ticker.tick(midnight_utc - 3600 + 5) == []       # 08:00 in Tokyo
    assert len(ticker.tick(midnight_utc + 5)) == 1          # 09:00 in Tokyo


def test_celery_crontab_names_are_understood():
    weekday_mornings = crontab(hour=7, minute=30, day_of_week='mon-fri')
    assert weekday_mornings(datetime.datetime(2026, 12, 7, 7, 30))        # a Monday
    assert not weekday_mornings(datetime.datetime(2026, 12, 6, 7, 30))    # a Sunday
    first_of_month = crontab(minute=0, hour=0, day_of_month='1')
    assert first_of_month(datetime.datetime(2026, 12, 1)) and not first_of_month(datetime.datetime(2026, 12, 2))


def test_bad_schedules_are_refused_where_they_are_declared(fresh_app):
    with pytest.raises(ConfigError, match="'task' and 'schedule'"):
        fresh_app.conf.beat_schedule = {'broken': {'task': 'beat.add'}}
    with pytest.raises(ConfigError, match='schedule must be'):
        fresh_app.conf.beat_schedule = {'broken': {'task': 'beat.add', 'schedule': 'hourly'}}
    with pytest.raises(ConfigError, match='routing_key is not supported.*use queue='):
        fresh_app.conf.beat_schedule = {'broken': {'task': 'beat.add', 'schedule': 5, 'options': {'routing_key': 'x'}}}
    with pytest.raises(ConfigError, match='not a valid input|matches no values'):
        crontab(day_of_week='someday')
    with pytest.raises(InvalidTaskOptions, match='schedule must be'):
        fresh_app.periodic_task('every day')
