"""Celery's task_routes: which queue a call goes to, by task name, when neither the call
(apply_async(queue=...)) nor the task (@app.task(queue=...)) names one, as Celery orders them.

    app.conf.task_routes = {'feed.tasks.import_feed': {'queue': 'feeds'},   # a name
                            'feed.tasks.*': {'queue': 'feeds'},             # a glob
                            re.compile(r'(video|image)\\.tasks\\..*'): 'media'}  # a regex; a bare queue name
    app.conf.task_routes = ([('feed.tasks.*', {'queue': 'feeds'}), ...],)   # items, matched in order
    app.conf.task_routes = (route_task,)   # route_task(name, args, kwargs, options, task=None, **kw)

A route's 'queue' and 'priority' apply; exchange and routing_key mean nothing here (no broker).
"""
import fnmatch
import re

from .errors import ConfigError, InvalidCallOptions
from .options import check_call_options

APPLIED = ('queue', 'priority')


class MapRoute:
    """Routes out of a dict or (pattern, route) items: exact names first, then patterns in order."""

    def __init__(self, items):
        self.names, self.patterns = {}, []
        for pattern, route in items:
            route = {'queue': route} if isinstance(route, str) else route
            if not isinstance(route, dict):
                raise ConfigError('task_routes: the route of %r must be a dict such as {"queue": "feeds"} or a '
                                  'queue name, got %r' % (pattern, route))
            check_route(route, pattern)
            if isinstance(pattern, re.Pattern):
                self.patterns.append((pattern, route))
            elif isinstance(pattern, str) and '*' in pattern:
                self.patterns.append((re.compile(fnmatch.translate(pattern)), route))
            elif isinstance(pattern, str):
                self.names[pattern] = route
            else:
                raise ConfigError('task_routes: a key is a task name, a glob or a compiled regex, got %r' % (pattern,))

    def __call__(self, name, *args, **kwargs):
        if name in self.names:
            return self.names[name]
        for regex, route in self.patterns:
            if regex.match(name):
                return route
        return None


def check_route(route, where):
    applied = {k: route[k] for k in APPLIED if route.get(k) is not None}
    try:
        check_call_options(applied)
    except InvalidCallOptions as exc:
        raise ConfigError('task_routes: the route of %r: %s' % (where, exc)) from None


class Router:
    """An app's task_routes (app.router): the routers, asked in order; the first answer counts."""

    def __init__(self):
        self.routes = None
        self.routers = []

    def configure(self, routes):
        """Set task_routes: a dict, a router function, or a list/tuple of those (and of items lists)."""
        if routes is None:
            self.routes, self.routers = None, []
            return
        entries = routes if isinstance(routes, (list, tuple)) else [routes]
        routers = []
        for entry in entries:
            if isinstance(entry, dict):
                routers.append(MapRoute(entry.items()))
            elif isinstance(entry, (list, tuple)):
                routers.append(MapRoute(entry))
            elif callable(entry):
                routers.append(entry)
            elif isinstance(entry, str):
                raise ConfigError('task_routes: %r is a string; localq does not import routers by name: pass '
                                  'the function itself' % entry)
            else:
                raise ConfigError('task_routes: a router is a dict, a list of (pattern, route) or a function, '
                                  'got %r' % (entry,))
        self.routes, self.routers = routes, routers

    def route(self, name, args, kwargs, options, task=None):
        """The route options (queue, priority) for a call of `name`, or {}."""
        for router in self.routers:
            if isinstance(router, MapRoute):
                route = router(name)
            else:
                route = router(name, args, kwargs, options, task=task)
            if route:
                route = {'queue': route} if isinstance(route, str) else dict(route)
                check_route(route, name)
                return {k: route[k] for k in APPLIED if route.get(k) is not None}
        return {}
