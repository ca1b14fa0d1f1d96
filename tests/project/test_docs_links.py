"""Every document the repository cites lives in it.

Rules checked over the repository's text files (``*.md``, ``*.py``, ``*.sh``,
``*.cfg``, ``*.ini``, ``*.toml``, ``*.txt``, ``*.yml``, ``Makefile``; not
``.git``, ``.venv``, ``work_dirs``, ``data``, ``.cache``, ``checkpoints``):

1. Markdown links. In every ``*.md`` each relative link ``[text](path)`` or
   ``[text](path#anchor)`` (also images and ``[ref]: path`` definitions)
   names a file or folder inside the repository, relative to the Markdown
   file; an anchor into a Markdown file names one of its headings (GitHub's
   slugs). Links with a scheme (``https:``, ``mailto:``) are not checked;
   code blocks and code spans hold no links.
2. Cited Markdown files. Every name ending in ``.md`` in the text resolves to
   a file inside the repository, looked up relative to the repository root,
   then to the citing file's folder, then under ``docs/``: ``docs/tracks.md``
   anywhere, ``tracks.md`` in a file under ``docs/`` and a bare
   ``reproduction.md`` all resolve. In code (``.py``, ``.sh``) a name that is
   a whole string literal (``'out.md'``) is a file the code reads or writes,
   not a citation; names inside URLs are not checked.
3. The design brief kept outside the repository is never cited.

A failure lists ``file:line: what is wrong`` for every broken reference.
"""
import os
import os.path as osp
import re

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

SKIP_DIRS = {
    '.git', '.venv', 'work_dirs', 'data', '.cache', 'checkpoints',
    '__pycache__', 'node_modules', '.pytest_cache'
}
TEXT_SUFFIXES = ('.md', '.py', '.sh', '.cfg', '.ini', '.toml', '.txt', '.yml',
                 '.yaml')
CODE_SUFFIXES = ('.py', '.sh')

# Built from pieces so that this file does not cite what it forbids.
OUTSIDE_BRIEF = re.compile(r'\bDESIGN' + r'\.md\b|\bDESIGN\s*' + '\u00a7')
LINK = re.compile(r'\]\(\s*<?([^)\s>]+)>?(?:\s+["\'][^"\']*["\'])?\s*\)')
REF_DEF = re.compile(r'^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)')
HEADING = re.compile(r'^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$')
FENCE = re.compile(r'^\s{0,3}(```|~~~)')
CODE_SPAN = re.compile(r'`+[^`]*`+')
SCHEME = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')
URL = re.compile(r'[A-Za-z][A-Za-z0-9+.-]*://\S+')
MD_NAME = re.compile(r'(?<![\w./])([\w.][\w./-]*\.md)(?!\w)')


