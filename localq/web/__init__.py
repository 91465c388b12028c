"""The web layer: localq's pages and JSON API as one Flask blueprint, on its own site or in yours.

    web = create_app(localq_app)                                  # python run.py serves this
    Dashboard(localq_app).init_app(your_flask_app, url_prefix='/queue')   # inside your Flask app

Everything is scoped to the blueprint: its CSRF check, error pages and JSON errors,
database teardown and template globals apply to localq's own routes only, and its
templates live under localq/ so your app's base.html stays yours.
"""
import importlib
import os
import secrets
import tempfile

import peewee
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, url_for

from .current import local_path, localq_app  # noqa: F401 (localq_app: the web layer's way to the app)
from ..errors import JobNotFound, QueueNotFound, WorkerNotFound
from ..monitor.listing import BadFilter

TEXT_ERRORS = (400, 401, 403, 404, 405, 409, 413, 415, 429, 500, 503)


def asset_folder():
    """The folder of the pages' templates and static files: the package localq.templates."""
    try:
        from importlib.resources import files
        return str(files('localq.templates'))
    except ModuleNotFoundError:   # a source tree that was never installed (pip install -e . maps it)
        return os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            'templates')


def wants_json():
    """API paths always; other POSTs unless a browser asks for a page."""
    path = local_path()
    if path.startswith(('/api/', '/tasks/', '/healthcheck', '/metrics')):
        return True
    if request.method not in ('GET', 'HEAD'):
        return request.accept_mimetypes.best != 'text/html'
    return request.accept_mimetypes.best == 'application/json'


def error_response(status, message):
    """The one error shape: JSON {"ok": false, "error", "status"} for scripts, error.html for people."""
    if wants_json():
        return jsonify(ok=False, error=message, status=status), status
    return render_template('localq/error.html', status=status, message=message), status


def database_error(exc):
    """A database or file error in a view: a full disk is a 507 and a busy or unreachable database a
    503, each saying so (they pass); anything else is a 500, logged."""
    from .. import disk
    from ..db import is_connection_error
    text = str(exc).lower()
    if disk.is_disk_full(exc, localq_app().config.data_dir):
        return error_response(507, disk.describe(localq_app().config.data_dir))
    if 'database is locked' in text:
        return error_response(503, 'the database is busy (another process held its lock for over %ss); try again'
                              % localq_app().config.busy_timeout)
    if is_connection_error(exc):
        return error_response(503, 'the database cannot be reached (restarting?); try again in a moment')
    current_app.logger.exception('Exception on %s [%s]', request.path, request.method)
    return error_response(500, 'internal error')


def http_error(exc):
    code = getattr(exc, 'code', 500) or 500
    return error_response(code, getattr(exc, 'description', 'internal error'))


def spool_uploads_in_data_folder():
    """Werkzeug spools each uploaded file above 500 KiB to the system temp folder; this keeps the
    spool inside the data folder (uploads/.incoming), so the app writes no file outside its folder
    and a 1 GB upload never sits in memory. Per request, so a host Flask app keeps its own Request."""
    folder = os.path.join(localq_app().config.upload_dir, '.incoming')

    def stream(total_content_length, content_type, filename=None, content_length=None):
        os.makedirs(folder, exist_ok=True)
        return tempfile.SpooledTemporaryFile(max_size=500 * 1024, mode='rb+', dir=folder)
    request._get_file_stream = stream
    # Several files plus form overhead may share one request (Flask 3.1: per request).
    request.max_content_length = localq_app().config.max_upload_mb * 1024 * 1024 * 20 + 65536


