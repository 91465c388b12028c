"""Celery's setting names on localq (issue #25, item 1), written from Celery's "Configuration and
defaults": the names people set most work as aliases whichever way they are set (app.conf.X = ,
app.conf.update(), app.config_from_object(), Celery(**settings)); unknown names are refused
everywhere, with the closest names localq knows.
"""
import datetime
import time
import types

import pytest

from localq import ConfigError, LocalQ
from localq.models import Job
from localq.retention import prune_jobs
from localq.worker import LocalqConsumer
from tests.conftest import TEST_DATABASE_URL


@pytest.fixture
def make_app(tmp_path):
    apps = []

    def make(**settings):
        app = LocalQ('settings-tests', data_dir=str(tmp_path / 'data'), database_url=TEST_DATABASE_URL, **settings)
        apps.append(app)
        return app
    yield make
    for app in apps:
        app.close()


def set_by_attribute(app, values):
    for key, value in values.items():
        setattr(app.conf, key, value)


def set_by_update(app, values):
    app.conf.update(values)


def set_by_module(app, values):
    app.config_from_object(types.SimpleNamespace(**values))


def set_by_django_namespace(app, values):
    app.config_from_object(types.SimpleNamespace(**{'CELERY_' + k.upper(): v for k, v in values.items()}),
                           namespace='CELERY')


WAYS = [set_by_attribute, set_by_update, set_by_module, set_by_django_namespace]


@pytest.mark.parametrize('way', WAYS)
def test_unknown_names_are_refused_with_the_closest_known_ones(make_app, way):
    app = make_app()
    with pytest.raises(ConfigError, match="unknown setting 'task_rotues'.*did you mean task_routes"):
        way(app, {'task_rotues': {'x.y': {'queue': 'q'}}})
    with pytest.raises(ConfigError, match='did you mean worker_concurrency'):
        way(app, {'worker_concurency': 4})


def test_unknown_names_are_refused_by_the_constructor_too(make_app):
    with pytest.raises(ConfigError, match='did you mean task_acks_late'):
        make_app(task_acks_lat=True)


def test_celery_settings_localq_does_not_have_say_what_to_use(make_app):
    with pytest.raises(ConfigError, match='task_annotations is not supported.*@app.task'):
        make_app().conf.update(task_annotations={'tasks.add': {'rate_limit': '10/s'}})


def test_old_uppercase_celery_names_are_refused_and_other_constants_left_alone(make_app):
    app = make_app()
    with pytest.raises(ConfigError, match='CELERY_ROUTES is an old uppercase Celery setting'):
        app.config_from_object(types.SimpleNamespace(CELERY_ROUTES={}))
    # a config module's own constants, imports and helpers are not settings
    app.config_from_object(types.SimpleNamespace(REDIS_HOST='localhost', datetime=datetime, helper=lambda: 1,
                                                 worker_concurrency=3))
    assert app.conf.worker_concurrency == 3


@pytest.mark.parametrize('way', WAYS)
def test_task_routes_send_a_task_to_its_queue_after_the_call_and_the_task(make_app, way):
    app = make_app()

    @app.task(name='feed.tasks.import_feed')
    def import_feed(url):
        return url

    @app.task(name='feed.tasks.pinned', queue='high')
    def pinned():
        return 1

    way(app, {'task_routes': {'feed.tasks.*': {'queue': 'feeds'}, 'video.encode': 'media'}})
    assert Job.get_by_id(import_feed.delay('u').id).queue == 'feeds'
    assert Job.get_by_id(import_feed.apply_async(('u',), queue='low').id).queue == 'low'   # the call's own
    assert Job.get_by_id(pinned.delay().id).queue == 'high'                                # the task's own
    assert Job.get_by_id(app.send_task('video.encode', args=(1,)).id).queue == 'media'     # by name


def test_task_routes_take_items_in_order_and_router_functions(make_app):
    app = make_app()

    def route_task(name, args, kwargs, options, task=None, **kw):
        if name.startswith('video.'):
            return {'queue': 'media', 'priority': 7}

    app.conf.task_routes = ([('web.*', {'queue': 'web'}), ('*', {'queue': 'default'})], route_task)
    assert Job.get_by_id(app.send_task('web.render').id).queue == 'web'
    assert Job.get_by_id(app.send_task('other.task').id).queue == 'default'
    app.conf.task_routes = (route_task,)
    job = Job.get_by_id(app.send_task('video.cut').id)
    assert (job.queue, job.priority) == ('media', 7)


@pytest.mark.parametrize('way', WAYS)
def test_task_defaults_apply_to_tasks_declared_before_and_after(make_app, way):
    app = make_app()

    @app.task(name='settings.before')
    def before():
        return 1

    @app.task(name='settings.explicit', acks_late=False)
    def explicit():
        return 1

    way(app, {'task_acks_late': True, 'task_default_queue': 'work', 'task_default_priority': 3})

    @app.task(name='settings.after')
    def after():
        return 1

    rows = {t.name: Job.get_by_id(t.delay().id) for t in (before, explicit, after)}
    assert {n: r.acks_late for n, r in rows.items()} == {'settings.before': True, 'settings.explicit': False,
                                                         'settings.after': True}
    assert {r.queue for r in rows.values()} == {'work'}
    assert {r.priority for r in rows.values()} == {3}
    assert app.conf.task_acks_late is True and app.conf.task_default_queue == 'work'


def test_task_time_limit_stops_a_task_without_its_own(make_app):
    app = make_app(task_time_limit=0.3)   # Celery('proj', task_time_limit=...) as well

    @app.task(name='settings.forever')
    def forever():
        while True:
            time.sleep(0.01)

    consumer = LocalqConsumer(app, workers=1, name='limit-worker')
    consumer.start_in_thread()
    try:
        result = forever.delay()
        result.get(timeout=15, propagate=False)
        assert result.state == 'FAILURE'
        assert 'TimeLimitExceeded' in Job.get_by_id(result.id).error_type
    finally:
        consumer.shutdown()


@pytest.mark.parametrize('way', WAYS)
def test_result_expires_worker_concurrency_and_timezone(make_app, way):
    app = make_app()

    @app.task(name='settings.add')
    def add(x, y):
        return x + y

    way(app, {'result_expires': datetime.timedelta(hours=1), 'worker_concurrency': 3, 'timezone': 'Europe/Paris'})
    assert (app.conf.result_expires, app.conf.worker_concurrency, app.conf.timezone) == (
        datetime.timedelta(hours=1), 3, 'Europe/Paris')
    app.immediate = True
    add.delay(1, 2)
    assert prune_jobs(app, now=time.time() + 1800) == 0        # kept for the hour results are kept
    assert prune_jobs(app, now=time.time() + 7200) == 1


def test_bad_values_are_refused_with_what_is_allowed(make_app):
    app = make_app()
    with pytest.raises(ConfigError, match='task_acks_late must be True or False'):
        app.conf.task_acks_late = 'yes'
    with pytest.raises(ConfigError, match='timezone must be an IANA time zone'):
        app.conf.timezone = 'Mars/Olympus'
    with pytest.raises(ConfigError, match='task_routes'):
        app.conf.task_routes = {'x.*': {'queue': 'not a queue!'}}
