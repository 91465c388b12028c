"""CSRF protection for every state-changing request, and the token for non-loopback binds."""
import hmac
import secrets

from flask import abort, g, request, session


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


def make_token_check(token, read_only_token=''):
    """before_request hook for a non-loopback bind: every request needs the auth token, or the
    read-only token (which opens the dashboard read-only: is_read_only)."""
    def check_token():
        sent = (request.headers.get('Authorization', '').removeprefix('Bearer ').strip()
                or request.args.get('token', '') or session.get('localq_auth', ''))
        if read_only_token and hmac.compare_digest(sent, read_only_token):
            session['localq_auth'], g.localq_read_only = read_only_token, True
            return
        if not hmac.compare_digest(sent, token):
            abort(401, description='this server needs its token: ?token=... or Authorization: Bearer ...')
        session['localq_auth'] = token
    return check_token


READ_ONLY_METHODS = ('GET', 'HEAD', 'OPTIONS')


def is_read_only(config):
    """Whether this request may only look: the app is read-only, or it came with the read-only token."""
    return bool(config.read_only or g.get('localq_read_only'))


def make_read_only_check(config):
    """before_request hook: a read-only dashboard refuses every change, its plug-ins' included, in
    one place (not per route), before any view could write."""
    def check_read_only():
        if request.method not in READ_ONLY_METHODS and is_read_only(config):
            abort(403, description='this dashboard is read-only: it shows everything and changes nothing')
    return check_read_only


LOOPBACK_NAMES = ('localhost', '127.0.0.1', '::1')


def allowed_hosts(config):
    """The Host names this site answers to: loopback names, the address it binds, LOCALQ_ALLOWED_HOSTS."""
    names = set(LOOPBACK_NAMES) | {h.strip().lower() for h in config.allowed_hosts.split(',') if h.strip()}
    if config.host not in ('0.0.0.0', '::', ''):
        names.add(config.host.lower())
    return names


def host_name(host):
    """'name' of a Host header 'name:port' or '[v6]:port' (lowercased; None if malformed)."""
    host = (host or '').strip().lower()
    if host.startswith('['):
        end = host.find(']')
        return host[1:end] if end > 0 else None
    return host.rsplit(':', 1)[0] if host.count(':') == 1 else (host or None)


def make_host_check(allowed):
    """before_request hook: refuse a Host header this site is not (DNS rebinding: a page elsewhere
    that points its own name at 127.0.0.1 must not read the dashboard or its CSRF token)."""
    def check_host():
        name = host_name(request.headers.get('Host'))
        if '*' in allowed or name in allowed or any(a.startswith('.') and (name or '').endswith(a) for a in allowed):
            return
        abort(400, description='this server does not answer to host %r; add it to LOCALQ_ALLOWED_HOSTS '
                               '(e.g. queue.example.com) if that is its name' % (name or request.headers.get('Host')))
    return check_host
