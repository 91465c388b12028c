"""Plug-ins: packages (localq.documents, localq.lab, yours) that give an app models, tasks,
settings, pages and commands through one call, as a Flask extension does:

    documents.init_app(app)     # in localq/tasks.py, the composition module of localq's own app

A plug-in's init_app declares its models and tasks with the app's own calls (register_models,
app.task) and hands the rest to `app.register_plugin(Plugin(...))`, a record the core keeps in
`app.plugins` without reading it: the config takes its settings, the web app (web/) imports and
mounts its blueprint, the CLI adds its commands, the overview leaves its hidden queues out. So
the core, web/ and monitor/ import no plug-in, and an app that never calls a plug-in's init_app
never imports it (nor its dependencies: numpy, wordllama and pypdf are the documents plug-in's).
"""
import dataclasses
import importlib
import re


@dataclasses.dataclass(frozen=True)
class NavLink:
    """A link in the pages' header: its label, the endpoint it opens (in the plug-in's blueprint,
    without 'localq.'), and the endpoints (a name ending in '.': all of a blueprint) it is lit on."""
    label: str
    endpoint: str
    lit_on: tuple = ()

    def lit(self, here):
        return any(here == e or (e.endswith('.') and here.startswith(e)) for e in self.lit_on)


@dataclasses.dataclass(frozen=True)
class Command:
    """`localq <name>`: its module's add_arguments(parser) declares its arguments, its run(app, args)
    does it and returns the exit code (a module name: imported when the CLI runs)."""
    name: str
    help: str
    module: str

    def load(self):
        return importlib.import_module(self.module)


@dataclasses.dataclass(frozen=True)
class HiddenQueues:
    """Queues a plug-in runs for itself (the lab's lab.<scenario>): the overview leaves their jobs,
    queues and workers out unless asked (?<name>=1), so they never bury the app's own."""
    name: str      # the overview's switch (?lab=1) and key in its JSON
    prefix: str    # the queue `prefix` and every `prefix.<anything>`
    label: str     # as the overview says it: "the classroom lab"
    short: str     # and on its Show/Hide link: "the lab"

    def __post_init__(self):
        if not re.match(r'^\w+$', self.name) or not re.match(r'^\w+$', self.prefix):
            raise ValueError('a hidden queue group needs a name and prefix of letters and digits')

    def holds(self, queue):
        return queue == self.prefix or queue.startswith(self.prefix + '.')

    @property
    def sql(self):
        """The same test in SQL. substr, not LIKE: a '%' would need escaping in PostgreSQL's parameterised
        queries. Spelled once: SQLite uses a partial index only for this same predicate."""
        return "(queue = '%s' OR substr(queue, 1, %d) = '%s.')" % (self.prefix, len(self.prefix) + 1, self.prefix)

    @property
    def index(self):
        return 'job_' + self.name

    def create_index(self, db):
        """The group's jobs by state (a partial index), so the overview counts them without reading the table."""
        db.execute_sql('CREATE INDEX IF NOT EXISTS %s ON job (state) WHERE %s' % (self.index, self.sql))


@dataclasses.dataclass(frozen=True)
class Plugin:
    """What a plug-in adds to an app besides its models and tasks."""
    name: str
    settings: tuple = ()        # config.Setting: LOCALQ_<NAME>, LocalQ(...)/configure() keywords, the README table
    web: str = ''               # 'module:blueprint', imported only when a web app is built
    nav: tuple = ()             # NavLink: the header's links to its pages
    commands: tuple = ()        # Command: `localq <name>`
    hidden_queues: HiddenQueues = None
    on_exit: object = None      # called when `localq run` stops: end what the plug-in started (the lab's workers)


def register(app, plugin):
    """app.register_plugin: the plug-in's settings join the app's config (read from LOCALQ_<NAME>
    now), its hidden queues get their index; registering a plug-in again changes nothing."""
    if plugin.name in app.plugins:
        return app.plugins[plugin.name]
    app.config = app.config.declare(plugin.settings)
    app.plugins[plugin.name] = plugin
    if plugin.hidden_queues is not None:
        app.register_models(prepare=plugin.hidden_queues.create_index)
    return plugin


def hidden_queues(app):
    """The hidden queue groups of the app's plug-ins."""
    return [p.hidden_queues for p in app.plugins.values() if p.hidden_queues is not None]


def commands(app):
    """{name: Command} of the app's plug-ins."""
    return {c.name: c for p in app.plugins.values() for c in p.commands}


def on_exit(app):
    """Run each plug-in's exit hook (`localq run` is stopping)."""
    for plugin in app.plugins.values():
        if plugin.on_exit is not None:
            plugin.on_exit()
