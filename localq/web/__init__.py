"""The Flask app: pages for people, JSON for scripts, both reading the Job rows."""
import secrets

from flask import Flask, Request, current_app, jsonify, request

from ..errors import JobNotFound
from ..lab import LabError
from ..listing import BadFilter
from ..models import database

class LocalqRequest(Request):
    """Werkzeug spools each uploaded file above 500 KiB to the system temp folder; this
    keeps that spool inside the data folder (uploads/.incoming), so the app writes no
    file outside its folder, and a 1 GB upload never sits in memory."""

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        import os
        import tempfile
        folder = os.path.join(current_app.extensions['localq'].config.upload_dir, '.incoming')
        os.makedirs(folder, exist_ok=True)
        return tempfile.SpooledTemporaryFile(max_size=500 * 1024, mode='rb+', dir=folder)


def create_app(localq_app, test_config=None):
    """Build the web app for a LocalQ app."""
    localq_app.setup()
    cfg = localq_app.config
    web = Flask(__name__)  # templates/ and static/ beside this file
    web.request_class = LocalqRequest
    # The whole request may carry several files plus form overhead.
    web.config.update(MAX_CONTENT_LENGTH=cfg.max_upload_mb * 1024 * 1024 * 20 + 65536,
                      SECRET_KEY=cfg.secret_key or secrets.token_hex(32),
                      SESSION_COOKIE_SAMESITE='Lax', SESSION_COOKIE_HTTPONLY=True)
    if test_config:
        web.config.update(test_config)
    web.extensions['localq'] = localq_app

    from . import security
    if cfg.host not in ('127.0.0.1', 'localhost', '::1'):
        web.before_request(security.make_token_check(cfg.auth_token))
    web.before_request(security.check_csrf)
    web.jinja_env.globals['csrf_token'] = security.csrf_token
    from . import formatting
    formatting.install(web)

    @web.teardown_appcontext
    def close_db(exc):
        # Connect per request on demand, close on teardown (playhouse.flask_utils style).
        if not database.is_closed():
            database.close()

    def wants_json():
        # API paths always; other POSTs unless a browser asks for a page.
        if request.path.startswith(('/api/', '/tasks/', '/healthcheck', '/metrics')):
            return True
        if request.method not in ('GET', 'HEAD'):
            return request.accept_mimetypes.best != 'text/html'
        return request.accept_mimetypes.best == 'application/json'

    @web.errorhandler(JobNotFound)
    def job_not_found(exc):
        return error_response(404, str(exc))

    @web.errorhandler(LabError)
    def lab_error(exc):
        return error_response(404 if isinstance(exc, KeyError) else 400, str(exc))

    @web.errorhandler(BadFilter)
    def bad_filter(exc):
        return error_response(400, str(exc))

    @web.errorhandler(400)
    @web.errorhandler(401)
    @web.errorhandler(404)
    @web.errorhandler(405)
    @web.errorhandler(413)
    @web.errorhandler(500)
    def http_error(exc):
        code = getattr(exc, 'code', 500)
        return error_response(code, getattr(exc, 'description', 'internal error'))

    def error_response(status, message):
        if wants_json():
            return jsonify(ok=False, error=message, status=status), status
        from flask import render_template
        return render_template('error.html', status=status, message=message), status

    from . import api, lab, metrics, pages
    web.register_blueprint(pages.bp)
    web.register_blueprint(lab.bp)
    web.register_blueprint(api.bp)
    web.register_blueprint(metrics.bp)
    return web
