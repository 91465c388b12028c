"""The core never imports the web layer: only localq/web/ may import flask."""
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / 'localq'


def test_only_the_web_package_imports_flask():
    offenders = []
    for path in PACKAGE.rglob('*.py'):
        if 'web' in path.relative_to(PACKAGE).parts:
            continue
        text = path.read_text()
        if 'import flask' in text or 'from flask' in text:
            offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []


# -- the structure #24 asked for, read from the code ----------------------------------------
import ast
import re

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
