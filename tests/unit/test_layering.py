"""The structure, read from the code: only the web code imports flask; the core, web/ and monitor/
import no plug-in; only the lifecycle and the storage write the job table; no module over 400
lines; no import circle."""
import ast
import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'localq'
PLUGINS = ('documents', 'lab')
COMPOSITION = 'tasks.py'   # localq's own app: the one module that adds the plug-ins


def test_only_the_web_code_imports_flask():
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        parts = path.relative_to(PACKAGE).parts
        if 'web' in parts or path.name == 'web.py':   # web/, and a plug-in's pages (documents/web.py)
            continue
        text = path.read_text()
        if 'import flask' in text or 'from flask' in text:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


def test_the_core_web_and_monitor_import_no_plug_in():
    plugin = re.compile(r'^\s*(from\s+(localq|\.+)\.?(%s)\b|from\s+\.+\s+import\s+.*\b(%s)\b|import\s+localq\.(%s)\b)'
                        % (('|'.join(PLUGINS),) * 3), re.M)
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        parts = path.relative_to(PACKAGE).parts
        if parts[0] in PLUGINS or parts == (COMPOSITION,):
            continue
        if plugin.search(path.read_text()):
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


# -- the structure #24 asked for, read from the code ----------------------------------------
JOB_WRITE = re.compile(r'\b(UPDATE|DELETE FROM|INSERT INTO)\s+job\b|\bJob\.(update|delete|insert|insert_many|create|'
                       r'replace|bulk_create|bulk_update|delete_by_id)\b', re.IGNORECASE)
# The lifecycle makes every change of a job's row; the storage adapter queues (INSERT) and claims.
# (migrate.py copies whole tables into an empty PostgreSQL database through the models: no statement here.)
JOB_WRITERS = {'lifecycle.py', 'storage.py'}
MAX_LINES = 400


def modules():
    for path in sorted(PACKAGE.rglob('*.py')):
        yield path.relative_to(PACKAGE).as_posix(), path


def test_only_the_lifecycle_and_the_storage_write_the_job_table():
    writers = {name for name, path in modules() if JOB_WRITE.search(path.read_text())}
    assert writers == JOB_WRITERS


def test_no_module_is_over_400_lines():
    long = {name: n for name, path in modules() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}


def import_graph():
    """Module -> the localq modules it imports (at the top or inside a function)."""
    names = {}
    for name, path in modules():
        dotted = 'localq.' + name[:-3].replace('/', '.')
        names[dotted[:-len('.__init__')] if dotted.endswith('.__init__') else dotted] = path
    graph = {}
    for dotted, path in names.items():
        package = dotted if path.name == '__init__.py' else dotted.rsplit('.', 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(node.level - 1):
                    base = base.rsplit('.', 1)[0]
                module = (base + '.' + node.module if node.module else base) if node.level else node.module
                targets = [module + '.' + a.name for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            for target in targets:
                while target not in names and '.' in target:
                    target = target.rsplit('.', 1)[0]
                if target in names and target != dotted:
                    deps.add(target)
        graph[dotted] = deps
    return graph


def test_no_import_circle():
    graph = import_graph()
    assert 'localq.lifecycle' in graph['localq.app']   # the graph is read, not empty
    circles = []

    def visit(node, path):
        for dep in graph[node]:
            if dep in path:
                circles.append(path[path.index(dep):] + [dep])
            elif dep not in done:
                visit(dep, path + [dep])
        done.add(node)

    done = set()
    for node in graph:
        if node not in done:
            visit(node, [node])
    assert circles == []


def test_the_tests_are_at_least_eight_tenths_of_the_source():
    """#24's measure of how well the parts are tested (Huey 1.05, RQ 1.13, Dramatiq 0.79):
    a module added without its tests shows here."""
    def lines(folder):
        return sum(len(p.read_text().splitlines()) for p in folder.rglob('*.py'))
    source, tests = lines(PACKAGE), lines(PACKAGE.parent / 'tests')
    assert tests >= 0.8 * source, '%d test lines for %d source lines (%.2f)' % (tests, source, tests / source)
