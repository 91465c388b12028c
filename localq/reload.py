"""Reload while coding: `localq worker --reload` and `python run.py --reload`.

A small supervisor runs the real command as a child process and watches the Python files under a
folder (the current one, or --reload-dir) with watchfiles, the file-watching library uvicorn and
arq use. When one changes it stops the child the way a worker is always stopped (SIGTERM, a warm
stop: running jobs finish, or are released after shutdown_timeout if one is set), waits for it,
and starts it again, so the next job runs the new code.

Why not watchfiles.run_process: it stops the child with SIGINT and SIGKILLs it 5 s later, which
would kill a job mid-run, and on Ctrl-C it sends the child a second SIGINT, which a localq worker
reads as "interrupt the running jobs now". Here the child has its own session, so the terminal's
Ctrl-C reaches only the supervisor, which passes each signal on once: the first is a warm stop,
a second a cold one, exactly as without --reload.
"""
import os
import signal
import subprocess
import sys
import threading

RELOAD_FLAGS = ('--reload',)
RELOAD_DIR_FLAG = '--reload-dir'


def without_reload_flags(argv):
    """The command line the child runs: argv minus --reload and --reload-dir DIR."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in RELOAD_FLAGS or arg.startswith(RELOAD_DIR_FLAG + '='):
            continue
        elif arg == RELOAD_DIR_FLAG:
            skip = True
        else:
            out.append(arg)
    return out


def _stop_with_parent():
    """In the child, before exec: a warm stop (SIGTERM) if the supervisor dies (Linux's
    PR_SET_PDEATHSIG), so a killed supervisor never leaves a worker running old code."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def start(command):
    posix = os.name == 'posix'
    return subprocess.Popen(command, start_new_session=posix,
                            preexec_fn=_stop_with_parent if sys.platform.startswith('linux') else None)


def supervise(argv, folder='.', out=sys.stderr):
    """Run `python -m localq ARGV` and restart it whenever a Python file under `folder` changes.
    Returns the child's exit code once the supervisor is told to stop (Ctrl-C, SIGTERM)."""
    import watchfiles
    command = [sys.executable, '-m', 'localq'] + list(argv)
    folder = os.path.abspath(folder)
    stop = threading.Event()
    child = start(command)

    def pass_on(signum, frame):
        stop.set()
        if child.poll() is None:
            child.send_signal(signum)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, pass_on)
    print('localq: --reload: watching the Python files under %s' % folder, file=out, flush=True)
    told = False   # that the child exited by itself
    # A data folder under `folder` is written all the time; PythonFilter keeps only .py changes.
    for changes in watchfiles.watch(folder, watch_filter=watchfiles.PythonFilter(), stop_event=stop,
                                    debounce=400, step=50, raise_interrupt=False, yield_on_timeout=True,
                                    rust_timeout=1000):
        if stop.is_set():
            break
        if not changes:   # a quiet second: did the child stop by itself (a crash, a syntax error)?
            if child.poll() is not None and child.returncode == 0:
                return 0
            if child.returncode and not told:
                told = True
                print('localq: --reload: it exited with code %d; it starts again when a file changes'
                      % child.returncode, file=out, flush=True)
            continue
        names = sorted(os.path.relpath(path, folder) for _, path in changes)
        print('localq: --reload: %s changed; restarting (running jobs finish first)' % ', '.join(names[:3]),
              file=out, flush=True)
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            child.wait()
        child, told = start(command), False
    return child.wait()
