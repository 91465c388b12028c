"""`localq lab <scenario>`: a lab scenario run here, with a text summary (the lab plug-in's command)."""
import textwrap

from ..errors import ConfigError


def add_arguments(parser):
    parser.add_argument('scenario', nargs='?', help='the scenario; leave out to list them')
    parser.add_argument('--set', action='append', default=[], metavar='NAME=VALUE',
                        help='change one of its parameters, e.g. --set jobs=5 (repeatable)')
    parser.add_argument('--timeout', type=float, default=900.0, help='give up after this many seconds')


def run(app, args):
    from . import Lab, is_lab_app
    if not is_lab_app(app):
        raise ConfigError("the lab's tasks are declared on localq's default app; run `localq lab` without -A")
    lab = Lab(app)
    if not args.scenario:
        for n, s in enumerate(lab.scenarios.values(), 1):
            print('%2d. %-17s %s  (%s)\n    %s' % (n, s.name, s.title, s.lesson, s.teaches))
        print('\nRun one: localq lab <name>   (LOCALQ_LAB_SPEED=10 for a faster rate limit)')
        return 0
    scenario = lab.scenario(args.scenario)
    params = dict(item.partition('=')[::2] for item in args.set)
    print('== %s  (%s)\n%s\n%s\n' % (scenario.title, scenario.lesson, textwrap.fill(scenario.teaches, 100),
                                      textwrap.fill(scenario.explain, 100)))
    print(textwrap.indent(scenario.code, '    ') + '\n', flush=True)
    try:
        obs = lab.run(scenario.name, timeout=args.timeout, say=lambda line: print('  ' + line, flush=True),
                      **params)
    finally:
        lab.shutdown()
    for title, columns, rows in obs.tables:
        print('\n' + text_table(title, columns, rows))
    return 1 if lab.context(scenario.name).notes.get('error') else 0


def text_table(title, columns, rows):
    cells = [[str(c) for c in columns]] + [[str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    lines = [title, '  '.join(c.ljust(w) for c, w in zip(cells[0], widths)),
             '  '.join('-' * w for w in widths)]
    lines += ['  '.join(v.ljust(w) for v, w in zip(r, widths)) for r in cells[1:]]
    return '\n'.join(line.rstrip() for line in lines)
