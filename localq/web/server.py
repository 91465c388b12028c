"""The HTTP server of `python run.py`: waitress, a production WSGI server in pure Python.

Why not werkzeug's development server (which run.py used): a client that sends half a body
held one of its threads forever, and its own docs say it is not for use beyond development.
waitress reads each request, body included, in its event loop before any of its bounded
pool of threads sees it; an idle or stalled connection is closed after `request_timeout`;
a body over the limit is refused before it is read.
"""
import errno
import socket
import threading

from ..errors import ConfigError


def port_is_free(host, port):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # as waitress binds
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


class WebServer:
    """waitress serving a WSGI app from a thread; shutdown() stops it."""

    def __init__(self, app, host, port, threads, timeout, max_body):
        import waitress
        self._server = waitress.create_server(
            app, host=host, port=port, threads=threads, channel_timeout=timeout, cleanup_interval=min(30, timeout),
            max_request_body_size=max_body, connection_limit=200, ident='localq', expose_tracebacks=False,
            clear_untrusted_proxy_headers=True)
        self.port = int(self._server.effective_port)
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._server.run, name='localq-web', daemon=True)
        self._thread.start()

    def shutdown(self):
        self._server.close()          # closes the listening socket and every connection
        self._server.task_dispatcher.shutdown(timeout=5)   # lets running requests finish
        if self._thread is not None:
            self._thread.join(5)


def make_server_on_free_port(app, config, tries=50):
    """A WebServer on config.port, or the next free port after it, saying so."""
    port = config.port
    for candidate in range(port, min(port + tries, 65536)):
        if port_is_free(config.host, candidate):
            if candidate != port:
                print('localq: port %d is in use; using the free port %d instead (choose one with --port N)' % (
                    port, candidate), flush=True)
            return WebServer(app, config.host, candidate, config.web_threads, config.request_timeout,
                             max_body=config.max_upload_mb * 1024 * 1024 * 20 + 65536)
    raise ConfigError('no free port in %d-%d; choose one with --port N' % (port, port + tries - 1))
