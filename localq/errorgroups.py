"""Failures in groups: one bug is one group, however many jobs it failed.

A failure's group is its exception type, its message with the parts that vary from job to job
replaced (ids, numbers, paths, quoted values), and the innermost frame of the user's own code
(not localq's, Huey's, the standard library's or an installed package's), by file and function,
without the line number, so an edit above it does not split the group. outcome.failure() names
the group of every final failure, lifecycle.record() stores it on the job row (`error_group`),
and monitor/errors.py reads the groups from there: no pass over tracebacks at read time.
"""
import hashlib
import os
import re
import sysconfig

# The parts of a message that differ from one job to the next, replaced in this order.
VARYING = (
    (re.compile(r'\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b', re.I), '<id>'),
    (re.compile(r'\b0x[0-9a-f]+\b', re.I), '<hex>'),
    (re.compile(r'\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b', re.I), '<id>'),
    (re.compile(r'(?<![\w.])(?:[A-Za-z]:)?(?:[\\/][\w.@%+~-]+){2,}[\\/]?'), '<path>'),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\""), "'<str>'"),
    (re.compile(r'(?<![\w<.])[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w>])', re.I), '<n>'),
)
FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line \d+, in (?P<func>.+)$', re.M)
NOT_THE_USERS = tuple(os.path.normpath(p) + os.sep for p in {
    sysconfig.get_paths()['stdlib'], sysconfig.get_paths()['purelib'], sysconfig.get_paths()['platlib'],
    os.path.dirname(os.path.abspath(__file__)),   # localq itself
})


def normalise(message):
    """The message with what varies between jobs replaced: 'no row 42 in /tmp/a.db' -> 'no row <n> in <path>'."""
    text = (message or '').strip()
    for pattern, placeholder in VARYING:
        text = pattern.sub(placeholder, text)
    return text[:300]


def is_users(path):
    path = os.path.normpath(path)
    return not (path.startswith('<') or path.startswith(NOT_THE_USERS)
                or '%ssite-packages%s' % (os.sep, os.sep) in path or '%sdist-packages%s' % (os.sep, os.sep) in path)


def user_frame(traceback_text):
    """'path:function' of the innermost frame of the user's own code in a traceback (the innermost
    frame at all if none is the user's); '' without a traceback."""
    frames = [(m.group('path'), m.group('func').strip()) for m in FRAME.finditer(traceback_text or '')]
    users = [f for f in frames if is_users(f[0])] or frames
    return '%s:%s' % users[-1] if users else ''


def group_of(error_type, message, traceback_text):
    """The group key of a failure (16 hex digits): type, normalised message, user's frame."""
    facts = '\n'.join((error_type or '', normalise(message), user_frame(traceback_text)))
    return hashlib.sha1(facts.encode('utf-8', 'replace')).hexdigest()[:16]
