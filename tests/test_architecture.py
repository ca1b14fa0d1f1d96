"""The architecture rules of docs/architecture.md, checked on the source.

An ast-based import graph of every module of ``mosic_mm`` (module = file, a
package's ``__init__.py`` is the package) with every import in it: top-level
and inside functions (lazy imports), ``import a.b``, ``from a import b``,
relative ``from . import x`` / ``from ..x import y`` and
``importlib.import_module('a.b')`` with a literal name. ``from p import x``
is an edge to the submodule ``p.x`` when that is a module, else to ``p``.

Rules: (a) no import circles; (b) each layer imports only the layers below
it (:data:`LAYERS`, the table of docs/architecture.md); (c) no module of
mosic_mm over 500 lines, no ``tools/*.py`` over 250; (d) one function each
calls scipy's ``linear_sum_assignment``, ``faiss.Kmeans`` and
``faiss.PCAMatrix`` (one implementation of matching, k-means and PCA).
"""
import ast
import os
import os.path as osp
from typing import Dict, List, Set, Tuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

#: Layers of mosic_mm, bottom to top. A module may import modules of its own
#: layer part (the same subpackage or top-level module) and of the layers
#: below its own; 'mosic_mm' is the package ``__init__`` (importing it
#: registers datasets, engine, models and trackers).
LAYERS: Tuple[Tuple[str, ...], ...] = (
    ('compat', 'compat_mmcv_ext', 'registry'),
    ('utils', ),
    ('synthetic', 'visualization'),
    ('models', 'trackers', 'engine'),
    ('datasets', ),
    ('mosic_mm', ),
    ('evaluation', 'benchmark', 'seg'),
    ('apis', ),
)

MAX_MODULE_LINES = 500
MAX_TOOL_LINES = 250
#: qualified callable -> what it implements; exactly one function each
ONE_HOME = {
    'scipy.optimize.linear_sum_assignment': 'Hungarian matching',
    'faiss.Kmeans': 'k-means',
    'faiss.PCAMatrix': 'PCA',
}

Edge = Tuple[str, int]  # (imported module, line of the import)


