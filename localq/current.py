"""The current app: the LocalQ created or configured last, as Celery's `current_app`.

Module-level `AsyncResult(task_id)`, `signature('name')` and `@shared_task` find
their app here, so they need no import of the app module (no import circle).
"""
_current = None
_apps = []            # every LocalQ created in this process, for @shared_task
_shared = []          # (func, options) of every @shared_task, declared on each app


def current_app():
    """The LocalQ created or configured last."""
    if _current is None:
        raise RuntimeError('create a LocalQ app first (app = LocalQ("myapp")), then AsyncResult(task_id) '
                           'and signatures find it')
    return _current


def set_current_app(app):
    global _current
    _current = app


def add_app(app):
    """A new app: it becomes current and gets every shared task declared so far."""
    _apps.append(app)
    set_current_app(app)
    for func, options in _shared:
        app.declare_shared(func, options)


def add_shared_task(func, options):
    """A @shared_task: declared on every app, now and later."""
    _shared.append((func, options))
    for app in _apps:
        app.declare_shared(func, options)
