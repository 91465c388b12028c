"""How failures are grouped (errorgroups.py): one bug, one group, whatever varies between its jobs."""
import os

import pytest

from localq.errorgroups import group_of, normalise, user_frame

HERE = os.path.abspath(__file__)


def traceback_through(*frames):
    lines = ['Traceback (most recent call last):']
    for path, func in frames:
        lines += ['  File "%s", line 12, in %s' % (path, func), '    something()']
    return '\n'.join(lines + ['LookupError: boom'])


LOCALQ = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(HERE))), 'localq', 'task.py')
USERS = '/home/ada/shop/settings.py'


@pytest.mark.parametrize('message, normalised', [
    ('no setting "timeout" for user 42 in /etc/app/users/42.conf', "no setting '<str>' for user <n> in <path>"),
    ('job 4f2a9c1e-1111-2222-3333-444455556666 at 0xdeadbeef took 3.5 s', 'job <id> at <hex> took <n> s'),
    ('order 9f86d081884c7d65 not found', 'order <id> not found'),
    ("KeyError: 'user_42'", "KeyError: '<str>'"),
    ('step2 of v1.2 failed', 'step2 of v1.2 failed'),      # a name's digits stay
    ('', ''),
])
def test_what_varies_between_jobs_is_set_aside(message, normalised):
    assert normalise(message) == normalised


def test_the_frame_is_the_innermost_of_the_users_own_code():
    text = traceback_through((LOCALQ, '_execute'), ('/home/ada/shop/tasks.py', 'send_digest'),
                             (USERS, 'read_timeout'), ('/usr/lib/python3/dist-packages/yaml/loader.py', 'load'))
    assert user_frame(text) == USERS + ':read_timeout'
    assert user_frame(traceback_through((LOCALQ, '_execute'))) == LOCALQ + ':_execute'   # none of the user's
    assert user_frame(None) == ''


def test_one_bug_in_many_jobs_and_tasks_is_one_group():
    first = group_of('LookupError', 'no setting "timeout" for user 1 in /etc/a/1.conf',
                     traceback_through(('/home/ada/shop/tasks.py', 'send_digest'), (USERS, 'read_timeout')))
    other_job = group_of('LookupError', 'no setting "timeout" for user 977 in /etc/a/977.conf',
                         traceback_through(('/home/ada/shop/tasks.py', 'bill_account'), (USERS, 'read_timeout')))
    assert first == other_job and len(first) == 16


def test_another_type_message_or_place_is_another_group():
    base = ('LookupError', 'no setting for user 1', traceback_through((USERS, 'read_timeout')))
    assert group_of(*base) != group_of('KeyError', *base[1:])
    assert group_of(*base) != group_of(base[0], 'no user 1', base[2])
    assert group_of(*base) != group_of(base[0], base[1], traceback_through((USERS, 'write_timeout')))
