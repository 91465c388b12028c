"""Celery's task_routes (routing.py) on their own: which queue and priority a call of a task name
gets from a dict, items in order, regexes, globs and router functions; the first answer counts;
a route localq cannot use is refused where task_routes is set."""
import re

import pytest

from localq.errors import ConfigError
from localq.routing import Router


def routed(routes, name, args=(), kwargs=None, options=None, task=None):
    router = Router()
    router.configure(routes)
    return router.route(name, args, kwargs or {}, options or {}, task=task)


FEEDS = {
    'feed.tasks.import_feed': {'queue': 'imports'},   # a name
    'feed.tasks.*': {'queue': 'feeds'},               # a glob
    re.compile(r'(video|image)\.tasks\.'): 'media',   # a regex, a bare queue name
    'mail.send': {'queue': 'mail', 'priority': 5},
}


@pytest.mark.parametrize('name, route', [
    ('feed.tasks.import_feed', {'queue': 'imports'}),   # an exact name wins over a glob that also matches
    ('feed.tasks.refresh', {'queue': 'feeds'}),
    ('feed.tasks.', {'queue': 'feeds'}),
    ('video.tasks.encode', {'queue': 'media'}),
    ('image.tasks.thumbnail', {'queue': 'media'}),
    ('mail.send', {'queue': 'mail', 'priority': 5}),
    ('feed.other', {}),
    ('audio.tasks.mix', {}),
    ('mail.send.later', {}),                            # a name is matched whole
    ('FEED.tasks.refresh', {}),                         # and with its case
])
def test_a_dict_of_routes_sends_each_task_name_to_its_queue(name, route):
    assert routed(FEEDS, name) == route


def test_a_regex_matches_from_the_start_of_the_name_as_in_celery():
    routes = {re.compile(r'tasks\.'): 'q'}
    assert routed(routes, 'tasks.a') == {'queue': 'q'}
    assert routed(routes, 'my.tasks.a') == {}


def test_a_glob_star_matches_across_dots_and_other_glob_characters_are_literal():
    assert routed({'feed*': 'q'}, 'feed.tasks.deep.name') == {'queue': 'q'}
    assert routed({'feed.?': 'q'}, 'feed.a') == {}        # only '*' makes a glob, as in Celery
    assert routed({'feed.?': 'q'}, 'feed.?') == {'queue': 'q'}


def test_patterns_of_one_dict_are_tried_in_the_order_written():
    routes = {'reports.*': 'reports', 'reports.daily.*': 'daily'}
    assert routed(routes, 'reports.daily.sales') == {'queue': 'reports'}


def test_items_are_matched_in_order_and_a_catch_all_comes_last():
    routes = ([('web.*', {'queue': 'web'}), ('web.render', {'queue': 'never'}), ('*', 'default')],)
    # An exact name of an items list still goes before its patterns.
    assert routed(routes, 'web.render') == {'queue': 'never'}
    assert routed(routes, 'web.index') == {'queue': 'web'}
    assert routed(routes, 'anything') == {'queue': 'default'}


def test_routers_are_asked_in_order_and_the_first_answer_counts():
    asked = []

    def by_argument(name, args, kwargs, options, task=None, **kw):
        asked.append((name, args, kwargs, options, task))
        if kwargs.get('urgent'):
            return {'queue': 'urgent', 'priority': 9}
        return None

    routes = (by_argument, {'reports.*': 'reports'}, lambda *a, **k: 'late')
    assert routed(routes, 'reports.build', (1,), {'urgent': True}, {'countdown': 3}, task='T') == {
        'queue': 'urgent', 'priority': 9}
    assert asked == [('reports.build', (1,), {'urgent': True}, {'countdown': 3}, 'T')]
    assert routed(routes, 'reports.build') == {'queue': 'reports'}   # the function said nothing
    assert routed(routes, 'other') == {'queue': 'late'}


@pytest.mark.parametrize('answer', [None, {}, ''])
def test_a_router_with_no_answer_passes_the_call_on(answer):
    assert routed((lambda *a, **k: answer, {'*': 'fallback'}), 'x') == {'queue': 'fallback'}


def test_only_queue_and_priority_of_a_route_apply():
    route = {'queue': 'q', 'priority': 2, 'exchange': 'ex', 'routing_key': 'rk', 'delivery_mode': 1}
    assert routed({'t': route}, 't') == {'queue': 'q', 'priority': 2}
    assert routed({'t': {'exchange': 'ex'}}, 't') == {}
    assert routed({'t': {'queue': None, 'priority': 0}}, 't') == {'priority': 0}


def test_a_route_found_is_a_copy_the_caller_may_change():
    router = Router()
    router.configure({'t': {'queue': 'q'}})
    router.route('t', (), {}, {})['queue'] = 'changed'
    assert router.route('t', (), {}, {}) == {'queue': 'q'}


def test_no_routes_route_nothing_and_none_clears_them():
    router = Router()
    assert router.route('t', (), {}, {}) == {}
    router.configure({'t': 'q'})
    router.configure(None)
    assert router.route('t', (), {}, {}) == {} and router.routes is None


def test_the_routes_as_given_are_kept_for_app_conf_to_show():
    routes = {'t': 'q'}
    router = Router()
    router.configure(routes)
    assert router.routes is routes


@pytest.mark.parametrize('routes, says', [
    ('myapp.routers.route_task', "'myapp.routers.route_task' is a string; localq does not import routers by name: pass the function itself"),
    (42, 'a router is a dict, a list of \\(pattern, route\\) or a function, got 42'),
    ({'t': 5}, "the route of 't' must be a dict such as"),
    ({'t': ['q']}, "the route of 't' must be a dict such as"),
    ({5: 'q'}, 'a key is a task name, a glob or a compiled regex, got 5'),
    ({'t': {'queue': 'not a queue!'}}, "the route of 't': queue must be 1-100 letters"),
    ({'t*': 'no spaces allowed'}, "the route of 't\\*': queue must be"),
    ({'t': {'priority': 5000}}, "the route of 't': priority must be a whole number"),
    ({'t': {'priority': 'high'}}, "the route of 't': priority must be a whole number"),
    ([[('t', {'queue': 'a b'})]], "the route of 't': queue must be"),
])
def test_routes_localq_cannot_use_are_refused_when_set(routes, says):
    with pytest.raises(ConfigError, match='^task_routes: ' + says):
        Router().configure(routes)


def test_refused_routes_leave_the_previous_ones_in_place():
    router = Router()
    router.configure({'t': 'q'})
    with pytest.raises(ConfigError):
        router.configure({'t': 'not a queue!'})
    assert router.route('t', (), {}, {}) == {'queue': 'q'}


def test_a_router_functions_bad_answer_is_refused_when_a_call_is_routed():
    router = Router()
    router.configure(lambda name, *a, **k: {'queue': 'has space'} if name == 'bad' else None)
    assert router.route('fine', (), {}, {}) == {}
    with pytest.raises(ConfigError, match="task_routes: the route of 'bad': queue must be"):
        router.route('bad', (), {}, {})