def text_files(root):
    """Repository-relative paths of the text files the rules apply to."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs
                         if d not in SKIP_DIRS and not d.endswith('.egg-info'))
        for name in sorted(files):
            if name.endswith(TEXT_SUFFIXES) or name == 'Makefile':
                yield osp.relpath(osp.join(folder, name), root)


def _read_lines(root, rel):
    with open(osp.join(root, rel), encoding='utf-8') as f:
        return f.read().splitlines()


def _prose_lines(lines):
    """(line number, line) of Markdown outside fenced code blocks."""
    fenced = False
    for num, line in enumerate(lines, 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield num, line


def slug(heading):
    """GitHub's anchor of a Markdown heading's text."""
    text = re.sub(r'`([^`]*)`', r'\1', heading)
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', text)
    text = re.sub(r'[^\w\- ]', '', text.strip().lower())
    return text.replace(' ', '-')


def heading_anchors(lines):
    """Every anchor the headings of a Markdown file define."""
    anchors, seen = set(), {}
    for _, line in _prose_lines(lines):
        m = HEADING.match(line)
        if m:
            base = slug(m.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchors.add(base if n == 0 else f'{base}-{n}')
    return anchors


def _inside(root, path):
    root = osp.realpath(root)
    return osp.realpath(path).startswith(root + os.sep)


def broken_links(root, rel):
    """Problems of the relative links of one Markdown file."""
    lines = _read_lines(root, rel)
    here = osp.dirname(osp.join(root, rel))
    problems = []
    for num, line in _prose_lines(lines):
        prose = CODE_SPAN.sub(' ', line)
        targets = LINK.findall(prose)
        ref = REF_DEF.match(prose)
        if ref:
            targets.append(ref.group(1))
        for target in targets:
            if SCHEME.match(target):
                continue
            path, _, anchor = target.partition('#')
            full = osp.normpath(osp.join(here, path)) if path else osp.join(
                root, rel)
            where = f'{rel}:{num}: link {target!r}'
            if not _inside(root, full) or not osp.exists(full):
                problems.append(f'{where}: no such file in the repository')
            elif anchor and full.endswith('.md') and anchor not in \
                    heading_anchors(_read_lines(root, osp.relpath(full, root))):
                problems.append(f'{where}: no heading with anchor '
                                f'#{anchor} in {osp.relpath(full, root)}')
    return problems


def _resolves(root, rel, name):
    for base in (root, osp.dirname(osp.join(root,
                                            rel)), osp.join(root, 'docs')):
        path = osp.normpath(osp.join(base, name))
        if _inside(root, path) and osp.isfile(path):
            return True
    return False


def broken_mentions(root, rel):
    """Problems of the ``*.md`` names and outside citations of one file."""
    problems = []
    is_code = rel.endswith(CODE_SUFFIXES)
    for num, line in enumerate(_read_lines(root, rel), 1):
        if OUTSIDE_BRIEF.search(line):
            problems.append(f'{rel}:{num}: cites the design brief kept '
                            'outside the repository; cite a docs/ page')
            continue
        text = URL.sub(' ', line)
        for m in MD_NAME.finditer(text):
            before = text[m.start() - 1:m.start()]
            after = text[m.end():m.end() + 1]
            if is_code and before in ('"', "'") and after == before:
                continue
            if not _resolves(root, rel, m.group(1)):
                problems.append(f'{rel}:{num}: cites {m.group(1)!r}, which '
                                'is not a file of the repository')
    return problems


def find_problems(root):
    problems = []
    for rel in text_files(root):
        if rel.endswith('.md'):
            problems += broken_links(root, rel)
        problems += broken_mentions(root, rel)
    return problems


def test_every_link_and_cited_document_is_in_the_repository():
    problems = find_problems(REPO)
    assert not problems, ('broken references:\n' + '\n'.join(problems))


def _write(root, rel, text):
    path = root / rel.replace('.MD', '.md')
    path.parent.mkdir(parents=True, exist_ok=True)
    # '.MD' in the sources below, so that this file cites nothing itself
    path.write_text(text.replace('.MD', '.md'))


def test_the_checker_reports_every_kind_of_break_with_its_line(tmp_path):
    _write(
        tmp_path, 'README.MD', '\n'.join([
            '# Top',
            'Good: [a](docs/a.MD), [anchor](docs/a.MD#a-heading-b2), '
            '[dir](docs), [web](https://example.org/x.MD), [self](#top).',
            'Broken: [gone](docs/gone.MD).',
            'Bad anchor: [a](docs/a.MD#no-such-heading), [self](#nothing).',
            'Outside: [up](../outside.MD)',
            '```',
            '[in code](not/checked.MD)',
            '```',
            '`[span](not/checked/either.MD)`',
            '[ref]: docs/missing_ref.MD',
        ]))
    _write(
        tmp_path, 'docs/a.MD', '\n'.join([
            '## A heading: `b/2`',
            'Bare names resolve under docs/: a.MD, and from the root: README.MD.',
            'Missing: b.MD and docs/c.MD.',
        ]))
    _write(
        tmp_path, 'tools/x.py', '\n'.join([
            '"""See docs/a.MD and docs/nowhere.MD."""',
            "out = 'report.MD'  # written by the code, not cited",
            '# as the ' + 'DESIGN' + '.md says',
        ]))
    expected = [
        line.replace('.MD', '.md') for line in [
            "README.MD:3: link 'docs/gone.MD': no such file in the repository",
            "README.MD:4: link 'docs/a.MD#no-such-heading': no heading with "
            'anchor #no-such-heading in docs/a.MD',
            "README.MD:4: link '#nothing': no heading with anchor #nothing in "
            'README.MD',
            "README.MD:5: link '../outside.MD': no such file in the repository",
            "README.MD:5: cites '../outside.MD', which is not a file of the "
            'repository',
            "README.MD:3: cites 'docs/gone.MD', which is not a file of the "
            'repository',
            "README.MD:10: link 'docs/missing_ref.MD': no such file in the "
            'repository',
            "README.MD:10: cites 'docs/missing_ref.MD', which is not a file of "
            'the repository',
            "README.MD:7: cites 'not/checked.MD', which is not a file of the "
            'repository',
            "README.MD:9: cites 'not/checked/either.MD', which is not a file of "
            'the repository',
            "docs/a.MD:3: cites 'b.MD', which is not a file of the repository",
            "docs/a.MD:3: cites 'docs/c.MD', which is not a file of the "
            'repository',
            "tools/x.py:1: cites 'docs/nowhere.MD', which is not a file of the "
            'repository',
            'tools/x.py:3: cites the design brief kept outside the repository; '
            'cite a docs/ page',
        ]
    ]
    assert sorted(find_problems(str(tmp_path))) == sorted(expected)
