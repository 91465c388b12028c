"""HTML pages: the dashboard and job detail."""
from flask import Blueprint, render_template, request

from .. import jobs, states

bp = Blueprint('pages', __name__)


@bp.get('/')
def dashboard():
    """Counts per state and the newest jobs, refreshed live."""
    state = request.args.get('state') or None
    return render_template('dashboard.html', counts=jobs.count_by_state(), jobs=jobs.list_jobs(state=state),
                           state=state, states=states.BUILTIN)


@bp.get('/jobs/<job_id>')
def job_detail(job_id):
    """One job: arguments, result, progress, every attempt."""
    return render_template('job_detail.html', job=jobs.get_job(job_id, with_attempts=True))


@bp.get('/upload')
def upload_page():
    """Choose or drop files; each becomes a document job with a live progress bar."""
    from flask import current_app
    return render_template('upload.html', max_mb=current_app.extensions['localq'].config.max_upload_mb)


@bp.post('/jobs/<job_id>/<action>')
def job_action(job_id, action):
    """The Retry and Revoke buttons of the job page (CSRF-checked like every POST)."""
    from flask import abort, current_app, redirect, url_for
    app = current_app.extensions['localq']
    jobs.get_job(job_id)
    if action == 'retry':
        jobs.requeue(app, [job_id])
    elif action == 'revoke':
        app.revoke(job_id)
    else:
        abort(404, description='unknown action %r' % action)
    return redirect(url_for('pages.job_detail', job_id=job_id))
