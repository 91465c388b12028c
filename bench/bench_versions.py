"""This checkout against an earlier commit, with bare Huey in every run: did a change cost speed?

    python bench/bench_versions.py --baseline 8daae2a [--rounds 3] [--n 10000] [--what enqueue,drain]

Each round runs `bench/bench_core.py --reps 1` of the baseline (checked out once into a temporary
git worktree, so it runs its own localq) and of this checkout, one after the other, in
alternating order, so that both meet the same machine load. Every bench_core run measures bare
Huey beside localq. Prints the medians over the rounds, localq's ratio to the bare Huey of
the same run, and this checkout's ratio to the baseline.
"""
import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HUEY = 'huey(SqliteHuey)'   # bench_core's label of bare Huey


def checkout(commit):
    path = tempfile.mkdtemp(prefix='localq-baseline-')
    os.rmdir(path)
    subprocess.run(['git', '-C', ROOT, 'worktree', 'add', '--detach', '-q', path, commit], check=True)
    return path


def run_core(tree, args):
    """The JSON records of one bench_core run of the checkout at `tree` (its own localq)."""
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, os.path.join(tree, 'bench', 'bench_core.py'), '--reps', '1', '--n',
                          str(args.n), '--what', args.what, '--drain-configs', args.drain_configs],
                         cwd=tree, env=env, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith('{')]


def key(record):
    return (record['bench'], record.get('workers', ''))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--baseline', required=True, help='the commit to compare with (e.g. the one before a redesign)')
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--n', type=int, default=10000)
    ap.add_argument('--what', default='enqueue,drain')
    ap.add_argument('--drain-configs', default='4:thread,2:process')
    args = ap.parse_args()
    base = checkout(args.baseline)
    rates = collections.defaultdict(list)   # (measurement, system, which) -> [tasks/s per round]
    try:
        for n in range(args.rounds):
            order = [('baseline', base), ('this', ROOT)]
            for which, tree in (order if n % 2 == 0 else order[::-1]):
                for record in run_core(tree, args):
                    if 'tasks_per_s' in record:
                        rates[key(record) + (record['system'], which)].append(record['tasks_per_s'])
                        print(json.dumps(dict(record, checkout=which, round=n)), flush=True)
    finally:
        subprocess.run(['git', '-C', ROOT, 'worktree', 'remove', '--force', base], check=False)
        shutil.rmtree(base, ignore_errors=True)
    median = {k: statistics.median(v) for k, v in rates.items()}
    print('\n%-22s %-18s %12s %12s %10s %10s %12s' % ('measurement', 'localq', 'baseline/s', 'this/s',
                                                       'base/huey', 'this/huey', 'this/base'))
    for (bench, workers, system, which), this_rate in sorted(median.items()):
        if which != 'this' or system.startswith('huey'):
            continue
        base_rate = median.get((bench, workers, system, 'baseline'))
        huey_this, huey_base = median.get((bench, workers, HUEY, 'this')), median.get((bench, workers, HUEY,
                                                                                          'baseline'))
        if base_rate is None or not huey_this or not huey_base:
            continue
        print('%-22s %-18s %12.0f %12.0f %9.2fx %9.2fx %11.2fx' % (
            '%s %s' % (bench, workers), system, base_rate, this_rate, base_rate / huey_base, this_rate / huey_this,
            this_rate / base_rate))


if __name__ == '__main__':
    main()
