"""JSON for Huey's task messages and stored values, instead of Huey's default pickle.

JSON cannot run code when read, and a producer learns at once (in its own
call) that an argument cannot travel: TaskArgumentError names it.
"""
import datetime
import json

from huey.registry import Message
from huey.serializer import Serializer

from .errors import TaskArgumentError

_DATETIME_FIELDS = ('eta', 'expires', 'expires_resolved')


def _dt_out(value):
    if isinstance(value, datetime.datetime):
        return {'$dt': value.isoformat()}
    return value


def _dt_in(value):
    if isinstance(value, dict) and '$dt' in value:
        return datetime.datetime.fromisoformat(value['$dt'])
    return value


def message_to_dict(message):
    d = message._asdict()
    for field in _DATETIME_FIELDS:
        d[field] = _dt_out(d[field])
    for field in ('on_complete', 'on_error'):
        if d[field] is not None:
            d[field] = message_to_dict(d[field])
    if d['chord_config'] is not None:
        cid, size, idx, callback = d['chord_config']
        d['chord_config'] = [cid, size, idx, message_to_dict(callback)]
    return d


def dict_to_message(d):
    d = dict(d)
    for field in _DATETIME_FIELDS:
        d[field] = _dt_in(d.get(field))
    for field in ('on_complete', 'on_error'):
        if d.get(field) is not None:
            d[field] = dict_to_message(d[field])
    if d.get('chord_config') is not None:
        cid, size, idx, callback = d['chord_config']
        d['chord_config'] = (cid, size, idx, dict_to_message(callback))
    d['args'] = tuple(d.get('args') or ())
    return Message(**{k: d.get(k) for k in Message._fields})


MAX_DEPTH = 32   # nesting of task arguments and results (deeper is almost surely a mistake, or an attack)


def check_depth(value, what, limit=MAX_DEPTH):
    """TaskArgumentError if lists and dicts nest deeper than `limit` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, tuple, dict)):
            if depth > limit:
                raise TaskArgumentError('%s nests lists or dicts more than %d deep' % (what, limit))
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))


def dumps_json(value, what):
    """json.dumps that names what failed, for errors users read."""
    try:
        return json.dumps(value, separators=(',', ':'), allow_nan=False)
    except RecursionError:
        raise TaskArgumentError('%s nests too deep to send' % what) from None
    except (TypeError, ValueError) as exc:
        raise TaskArgumentError('%s is not JSON-serialisable (%s); pass plain data '
                                '(str, int, float, bool, None, list, dict) or a path/id '
                                'instead' % (what, exc)) from None


class JSONSerializer(Serializer):
    """Huey serializer: messages as {"m": {...}}, other values as {"v": ...}.

    A workflow member's message also carries {"w": {...}} (canvas.py): its root, parent and
    group, whether jobs wait for it, its errbacks. Huey's Message has no field for these."""

    def dump_message(self, message, workflow=None):
        what = 'an argument of task %s' % message.name
        body = {'m': message_to_dict(message)}
        if workflow:
            body['w'] = workflow
        return dumps_json(body, what).encode('utf-8')

    def load_message(self, data):
        """(Message, workflow dict or None) from a stored message."""
        d = json.loads(bytes(data) if isinstance(data, memoryview) else data)
        return dict_to_message(d['m']), d.get('w')

    def _serialize(self, data):
        if isinstance(data, Message):
            what = 'an argument of task %s' % data.name
            return dumps_json({'m': message_to_dict(data)}, what).encode('utf-8')
        return dumps_json({'v': data}, 'a stored value').encode('utf-8')

    def _deserialize(self, data):
        if isinstance(data, memoryview):
            data = bytes(data)
        d = json.loads(data)
        if 'm' in d:
            return dict_to_message(d['m'])
        return d['v']