# --------------------------------------------------------------------------
# the analyser
# --------------------------------------------------------------------------
def find_modules(root: str, package: str) -> Dict[str, str]:
    """``{dotted module name: file}`` of every ``.py`` file under
    ``root/package`` (``pkg/__init__.py`` -> ``pkg``)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(osp.join(root, package)):
        dirnames[:] = sorted(d for d in dirnames if d != '__pycache__')
        for name in sorted(filenames):
            if not name.endswith('.py'):
                continue
            path = osp.join(dirpath, name)
            parts = osp.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            out['.'.join(parts)] = path
    return out


def _imported_names(node: ast.AST, module: str, is_package: bool
                    ) -> List[str]:
    """Dotted names one import node (or ``importlib.import_module`` call)
    of ``module`` refers to, relative imports resolved."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            pkg = module.split('.') if is_package else module.split('.')[:-1]
            if node.level - 1 > len(pkg) - 1:
                raise ValueError(f'{module}:{node.lineno}: relative import '
                                 'beyond the top-level package')
            base = pkg[:len(pkg) - node.level + 1]
            base = '.'.join(base + ([node.module] if node.module else []))
        else:
            base = node.module
        return [base] + [f'{base}.{a.name}' for a in node.names
                         if a.name != '*']
    if (isinstance(node, ast.Call) and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and _dotted(node.func) in ('importlib.import_module',
                                       'import_module')):
        return [node.args[0].value]
    return []


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` of a Name / Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ''
    return '.'.join([node.id] + parts[::-1])


def _resolve(name: str, modules: Dict[str, str]) -> str:
    """The longest prefix of ``name`` that is a module, or ''."""
    parts = name.split('.')
    while parts and '.'.join(parts) not in modules:
        parts.pop()
    return '.'.join(parts)


def import_graph(root: str, package: str) -> Dict[str, Dict[str, int]]:
    """``{module: {imported module of the package: first line}}``."""
    modules = find_modules(root, package)
    graph: Dict[str, Dict[str, int]] = {}
    for module, path in modules.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        is_package = path.endswith('__init__.py')
        edges: Dict[str, int] = {}
        for node in ast.walk(tree):
            names = _imported_names(node, module, is_package)
            if isinstance(node, ast.ImportFrom):
                # 'from p import x': the submodule p.x if it is one, else p
                base, subs = names[0], names[1:]
                hits = [s for s in subs if s in modules]
                names = hits + ([base] if len(hits) < len(subs)
                                or not subs else [])
            for name in names:
                if name.split('.')[0] != package:
                    continue
                target = _resolve(name, modules)
                if target and target != module:
                    edges.setdefault(target, node.lineno)
        graph[module] = edges
    return graph


def find_cycles(graph: Dict[str, Dict[str, int]]) -> List[List[Edge]]:
    """One cycle per strongly connected component of more than one module
    (Tarjan), as ``[(module, line of its import of the next), ...]``."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                components.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return [_shortest_cycle(graph, comp) for comp in components]


def _shortest_cycle(graph, comp: List[str]) -> List[Edge]:
    """A shortest cycle through ``comp[0]`` inside the component (BFS)."""
    inside, start = set(comp), comp[0]
    parent = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                path = path[::-1]
                return [(m, graph[m][n]) for m, n in zip(path, path[1:] +
                                                         [start])]
            if w in inside and w not in parent:
                parent[w] = v
                queue.append(w)
    raise AssertionError(f'no cycle through {start}')


def format_cycle(cycle: List[Edge]) -> str:
    return ' -> '.join(f'{m} (line {line})' for m, line in cycle) + \
        f' -> {cycle[0][0]}'


def layer_of(module: str) -> str:
    """'datasets' for mosic_mm.datasets.x, 'compat' for mosic_mm.compat,
    'mosic_mm' for the package itself."""
    parts = module.split('.')
    return parts[1] if len(parts) > 1 else parts[0]


def layer_violations(graph: Dict[str, Dict[str, int]],
                     layers=LAYERS) -> List[str]:
    """Imports of a layer above (or beside) the importer's, and modules in
    no layer."""
    level = {name: i for i, names in enumerate(layers) for name in names}
    out = []
    for module in sorted(graph):
        src = layer_of(module)
        if src not in level:
            out.append(f'{module}: layer {src!r} is not in LAYERS (add it '
                       'there and to docs/architecture.md)')
            continue
        allowed = sorted(n for n, i in level.items() if i < level[src])
        for target, line in sorted(graph[module].items()):
            dst = layer_of(target)
            if dst != src and level.get(dst, len(layers)) >= level[src]:
                out.append(f'{module} (line {line}) imports {target}: layer '
                           f'{src!r} may import only {allowed}')
    return out


def oversized(root: str) -> List[str]:
    """Modules of mosic_mm over :data:`MAX_MODULE_LINES` lines and tools
    over :data:`MAX_TOOL_LINES`."""
    files = [(p, MAX_MODULE_LINES)
             for p in find_modules(root, 'mosic_mm').values()]
    tools = osp.join(root, 'tools')
    files += [(osp.join(tools, n), MAX_TOOL_LINES)
              for n in sorted(os.listdir(tools)) if n.endswith('.py')]
    out = []
    for path, limit in files:
        with open(path) as f:
            n = len(f.read().splitlines())
        if n > limit:
            out.append(f'{osp.relpath(path, root)}: {n} lines (> {limit})')
    return out


def callers(path: str, targets) -> Dict[str, List[str]]:
    """``{target: [function (line)]}``: the functions of a file that use
    (call or reference) a qualified callable of ``targets``, however it was
    imported (``import faiss as f``, ``from scipy.optimize import
    linear_sum_assignment as lsa``, ...)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    found: Dict[str, List[str]] = {}

    def visit(node, scope: str, alias: Dict[str, str]) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    alias[a.asname] = a.name
                else:
                    head = a.name.split('.')[0]
                    alias[head] = head
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for a in node.names:
                alias[a.asname or a.name] = f'{node.module}.{a.name}'
        elif isinstance(node, (ast.Name, ast.Attribute)):
            dotted = _dotted(node)
            if dotted:
                head, _, rest = dotted.partition('.')
                if head in alias:
                    full = alias[head] + ('.' + rest if rest else '')
                    if full in targets:
                        found.setdefault(full, []).append(
                            f'{scope} (line {node.lineno})')
                        return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                             ast.ClassDef)):
            scope = node.name if scope == '<module>' else \
                f'{scope}.{node.name}'
            alias = dict(alias)  # function-level imports stay local
        for child in ast.iter_child_nodes(node):
            visit(child, scope, alias)

    visit(tree, '<module>', _module_aliases(tree))
    return found


def _module_aliases(tree: ast.Module) -> Dict[str, str]:
    """Names bound by the module-level imports (also those below a
    function, which it sees at call time): local name -> qualified name."""
    alias: Dict[str, str] = {}
    todo = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Import):
            for a in node.names:
                alias[a.asname or a.name.split('.')[0]] = (
                    a.name if a.asname else a.name.split('.')[0])
        elif isinstance(node, ast.ImportFrom) and not node.level:
            for a in node.names:
                alias[a.asname or a.name] = f'{node.module}.{a.name}'
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                   ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return alias


def one_home_report(root: str) -> List[str]:
    """Callables of :data:`ONE_HOME` used by other than exactly one
    function across mosic_mm and tools."""
    files = list(find_modules(root, 'mosic_mm').values())
    tools = osp.join(root, 'tools')
    files += [osp.join(tools, n) for n in sorted(os.listdir(tools))
              if n.endswith('.py')]
    users: Dict[str, Set[str]] = {t: set() for t in ONE_HOME}
    for path in files:
        for target, where in callers(path, ONE_HOME).items():
            for w in where:
                func = w.rsplit(' (line', 1)[0]
                users[target].add(f'{osp.relpath(path, root)}: {func}')
    return [f'{target} ({ONE_HOME[target]}) is used by {len(funcs)} '
            f'functions, not 1: {sorted(funcs)}'
            for target, funcs in users.items() if len(funcs) != 1]


# --------------------------------------------------------------------------
# the rules on mosic_mm
# --------------------------------------------------------------------------
def test_no_import_circles():
    cycles = find_cycles(import_graph(REPO, 'mosic_mm'))
    assert not cycles, 'import circles (lazy imports included):\n' + \
        '\n'.join(format_cycle(c) for c in cycles)


def test_layers_import_only_the_layers_below():
    bad = layer_violations(import_graph(REPO, 'mosic_mm'))
    assert not bad, 'imports against the layers of docs/architecture.md:' \
        '\n' + '\n'.join(bad)


def test_every_layer_is_documented():
    with open(osp.join(REPO, 'docs', 'architecture.md')) as f:
        doc = f.read()
    missing = [name for names in LAYERS for name in names
               if f'`{name}`' not in doc and f'`{name}/`' not in doc
               and f'`{name}.py`' not in doc]
    assert not missing, f'layers not named in docs/architecture.md: {missing}'


def test_no_oversized_modules():
    bad = oversized(REPO)
    assert not bad, 'too long (split by concern):\n' + '\n'.join(bad)


def test_one_function_per_matching_kmeans_pca():
    bad = one_home_report(REPO)
    assert not bad, '\n'.join(bad)


# --------------------------------------------------------------------------
# the analyser on a toy package (it sees what the rules rely on)
# --------------------------------------------------------------------------
def _write(root, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = osp.join(str(root), rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


def test_analyser_sees_lazy_relative_and_dynamic_imports(tmp_path):
    _write(tmp_path, {
        'pkg/__init__.py': 'from . import low\n',
        'pkg/low/__init__.py': '',
        'pkg/low/a.py': 'def f():\n    from ..high import b  # lazy\n',
        'pkg/high/__init__.py': '',
        'pkg/high/b.py': 'from pkg.low import a\n',
        'pkg/high/c.py': ('import importlib\n'
                          "M = importlib.import_module('pkg.low.a')\n"),
        'pkg/high/d.py': 'from .. import high\nimport pkg.low.a as x\n',
    })
    graph = import_graph(str(tmp_path), 'pkg')
    assert graph['pkg'] == {'pkg.low': 1}
    assert graph['pkg.low.a'] == {'pkg.high.b': 2}
    assert graph['pkg.high.b'] == {'pkg.low.a': 1}
    assert graph['pkg.high.c'] == {'pkg.low.a': 2}
    assert graph['pkg.high.d'] == {'pkg.high': 1, 'pkg.low.a': 2}
    cycles = find_cycles(graph)
    assert [format_cycle(c) for c in cycles] == [
        'pkg.high.b (line 1) -> pkg.low.a (line 2) -> pkg.high.b']
    bad = layer_violations(graph, layers=(('low', ), ('high', 'pkg')))
    assert bad == ["pkg.low.a (line 2) imports pkg.high.b: layer 'low' "
                   'may import only []']
    layers = (('high', ), ('low', ), ('pkg', ))
    assert layer_violations(graph, layers) == [
        "pkg.high.b (line 1) imports pkg.low.a: layer 'high' may import "
        'only []',
        "pkg.high.c (line 2) imports pkg.low.a: layer 'high' may import "
        'only []',
        "pkg.high.d (line 2) imports pkg.low.a: layer 'high' may import "
        'only []']


def test_analyser_finds_every_use_of_a_one_home_callable(tmp_path):
    _write(tmp_path, {'m.py': (
        'import faiss as fs\n'
        'from scipy.optimize import linear_sum_assignment as lsa\n'
        'def a(x):\n    return lsa(x)\n'
        'class K:\n    def b(self):\n        return fs.Kmeans(2, 3)\n'
        'def c():\n    import faiss\n    solver = faiss.PCAMatrix\n'
        '    return solver\n'
        'def d():\n    return Kmeans\n')})
    found = callers(str(tmp_path / 'm.py'), ONE_HOME)
    assert found == {
        'scipy.optimize.linear_sum_assignment': ['a (line 4)'],
        'faiss.Kmeans': ['K.b (line 7)'],
        'faiss.PCAMatrix': ['c (line 10)']}
