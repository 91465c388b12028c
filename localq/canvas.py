"""Celery's canvas on localq: signatures, chain, group, chord, apply_async(link=, link_error=).

    chain(extract.s(path), chunk.s(), embed.s(), store.s(user_id)).apply_async().get()
    group(fetch.s(url) for url in urls).apply_async().get()        # [result, result, ...]
    chord([fetch.s(u) for u in urls], merge.s()).apply_async()      # merge([result, ...])

apply_async() hands the canvas to plan.py, which writes one Job row per member in one
transaction; workflow.py moves them as parents finish. Under app.immediate (and with
.apply()) the canvas runs here and now instead.
"""
import uuid

from . import current
from .errors import CanvasError
from .plan import CHAIN, CHORD, GROUP, apply_workflow

CALLBACK_OPTIONS = ('link', 'link_error')


class Signature(dict):
    """A task call to make later (Celery's signature): task name, args, kwargs, options.

    A dict, so it can travel as a task argument and be rebuilt there with signature(d)."""

    def __init__(self, task=None, args=None, kwargs=None, options=None, immutable=False, subtask_type=None,
                 app=None):
        name = task if isinstance(task, str) or task is None else task.name
        super().__init__(task=name, args=list(args or ()), kwargs=dict(kwargs or {}),
                         options=_with_signatures(options), immutable=bool(immutable), subtask_type=subtask_type)
        self._app = app if app is not None else getattr(task, 'app', None)

    name = task = property(lambda self: self['task'])
    args = property(lambda self: tuple(self['args']))
    kwargs = property(lambda self: self['kwargs'])
    options = property(lambda self: self['options'])
    immutable = property(lambda self: self['immutable'])
    subtask_type = property(lambda self: self['subtask_type'])
    id = property(lambda self: self['options'].get('task_id'))

    @property
    def app(self):
        return self._app if self._app is not None else current.current_app()

    def __invert__(self):
        """Celery's ~sig: queue it and wait for its value."""
        return self.apply_async().get()

    @property
    def type(self):
        """The Task this signature calls, if this process declared it (else None: sent by name)."""
        return self.app.tasks.get(self.name)

    def __repr__(self):
        parts = [repr(a) for a in self.args] + ['%s=%r' % kv for kv in self.kwargs.items()]
        return '%s(%s)%s' % (self.name, ', '.join(parts), '!' if self.immutable else '')

    # -- building --------------------------------------------------------------
    def clone(self, args=(), kwargs=None, **options):
        """A copy with partial arguments: new args go first, kwargs and options merge (an
        immutable signature, made with .si(), keeps its own arguments)."""
        if self.immutable:
            args, kwargs = self.args, dict(self.kwargs)
        else:
            args, kwargs = tuple(args) + self.args, dict(self.kwargs, **(kwargs or {}))
        return Signature(self.name, args, kwargs, dict(self.options, **options), self.immutable, app=self._app)

    def set(self, immutable=None, **options):
        """Set call options (queue, countdown, priority, ...); returns the signature."""
        if immutable is not None:
            self['immutable'] = bool(immutable)
        self['options'].update(_with_signatures(options))
        return self

    def set_immutable(self, immutable):
        self['immutable'] = bool(immutable)

    def link(self, callback):
        """Run callback with this call's result once it succeeds; returns callback."""
        self['options'].setdefault('link', []).append(signature(callback))
        return callback

    def link_error(self, errback):
        """Run errback with the failed job's id (or request, exc, traceback) if this call fails."""
        self['options'].setdefault('link_error', []).append(signature(errback))
        return errback

    def on_error(self, errback):
        self.link_error(errback)
        return self

    def freeze(self, _id=None):
        """Fix this call's job id now; returns its AsyncResult."""
        self['options'].setdefault('task_id', _id or str(uuid.uuid4()))
        return self.app.AsyncResult(self.id)

    def __or__(self, other):
        return chain(self, other)

    # -- calling ------------------------------------------------------------------
    def apply_async(self, args=(), kwargs=None, **options):
        """Queue it (and whatever is linked to it); returns the AsyncResult of its last step."""
        sig = self.clone(args, kwargs, **options)
        if sig.app.huey.immediate:
            return apply_eagerly(sig)
        return apply_workflow(sig)

    def delay(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def apply(self, args=(), kwargs=None, **options):
        """Run it here and now, as a worker would (Celery's eager apply); returns an EagerResult."""
        return apply_eagerly(self.clone(args, kwargs, **options))

    def __call__(self, *args, **kwargs):
        """Call the task's function directly, with the partial arguments (as Celery does)."""
        sig = self.clone(args, kwargs)
        task = _local_task(sig)
        return task(*sig.args, **sig.kwargs)


class chain(Signature):
    """Steps run one after another, each given the previous result first: chain(a.s(1), b.s(), c.s()) or a.s(1) | b.s() | c.s()."""

    def __init__(self, *tasks, **options):
        steps = []
        for t in _given(tasks):
            t = signature(t)
            steps.extend(t.tasks if t.subtask_type == CHAIN and not t.options else [t])
        super().__init__('localq.chain', (), {'tasks': steps}, options, subtask_type=CHAIN,
                         app=next((t._app for t in steps if t._app is not None), None))

    tasks = property(lambda self: self['kwargs']['tasks'])

    def clone(self, args=(), kwargs=None, **options):
        steps = list(self.tasks)
        if steps and (args or kwargs):
            steps[0] = steps[0].clone(args, kwargs)   # partial arguments go to the first step
        return chain(*steps, **dict(self.options, **options))

    def __or__(self, other):
        return chain(*self.tasks, other)

    def __call__(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def __repr__(self):
        return ' | '.join(repr(t) for t in self.tasks)


class group(Signature):
    """Members run side by side: group(a.s(1), a.s(2)) or group(a.s(i) for i in range(10)); its result lists theirs in order."""

    def __init__(self, *tasks, **options):
        members = []
        for t in _given(tasks):
            t = signature(t)
            members.extend(t.tasks if t.subtask_type == GROUP and not t.options else [t])
        super().__init__('localq.group', (), {'tasks': members}, options, subtask_type=GROUP,
                         app=next((t._app for t in members if t._app is not None), None))

    tasks = property(lambda self: self['kwargs']['tasks'])

    def clone(self, args=(), kwargs=None, **options):
        members = [t.clone(args, kwargs) for t in self.tasks]   # partial arguments go to every member
        return group(members, **dict(self.options, **options))

    def __or__(self, other):
        return chord(self, other)   # a group followed by a step is a chord, as in Celery

    def __call__(self, *args, **kwargs):
        return self.apply_async(args, kwargs)

    def __repr__(self):
        return 'group(%s)' % ', '.join(repr(t) for t in self.tasks)


class chord(Signature):
    """A group whose results, as a list in order, go to one body: chord(header, body) or chord(header)(body)."""

    def __init__(self, header, body=None, **options):
        header = signature(header) if isinstance(header, dict) else group(header)
        if header.subtask_type != GROUP:
            header = group(header)
        super().__init__('localq.chord', (), {'header': header, 'body': signature(body) if body is not None else None},
                         options, subtask_type=CHORD, app=header._app)

    header = property(lambda self: self['kwargs']['header'])
    body = property(lambda self: self['kwargs']['body'])

    def clone(self, args=(), kwargs=None, **options):
        return chord(self.header.clone(args, kwargs), self.body, **dict(self.options, **options))

    def __call__(self, body=None, **options):
        if body is not None:
            return chord(self.header, body, **self.options).apply_async(**options)
        return self.apply_async(**options)

    def __repr__(self):
        return 'chord(%r, %r)' % (self.header, self.body)


def apply_linked(sig, link=None, link_error=None):
    """Queue sig with callbacks (link=) and errbacks (link_error=): one signature or a list each."""
    for callback in _as_list(link):
        sig.link(callback)
    for errback in _as_list(link_error):
        sig.link_error(errback)
    return sig.apply_async()


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _with_signatures(options):
    """Options with link= and link_error= as lists of signatures, whether given one signature,
    a list, or dicts that travelled as JSON: plan.py relies on it."""
    options = dict(options or {})
    for key in CALLBACK_OPTIONS:
        if key in options:
            options[key] = [signature(s) for s in _as_list(options[key])]
    return options


def signature(varies, *args, **kwargs):
    """Celery's signature(): from a task name (signature('tasks.add', args=(2, 2), countdown=1)),
    from a dict (a signature that travelled as JSON), or a signature (returned as it is)."""
    if isinstance(varies, Signature) and not args and not kwargs:
        return varies
    if isinstance(varies, dict):
        kind, body = varies.get('subtask_type'), varies.get('kwargs') or {}
        if kind == CHAIN:
            return chain(body['tasks'], **varies.get('options') or {})
        if kind == GROUP:
            return group(body['tasks'], **varies.get('options') or {})
        if kind == CHORD:
            return chord(body['header'], body.get('body'), **varies.get('options') or {})
        if 'task' not in varies:
            raise CanvasError('not a signature: %r' % (varies,))
        return Signature(varies['task'], varies.get('args'), varies.get('kwargs'), varies.get('options'),
                         varies.get('immutable', False))
    if isinstance(varies, str):
        options = dict(kwargs.pop('options', None) or {})
        return Signature(varies, kwargs.pop('args', args), kwargs.pop('kwargs', None),
                         dict(options, **{k: v for k, v in kwargs.items() if k not in ('immutable', 'app')}),
                         kwargs.get('immutable', False), app=kwargs.get('app'))
    if hasattr(varies, 'signature'):   # a Task
        return varies.signature(*args, **kwargs)
    raise CanvasError('cannot make a signature of %r: give a task, its name, or a signature' % (varies,))


maybe_signature = signature


def _given(tasks):
    """chain(a, b) and chain([a, b]) (or a generator) alike."""
    if len(tasks) == 1 and not isinstance(tasks[0], dict):
        return list(tasks[0])
    return list(tasks)


def _local_task(sig):
    task = sig.type
    if task is None:
        raise CanvasError('task %r is not declared in this process; queue it (apply_async) '
                          'for a worker that has it' % sig.name)
    return task


# -- eager: run a canvas here and now (task.apply(), app.immediate) ----------------------------

def apply_eagerly(sig):
    """Run a canvas in this process, in order, as workers would; returns an EagerResult (or GroupResult)."""
    from .results import GroupResult
    sig = signature(sig)
    kind = sig.subtask_type
    if kind is None:
        result = _local_task(sig).apply(sig.args, sig.kwargs, task_id=sig.id)
    elif kind == CHAIN:
        result = None
        for step in sig.tasks:
            step = signature(step)
            if result is not None:
                if not result.successful():
                    return result
                step = step.clone((result.result,))
            result = apply_eagerly(step)
    elif kind == GROUP:
        return GroupResult(str(uuid.uuid4()), [apply_eagerly(t) for t in sig.tasks], app=sig.app)
    elif kind == CHORD:
        header = apply_eagerly(sig.header)
        failed = [r for r in header.results if not r.successful()]
        if failed:
            return failed[0]
        result = apply_eagerly(signature(sig.body).clone((header.get(),)))
    else:
        raise CanvasError('unknown signature type %r' % kind)
    for callback in sig.options.get('link', ()):
        if result.successful():
            apply_eagerly(signature(callback).clone((result.result,)))
    return result
