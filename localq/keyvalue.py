"""Huey's key/value and counter interface on two small tables (kv, counter), for JobStorage.

Huey keeps its task locks (huey.lock_task) and counters here. Results are not stored
here: localq runs Huey with results=False and keeps them on the Job row (tracking.py).
A mixin of JobStorage: it needs its `sql()` and `name` (which scopes every key).

Keys are text. Huey's own code uses str keys, but its storage contract (and its test suite)
also passes bytes (b'k1'): those are decoded as UTF-8, so both spellings name one row and,
on PostgreSQL, a bytes key is not bound as bytea against the varchar column
("operator does not exist: character varying = bytea").
"""
from huey.constants import EmptyData


def text_key(key):
    """A key as the text stored in the kv and counter tables."""
    return key.decode('utf-8') if isinstance(key, (bytes, bytearray, memoryview)) else key


class KeyValueStore:
    def put_data(self, key, value, is_result=False):
        self.sql('INSERT INTO kv (queue, key, value) VALUES (?, ?, ?) '
                 'ON CONFLICT (queue, key) DO UPDATE SET value = excluded.value',
                 (self.name, text_key(key), bytes(value)))

    def peek_data(self, key):
        row = self.sql('SELECT value FROM kv WHERE queue = ? AND key = ?', (self.name, text_key(key))).fetchone()
        return bytes(row[0]) if row else EmptyData

    def pop_data(self, key):
        # Read first: Huey pops keys that are almost never there, and a read
        # takes no write lock.
        value = self.peek_data(key)
        if value is EmptyData:
            return EmptyData
        cursor = self.sql('DELETE FROM kv WHERE queue = ? AND key = ?', (self.name, text_key(key)))
        return value if cursor.rowcount == 1 else EmptyData

    def has_data_for_key(self, key):
        return self.peek_data(key) is not EmptyData

    def put_if_empty(self, key, value, ttl=None):
        if ttl is not None:
            raise NotImplementedError('ttl is not supported by this storage.')
        cursor = self.sql('INSERT INTO kv (queue, key, value) VALUES (?, ?, ?) '
                          'ON CONFLICT (queue, key) DO NOTHING', (self.name, text_key(key), bytes(value)))
        return cursor.rowcount == 1

    def result_store_size(self):
        return self.sql('SELECT COUNT(*) FROM kv WHERE queue = ?', (self.name,)).fetchone()[0]

    def result_items(self):
        return {k: bytes(v) for k, v in self.sql('SELECT key, value FROM kv WHERE queue = ?', (self.name,))}

    def flush_results(self):
        self.sql('DELETE FROM kv WHERE queue = ?', (self.name,))

    def incr(self, key, amount=1):
        return self.sql('INSERT INTO counter (queue, key, value) VALUES (?, ?, ?) '
                        'ON CONFLICT (queue, key) DO UPDATE SET value = counter.value + excluded.value '
                        'RETURNING value', (self.name, text_key(key), amount)).fetchone()[0]

    def delete_counter(self, key):
        self.sql('DELETE FROM counter WHERE queue = ? AND key = ?', (self.name, text_key(key)))

    def flush_counters(self):
        self.sql('DELETE FROM counter WHERE queue = ?', (self.name,))

