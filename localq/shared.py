"""@shared_task: a task for reusable code that does not know the app it will run on (Celery's).

It is declared on every LocalQ app of the process, those made before and after it, and
the name it returns resolves to the current app's task when used.
"""
from . import current
from .options import resolve_options


class SharedTask:
    """Stands for the task of this name on the current app (delay, s, apply_async, a direct call...)."""

    def __init__(self, name, func):
        self.name, self.__wrapped__ = name, func
        self.__doc__, self.__name__ = func.__doc__, func.__name__

    def _task(self):
        return current.current_app().tasks[self.name]

    def __getattr__(self, attr):
        return getattr(self._task(), attr)

    def __call__(self, *args, **kwargs):
        return self._task()(*args, **kwargs)

    def __repr__(self):
        return '<@shared_task %s>' % self.name


def shared_task(*args, **options):
    """@shared_task or @shared_task(name=..., bind=True, ...), with @app.task's options."""
    def declare(func):
        name = resolve_options(func, options).name   # bad options fail here, at decoration
        current.add_shared_task(func, options)
        return SharedTask(name, func)
    if len(args) == 1 and callable(args[0]) and not options:
        return declare(args[0])
    if args:
        raise TypeError('@shared_task takes keyword options only')
    return declare
