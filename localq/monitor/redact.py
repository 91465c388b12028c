"""Hide values whose names look secret before a page or the API shows them.

The job row keeps the real values (the worker needs them); only what people
see is masked: dict keys anywhere in args, kwargs, progress meta and results,
and positional arguments bound to a parameter with a secret-looking name
(`charge(card_token, amount)` called as `charge.delay('tok_123', 5)`).
"""
import inspect
import re

MASK = '••••••'
SECRET_NAME = re.compile(
    r'pass(word|wd|phrase)?$|secret|token|api[_-]?key|apikey|private[_-]?key|access[_-]?key|'
    r'credential|auth|session[_-]?id|cookie|^pin$|^cvv$|^ssn$', re.IGNORECASE)


def looks_secret(name):
    return isinstance(name, str) and bool(SECRET_NAME.search(name))


def mask_value(value):
    """A copy of value with every secret-looking dict key's value masked (any depth)."""
    if isinstance(value, dict):
        return {k: MASK if looks_secret(k) and v is not None else mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value]
    return value


def mask_arguments(func, args, kwargs, bound=False):
    """(args, kwargs) as shown to people: secret keyword and positional arguments masked.

    func is the task's function (None if unknown); bound: its first parameter is self."""
    args = list(args or [])
    names = []
    if func is not None:
        try:
            params = inspect.signature(func).parameters.values()
            names = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            names = []
        if bound:
            names = names[1:]
    shown = [MASK if i < len(names) and looks_secret(names[i]) else mask_value(a) for i, a in enumerate(args)]
    return shown, mask_value(kwargs or {})
