"""Hostile and malformed requests against a real `python run.py`: every one answered with a 4xx
and a reason, never a 5xx; nothing written outside the data folder's own places; the server
still answering afterwards, a stalled client cut off while others are served."""
import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ROOT, TEST_DATABASE_URL, free_port, sqlite_only

# One server for the whole module (82 requests): on PostgreSQL the per-test empty database
# would be dropped under it. What is tested here is HTTP handling, the same on either.
pytestmark = sqlite_only

LIMITS = {'LOCALQ_MAX_UPLOAD_MB': '1', 'LOCALQ_MAX_MESSAGE_MB': '1', 'LOCALQ_REQUEST_TIMEOUT': '2'}


@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """run.py on a free port, a fresh data folder and small limits; yields (port, data folder, root)."""
    root = tmp_path_factory.mktemp('hostile')
    data = root / 'data'
    port = free_port()
    env = dict(os.environ, PYTHONPATH=ROOT, LOCALQ_DATABASE_URL=TEST_DATABASE_URL, **LIMITS)
    proc = subprocess.Popen([sys.executable, 'run.py', '--port', str(port), '--data-dir', str(data)], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    line = proc.stdout.readline()
    assert 'http://127.0.0.1:%d/' % port in line, line
    yield port, data, root
    os.killpg(proc.pid, signal.SIGINT)
    out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, out
    assert 'Exception on' not in out and 'Traceback' not in out, out


def request(port, method, path, body=None, headers=None, host=None):
    """One HTTP request; (status, parsed JSON or text)."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=20)
    headers = dict(headers or {})
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    if host is not False:
        conn.putheader('Host', host or '127.0.0.1:%d' % port)
    if isinstance(body, str):
        body = body.encode()
    if body is not None and 'Content-Length' not in headers:
        headers['Content-Length'] = str(len(body))
    for k, v in headers.items():
        conn.putheader(k, v)
    conn.endheaders(body)
    response = conn.getresponse()
    raw = response.read()
    conn.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors='replace')


def multipart(name, data, field='file'):
    boundary = 'HOSTILEBOUNDARY'
    body = ('--%s\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n'
            'Content-Type: application/octet-stream\r\n\r\n' % (boundary, field, name)).encode() + data + \
        ('\r\n--%s--\r\n' % boundary).encode()
    return body, {'Content-Type': 'multipart/form-data; boundary=' + boundary}


def cursor(value):
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip('=')


def apply(body):
    return ('POST', '/api/task/async-apply/localq.add', json.dumps(body) if not isinstance(body, str) else body,
            {'Content-Type': 'application/json'})


def upload(name, data):
    body, headers = multipart(name, data)
    return ('POST', '/upload', body, headers)


# (case, (method, path, body, headers), expected status, reason in the answer). Each is answered
# with that 4xx and a reason saying what was wrong.
CASES = [
    # uploads: names, types, contents, sizes
    ('traversal name', upload('../../etc/passwd.txt', b'root'), 400, 'path'),
    ('backslash traversal', upload('..\\..\\boot.ini.txt', b'x'), 400, 'path'),
    ('NUL in the name', upload('a\x00b.txt', b'text'), 400, 'characters'),
    ('right-to-left override', upload('invoice\u202efdp.txt', b'text'), 400, 'invisible'),
    ('zero-width space', upload('in\u200bvoice.txt', b'text'), 400, 'invisible'),
    ('full-width ../ after NFKC', upload('\uff0e\uff0e\uff0fsecret.txt', b'text'), 400, 'path'),
    ('only dots', upload('...', b'text'), 400, 'path'),
    ('name of 300 characters', upload('a' * 296 + '.txt', b'text'), 400, 'longer than 200'),
    ('executable', upload('virus.exe', b'MZ\x90\x00'), 400, 'unsupported file type'),
    ('no extension', upload('README', b'text'), 400, 'unsupported file type'),
    ('a text claiming to be a PDF', upload('fake.pdf', b'just text'), 400, 'not a PDF'),
    ('a text claiming to be a .docx', upload('fake.docx', b'just text'), 400, 'not a Word document'),
    ('binary in a .txt', upload('bin.txt', b'\x00\x01\x02abc'), 400, 'binary data'),
    ('a PDF named .md', upload('doc.md', b'%PDF-1.7 ...'), 400, 'binary data'),
    ('empty file', upload('empty.txt', b''), 400, 'empty'),
    ('over the upload limit', upload('big.txt', b'a' * (1024 * 1024 + 1)), 413, 'larger than the limit'),
    ('no file field', ('POST', '/upload') + multipart('a.txt', b'x', field='other'), 400, 'no file'),
    ('not multipart', ('POST', '/upload', 'file=a.txt', {'Content-Type': 'application/x-www-form-urlencoded'}),
     400, 'no file'),
    ('a declared 2 GB body', ('POST', '/upload', b'', {'Content-Type': 'multipart/form-data; boundary=x',
                                                      'Content-Length': str(2 << 30)}), 413, ''),
    # the JSON API: options, arguments, bodies
    ('queue as an object', apply({'args': [1, 2], 'queue': {'a': 1}}), 400, 'queue must be'),
    ('queue with a slash', apply({'args': [1, 2], 'queue': '../x'}), 400, 'queue must be'),
    ('idempotency key as a list', apply({'args': [1, 2], 'idempotency_key': ['k']}), 400, 'idempotency_key'),
    ('idempotency key of 300 characters', apply({'args': [1, 2], 'idempotency_key': 'k' * 300}), 400,
     'idempotency_key'),
    ('priority 10**30', apply({'args': [1, 2], 'priority': 10 ** 30}), 400, 'priority must be'),
    ('priority as a string', apply({'args': [1, 2], 'priority': 'high'}), 400, 'priority must be'),
    ('priority true', apply({'args': [1, 2], 'priority': True}), 400, 'priority must be'),
    ('countdown 1e308', apply({'args': [1, 2], 'countdown': 1e308}), 400, 'countdown must be'),
    ('countdown NaN', apply('{"args": [1, 2], "countdown": NaN}'), 400, 'countdown must be'),
    ('countdown Infinity', apply('{"args": [1, 2], "countdown": Infinity}'), 400, 'countdown must be'),
    ('countdown as text', apply({'args': [1, 2], 'countdown': 'soon'}), 400, 'countdown must be'),
    ('expires negative', apply({'args': [1, 2], 'expires': -5}), 400, 'expires must be'),
    ('task_id with a slash', apply({'args': [1, 2], 'task_id': '../../x'}), 400, 'task_id must be'),
    ('task_id of 500 characters', apply({'args': [1, 2], 'task_id': 'x' * 500}), 400, 'task_id must be'),
    ('arguments nested 5,000 deep', apply('{"args": [' + '[' * 5000 + ']' * 5000 + ']}'), 400, 'deep'),
    ('arguments nested 40 deep', apply({'args': [json.loads('[' * 40 + ']' * 40), 1]}), 400, 'deep'),
    ('a message over max_message_mb', apply({'args': ['x' * (1100 * 1024), 1]}), 413, 'bytes'),
    ('args as a string', apply({'args': 'one, two'}), 400, '"args" must be a JSON list'),
    ('kwargs as a list', apply({'kwargs': [1, 2]}), 400, '"kwargs" must be a JSON object'),
    ('a misspelled field', apply({'arg': [1, 2]}), 400, "unknown field(s) 'arg'"),
    ('a call that does not fit', apply({'args': [1, 2, 3]}), 400, 'localq.add'),
    ('a missing argument', apply({'args': [1]}), 400, "missing a required argument: 'y'"),
    ('not JSON', apply('hello'), 400, 'not JSON'),
    ('a JSON list', apply('[1, 2]'), 400, 'JSON object'),
    ('unknown task', ('POST', '/api/task/async-apply/no.such.task', '{}', {}), 404, "no task named 'no.such.task'"),
    ('apply with timeout=abc', ('POST', '/api/task/apply/localq.add?timeout=abc', '{"args": [1, 2]}', {}), 400,
     'timeout must be'),
    # filters and page cursors
    ('cursor of two objects', ('GET', '/api/tasks?cursor=' + cursor('[{"a":1},{"b":2}]')), 400, 'damaged'),
    ('cursor of 3,000 [', ('GET', '/api/tasks?cursor=' + cursor('[' * 3000)), 400, 'damaged'),
    ('cursor of the wrong types', ('GET', '/api/tasks?cursor=' + cursor('[1, 2]')), 400, 'damaged'),
    ('cursor not base64', ('GET', '/api/tasks?cursor=%%%%'), 400, 'damaged'),
    ('cursor of the wrong length', ('GET', '/api/tasks?cursor=' + cursor('[1, 2, 3]')), 400, 'does not fit'),
    ('a damaged cursor on the page', ('GET', '/jobs?cursor=' + cursor('[{"a":1},{"b":2}]')), 400, 'damaged'),
    ('unknown state', ('GET', '/api/tasks?state=DONE'), 400, "unknown state 'DONE'"),
    ('unknown parameter', ('GET', '/api/tasks?after=3'), 400, 'unknown parameter(s) after'),
    ('limit as text', ('GET', '/api/tasks?limit=many'), 400, 'limit must be'),
    ('a 300-character text filter', ('GET', '/api/tasks?q=' + 'x' * 300), 400, 'longer than 200'),
    ('search limit of 1000', ('GET', '/api/documents/search?q=refund&limit=1000'), 400, 'limit must be'),
    ('an empty search', ('GET', '/api/documents/search?q=%20'), 400, 'give a query'),
    ('a 600-character search', ('GET', '/api/documents/search?q=' + 'x' * 600), 400, 'longer than 500'),
    # actions on things that do not exist, or may not be done
    ('pause a queue nothing uses', ('POST', '/api/queues/nosuchq/pause', '', {}), 404, "no queue named 'nosuchq'"),
    ('an unknown queue action', ('POST', '/api/queues/default/drop', '', {}), 404, 'use pause, resume or empty'),
    ('discard without a filter', ('POST', '/api/tasks/discard', '', {}), 400, 'give a filter'),
    ('an unknown bulk action', ('POST', '/api/tasks/explode', '', {}), 404, 'unknown bulk action'),
    ('revoke an unknown job', ('POST', '/api/task/revoke/nope', '', {}), 404, "no job with id 'nope'"),
    ('a job id of 10,000 characters', ('GET', '/api/task/info/' + 'a' * 10000), 404, 'no job with id'),
    ('an unknown document', ('GET', '/api/documents/999999'), 404, 'no document with id 999999'),
    ('an unknown document file', ('GET', '/documents/999999/file'), 404, 'no document'),
    ('an unknown lab scenario', ('GET', '/api/lab/nope'), 404, "no lab scenario 'nope'"),
    ('static files outside their folder', ('GET', '/localq-static/../../run.py'), 404, ''),
    ('encoded traversal of static files', ('GET', '/localq-static/%2e%2e/%2e%2e/pyproject.toml'), 404, ''),
    ('TRACE', ('TRACE', '/'), 405, ''),
    # browsers from other sites, and foreign Host names (DNS rebinding)
    ('cross-site form without a token', ('POST', '/queues/default/pause', '', {
        'Origin': 'http://evil.example', 'Content-Type': 'application/x-www-form-urlencoded'}), 400, 'CSRF'),
    ('cross-site fetch with a cookie', ('POST', '/api/task/revoke/x', '', {
        'Cookie': 'session=stolen', 'Referer': 'http://evil.example/page'}), 400, 'CSRF'),
    ('a token from another session', ('POST', '/api/tasks/retry', '', {
        'Origin': 'http://127.0.0.1', 'X-CSRF-Token': 'forged'}), 400, 'CSRF'),
]
HOST_CASES = [
    ('a rebinding site asks for the dashboard', '/', 'evil.example'),
    ('... and for the API', '/api/overview', 'evil.example:8000'),
    ('... and for the CSRF token', '/upload', 'attacker.example'),
    ('a numeric host that is not this one', '/api/workers', '10.0.0.7'),
]


@pytest.mark.parametrize('case, call, status, reason', CASES, ids=[c[0] for c in CASES])
def test_a_hostile_request_gets_a_4xx_with_a_reason(site, case, call, status, reason):
    port = site[0]
    method, path, body, headers = (call + (None, None))[:4]
    got, answer = request(port, method, path, body, headers)
    assert got == status, (got, answer)
    text = answer if isinstance(answer, str) else answer.get('error', '')
    if not isinstance(answer, str):
        assert answer['ok'] is False and answer['status'] == status
    assert reason in text, text


@pytest.mark.parametrize('case, path, host', HOST_CASES, ids=[c[0] for c in HOST_CASES])
def test_a_foreign_host_name_is_refused(site, case, path, host):
    got, answer = request(site[0], 'GET', path, headers={'Accept': 'application/json'}, host=host)
    assert got == 400 and 'does not answer to host' in answer['error']
    assert 'csrf' not in json.dumps(answer).lower()


def test_a_request_without_a_host_is_refused_and_loopback_names_are_served(site):
    port = site[0]
    assert request(port, 'GET', '/healthcheck', host=False)[0] == 400
    for host in ('localhost:%d' % port, '127.0.0.1:%d' % port, '[::1]:%d' % port):
        assert request(port, 'GET', '/healthcheck', host=host)[0] == 200, host


def test_names_and_arguments_are_shown_escaped(site):
    port = site[0]
    got, body = request(port, *apply({'args': ['<script>alert(1)</script>', '<img src=x onerror=alert(2)>']})[:3],
                        headers={'Content-Type': 'application/json'})
    assert got == 202
    page = request(port, 'GET', '/jobs/' + body['task-id'])[1]
    assert '<script>alert(1)' not in page and '&lt;script&gt;alert(1)' in page and '<img src=x' not in page


def test_an_oversized_header_is_refused(site):
    status, _ = request(site[0], 'GET', '/', headers={'X-Big': 'a' * (1024 * 1024)})
    assert 400 <= status < 500


def test_a_stalled_body_is_cut_off_while_other_requests_are_served(site):
    port = site[0]
    # Given a client that promises 1,000 bytes, sends 10, and stops
    slow = socket.create_connection(('127.0.0.1', port))
    slow.sendall(b'POST /api/task/async-apply/localq.add HTTP/1.1\r\nHost: 127.0.0.1\r\n'
                 b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"args": [')
    started = time.monotonic()
    # Then others are served meanwhile
    for _ in range(5):
        assert request(port, 'GET', '/healthcheck')[0] == 200
    # and the stalled connection is closed after the request timeout (2 s here), unanswered
    slow.settimeout(20)
    assert slow.recv(1024) == b''
    assert 1.5 <= time.monotonic() - started < 15
    slow.close()


def test_after_all_this_the_server_answers_and_wrote_only_its_own_files(site):
    port, data, root = site
    assert request(port, 'GET', '/healthcheck')[1]['ok'] is True
    assert request(port, 'POST', '/api/task/apply/localq.add', '{"args": [2, 3]}')[1]['result'] == 5
    written = sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)
    allowed = re.compile(r'^data/(localq\.db(-wal|-shm|-writers)?|uploads/(\.incoming/)?[0-9a-f]{32}\.\w+)$')
    assert [w for w in written if not allowed.match(w)] == []
