"""The current request's LocalQ app and its path below the dashboard's mount prefix."""
from flask import current_app, request


def localq_app():
    """The LocalQ app of the current request."""
    return current_app.extensions['localq']


def local_path():
    """The request's path below the prefix the dashboard is mounted under ('/api/tasks' under '/queue')."""
    prefix = current_app.extensions.get('localq_prefix') or ''
    return request.path[len(prefix):] if prefix and request.path.startswith(prefix) else request.path
