"""Page links of the job lists (monitor/listing.py) on their own: a cursor is the sort key of a
page's last row; whatever a person or a script puts in the URL, it is either that or a clear 400."""
import base64
import json

import pytest

from localq import states
from localq.monitor.listing import MAX_CURSOR, ORDERS, BadFilter, decode_cursor, encode_cursor


@pytest.mark.parametrize('tab', list(ORDERS))
def test_a_cursor_round_trips_for_every_tabs_sort_key(tab):
    order = ORDERS[tab]
    key = [1733390000.25 if not field.name == 'id' else 'f0e1d2c3-0000' for field, _ in order]
    if order[0][0].name == 'priority':
        key[0] = 5
    assert decode_cursor(encode_cursor(key), order) == key


def raw(value):
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip('=')


@pytest.mark.parametrize('text, says', [
    ('not base64 at all!', 'damaged'),
    (raw({'a': 1}), 'does not fit'),
    (raw([1.0]), 'does not fit'),                         # one value for a two-column key
    (raw(['newest', 'id']), 'damaged'),                   # text where a time belongs
    (base64.urlsafe_b64encode(b'[1e400, "id"]').decode(), 'damaged'),   # JSON's 1e400 reads as infinity
    (raw([True, 'id']), 'damaged'),                       # a boolean is no time
    (raw([1.0, 'x' * 201]), 'damaged'),                   # an id no job has
    ('A' * (MAX_CURSOR + 1), 'damaged'),
])
def test_a_damaged_or_foreign_cursor_is_a_clear_error_not_sql(text, says):
    with pytest.raises(BadFilter, match=says):
        decode_cursor(text, ORDERS[states.SUCCESS])


def test_a_cursor_of_one_tab_does_not_fit_another():
    pending = encode_cursor([0, 1733390000.0, 'f0e1'])   # priority, eta, id
    with pytest.raises(BadFilter):
        decode_cursor(pending, ORDERS[states.SUCCESS])
