"""Hide values whose names look secret before a page or the API shows them.

The job row keeps the real values (the worker needs them); only what people
see is masked: dict keys anywhere in args, kwargs, progress meta and results,
and positional arguments bound to a parameter with a secret-looking name
(`charge(card_token, amount)` called as `charge.delay('tok_123', 5)`).
"""
import inspect
import re

MASK = '••••••'
# A name is read as words (snake_case, kebab-case, camelCase), so that `author` is not `auth` and
# `bypass` is not `pass`, while `db_pass`, `apiKey` and `x-api-key` are what they look like.
SECRET_WORDS = {'pass', 'pwd', 'password', 'passwd', 'passphrase', 'secret', 'secrets', 'token', 'tokens', 'apikey',
                'auth', 'authorization', 'credential', 'credentials', 'cookie', 'cookies', 'sessionid'}
SECRET_ENDINGS = ('password', 'passwd', 'passphrase', 'secret', 'token', 'apikey')   # dbpassword, authtoken
SECRET_PAIRS = {('api', 'key'), ('private', 'key'), ('access', 'key'), ('session', 'id')}
SECRET_WHOLE = {'pin', 'cvv', 'ssn'}   # only as the whole name: `pinned`, `ssn_last_digits_count_ok` are not


def _words(name):
    return [w for w in re.split(r'[^a-z0-9]+', re.sub(r'([a-z0-9])([A-Z])', r'\1_\2', name).lower()) if w]


def looks_secret(name):
    if not isinstance(name, str):
        return False
    words = _words(name)
    return (name.lower() in SECRET_WHOLE or any(w in SECRET_WORDS or w.endswith(SECRET_ENDINGS) for w in words)
            or any(pair in SECRET_PAIRS for pair in zip(words, words[1:])))


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
