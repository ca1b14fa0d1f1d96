"""One implementation per primitive (docs/architecture.md): exactly one
function in the package and the tools calls scipy's linear_sum_assignment
(Hungarian matching), faiss.Kmeans (k-means) and faiss.PCAMatrix (PCA),
however they are imported. The layer rules are import-linter contracts
(pyproject.toml, `lint-imports` in `make test`)."""
import ast
import glob
import os
import os.path as osp
from typing import Dict, List, Set

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
#: qualified callable -> what it implements; exactly one function each
ONE_HOME = {
    'scipy.optimize.linear_sum_assignment': 'Hungarian matching',
    'faiss.Kmeans': 'k-means',
    'faiss.PCAMatrix': 'PCA',
}


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` of a Name / Attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ''
    return '.'.join([node.id] + parts[::-1])


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
    files = sorted(glob.glob(osp.join(root, 'mosic_mm', '**', '*.py'),
                             recursive=True)
                   + glob.glob(osp.join(root, 'tools', '**', '*.py'),
                               recursive=True))
    users: Dict[str, Set[str]] = {t: set() for t in ONE_HOME}
    for path in files:
        for target, where in callers(path, ONE_HOME).items():
            for w in where:
                func = w.rsplit(' (line', 1)[0]
                users[target].add(f'{osp.relpath(path, root)}: {func}')
    return [f'{target} ({ONE_HOME[target]}) is used by {len(funcs)} '
            f'functions, not 1: {sorted(funcs)}'
            for target, funcs in users.items() if len(funcs) != 1]


def test_one_function_per_matching_kmeans_pca():
    bad = one_home_report(REPO)
    assert not bad, '\n'.join(bad)


def _write(root, files: Dict[str, str]) -> None:
    for rel, text in files.items():
        path = osp.join(str(root), rel)
        os.makedirs(osp.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(text)


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
