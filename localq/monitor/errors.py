"""Error groups as people read them (the /errors page, /api/errors, the overview's top groups).

Read-only, like all of monitor/: each failed job's group was named when its failure was decided
(errorgroups.py) and stored on its row, so a group's count, first and last time, trend and tasks
are ranges of the partial index job_error_group, however many jobs failed. What a group is (its
type, normalised message and frame) is read from its latest job.
"""
import time

from .. import errorgroups

HOUR_BUCKETS = 12      # the last hour, 5 minutes each
DAY_BUCKETS = 24       # the last day, an hour each


def error_groups(app, limit=50, group=None, now=None):
    """The groups of failed jobs, the most jobs first (or just `group`): dicts with their count,
    first and last seen, error type, normalised message, frame, tasks, an example job and trends."""
    q, now = app.query, time.time() if now is None else now
    where, params = ('error_group = ?', (group,)) if group else ('error_group IS NOT NULL', ())
    rows = q.sql('SELECT error_group, COUNT(*), MIN(finished_at), MAX(finished_at) FROM job WHERE %s '
                 'GROUP BY error_group ORDER BY COUNT(*) DESC, error_group LIMIT ?' % where,
                 params + (limit,)).fetchall()
    groups = {key: {'group': key, 'count': count, 'first_seen': first, 'last_seen': last, 'tasks': {},
                    'last_hour': [0] * HOUR_BUCKETS, 'last_day': [0] * DAY_BUCKETS}
              for key, count, first, last in rows}
    if not groups:
        return []
    for key, task, count in q.sql('SELECT error_group, task, COUNT(*) FROM job WHERE %s GROUP BY error_group, task'
                                  % where, params).fetchall():
        if key in groups:
            groups[key]['tasks'][task] = count
    for key, finished in q.sql('SELECT error_group, finished_at FROM job WHERE %s AND finished_at > ?' % where,
                               params + (now - 86400,)).fetchall():
        if key in groups:
            age = now - finished
            groups[key]['last_day'][min(DAY_BUCKETS - 1, int(age // 3600))] += 1
            if age < 3600:
                groups[key]['last_hour'][min(HOUR_BUCKETS - 1, int(age // 300))] += 1
    for g in groups.values():
        g['last_hour'].reverse()   # oldest first, as a chart reads
        g['last_day'].reverse()
        job_id, error_type, message, traceback = q.sql(
            'SELECT id, error_type, error_message, traceback FROM job WHERE error_group = ? '
            'ORDER BY finished_at DESC LIMIT 1', (g['group'],)).fetchone()
        g.update(example=job_id, error_type=error_type, message=errorgroups.normalise(message),
                 frame=errorgroups.user_frame(traceback))
    return [groups[key] for key, _, _, _ in rows]