def make_blueprint(localq_app_):
    """localq's pages, API and metrics, and its plug-ins' pages, as one blueprint named 'localq'."""
    from . import api, formatting, metrics, pages, security
    folder = asset_folder()
    bp = Blueprint('localq', __name__, template_folder=folder, static_folder=os.path.join(folder, 'static'),
                   static_url_path='/localq-static')
    bp.before_request(spool_uploads_in_data_folder)    # first: the CSRF check may read the form
    if localq_app_.config.host not in ('127.0.0.1', 'localhost', '::1'):
        bp.before_request(security.make_token_check(localq_app_.config.auth_token,
                                                    localq_app_.config.read_only_token))
    bp.before_request(security.make_read_only_check(localq_app_.config))
    bp.before_request(security.check_csrf)
    # Each plug-in's blueprint (Plugin.web, 'module:blueprint'), imported only now: a queue that is
    # never served imports no plug-in's pages. Their error handlers are on their blueprints.
    children = [pages.bp, api.bp, metrics.bp]
    for plugin in localq_app_.plugins.values():
        if plugin.web:
            module, _, name = plugin.web.partition(':')
            children.append(getattr(importlib.import_module(module), name))
    nav = [link for plugin in localq_app_.plugins.values() for link in plugin.nav]
    bp.context_processor(lambda: {'lq_csrf_token': security.csrf_token, 'lq_now': formatting.now,
                                  'lq_read_only': security.is_read_only(localq_app_.config),
                                  'lq_chart': pages.chart, 'lq_nav': nav, 'lq_has_page': has_page})
    from . import actions   # every action that changes something: its form URL and its API URL
    bp.register_blueprint(actions.bp)

    @bp.teardown_request
    def close_connection(exc):
        # Connect per request on demand, close on teardown (playhouse.flask_utils style).
        localq_app().close_thread_connection()

    bp.register_error_handler(JobNotFound, lambda exc: error_response(404, str(exc)))
    bp.register_error_handler(QueueNotFound, lambda exc: error_response(404, str(exc)))
    bp.register_error_handler(WorkerNotFound, lambda exc: error_response(404, str(exc)))
    bp.register_error_handler(BadFilter, lambda exc: error_response(400, str(exc)))
    bp.register_error_handler(peewee.OperationalError, database_error)
    bp.register_error_handler(OSError, database_error)
    for code in TEXT_ERRORS:
        bp.register_error_handler(code, http_error)
    for child in children:
        bp.register_blueprint(child)
    return bp


def has_page(endpoint):
    """Whether a page is served here ('documents.upload_page': only with the documents plug-in),
    for the core's templates that link to a plug-in's page."""
    return 'localq.' + endpoint in current_app.view_functions


class Dashboard:
    """localq's dashboard and API inside a Flask app (a Flask extension: init_app)."""

    def __init__(self, localq_app=None, flask_app=None, url_prefix=''):
        self.localq_app, self.url_prefix = localq_app, url_prefix
        if flask_app is not None:
            self.init_app(flask_app)

    def init_app(self, flask_app, localq_app=None, url_prefix=None):
        from ..current import current_app as current_localq
        from . import formatting
        app = localq_app or self.localq_app or current_localq()
        prefix = self.url_prefix if url_prefix is None else url_prefix
        flask_app.extensions['localq'] = app
        flask_app.extensions['localq_prefix'] = prefix
        if not flask_app.secret_key:
            # CSRF tokens live in the session, which needs a key (a random one lasts one start).
            flask_app.secret_key = app.config.secret_key or secrets.token_hex(32)
        flask_app.config.setdefault('SESSION_COOKIE_SAMESITE', 'Lax')
        formatting.install(flask_app)
        flask_app.register_blueprint(make_blueprint(app), url_prefix=prefix or None)
        return flask_app


def create_app(localq_app, test_config=None):
    """localq's own site for a LocalQ app (what python run.py serves)."""
    web = Flask(__name__, static_folder=None)
    web.config.update(SECRET_KEY=localq_app.config.secret_key or secrets.token_hex(32),
                      SESSION_COOKIE_SAMESITE='Lax', SESSION_COOKIE_HTTPONLY=True)
    if test_config:
        web.config.update(test_config)
    from . import security
    # On its own site (not when mounted: a host app keeps its own Host policy), only the names it is
    # meant to have are answered.
    web.before_request(security.make_host_check(security.allowed_hosts(localq_app.config)))
    Dashboard(localq_app).init_app(web)
    # Browsers ask for /favicon.ico before they read the page's <link rel="icon">.
    web.add_url_rule('/favicon.ico', 'favicon', lambda: redirect(url_for('localq.static', filename='favicon.svg')))
    # Requests no blueprint routes (an unknown path, a refused Host) get the same error shape.
    for code in (400, 404, 405, 413, 500):
        web.register_error_handler(code, http_error)
    return web
