"""CSRF protection for every state-changing request, and the token for non-loopback binds."""
import hmac
import secrets

from flask import abort, request, session


def csrf_token():
    """This browser session's token (made on first use); templates put it in forms."""
    if 'localq_csrf' not in session:
        session['localq_csrf'] = secrets.token_urlsafe(32)
    return session['localq_csrf']


def is_script_request():
    # Browsers send Origin (or Referer) and cookies with a cross-site form or
    # fetch POST; curl and scripts send none of them, and cannot be tricked
    # into a request by another site.
    return not (request.headers.get('Origin') or request.headers.get('Referer') or request.headers.get('Cookie'))


def check_csrf():
    """before_request hook: a POST from a browser must carry this session's token."""
    if request.method in ('GET', 'HEAD', 'OPTIONS'):
        return
    if is_script_request():
        return
    sent = request.headers.get('X-CSRF-Token') or request.form.get('csrf_token', '')
    expected = session.get('localq_csrf')
    if not expected or not hmac.compare_digest(sent, expected):
        abort(400, description='missing or invalid CSRF token; reload the page and try again')


def make_token_check(token):
    """before_request hook for a non-loopback bind: every request needs the auth token."""
    def check_token():
        sent = (request.headers.get('Authorization', '').removeprefix('Bearer ').strip()
                or request.args.get('token', '') or session.get('localq_auth', ''))
        if not hmac.compare_digest(sent, token):
            abort(401, description='this server needs its token: ?token=... or Authorization: Bearer ...')
        session['localq_auth'] = token
    return check_token
