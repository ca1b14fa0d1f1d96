"""The reference numbers printed beside ours (issue 23 item 11): every
printed number has a source; one not read from a primary source (the MoSiC
paper or its README) is marked unverified wherever it is printed, and
docs/evaluation.md shows the numbers the code holds."""
import re

import pytest

from conftest import REPO
from mosic_mm.apis.evaluate import bench_table
from mosic_mm.evaluation.benchmarks import (BENCHMARKS, UNVERIFIED,
                                            is_verified, reference_numbers,
                                            reference_sources)

ARCHS = ('ViT-S/14', 'ViT-B/14')
# a primary source names the paper's table, row and column, or the
# official README at a commit with its table and row
CITATION = re.compile(r"^(arXiv 2506\.08694v\d+ Table \S+, row '[^']+', "
                     r"column '[^']+'|SMSD75/MoSiC README@[0-9a-f]{7,40}, "
                     r"table '[^']+', row .+)")


def _numbers():
    """(benchmark, arch, metric, model, value, source) of every number."""
    for n in BENCHMARKS:
        for a in ARCHS:
            src = reference_sources(n, a)
            for m, per_model in reference_numbers(n, a).items():
                for model, v in per_model.items():
                    yield n, a, m, model, v, src.get(m, {}).get(model)


def test_every_number_has_a_source_and_only_primary_ones_are_verified():
    nums = list(_numbers())
    assert sum(v is not None for *_, v, _ in nums) == 17  # was 18: 78.9
    for n, a, m, model, v, s in nums:
        if v is None:
            continue
        assert s, f'{n} {m} {model} {a} = {v} has no source'
        assert is_verified(s) == bool(CITATION.match(s)), s
        assert is_verified(s) or s.startswith(UNVERIFIED + ' ('), s
    assert not is_verified(None) and not is_verified('')


def test_neco_number_not_printed_as_dinov2():
    """78.9 is NeCo's linear VOC number (vpariza/NeCo README), not DINOv2's."""
    ref = reference_numbers('voc-linear', 'ViT-S/14')['mIoU']
    assert ref == dict(DINOv2=None, MoSiC=79.7)
    assert 'NeCo' in reference_sources('voc-linear', 'ViT-S/14')['mIoU'][
        'DINOv2']


def _ref_cells(row):
    """The reference cells of a Markdown table row of :func:`bench_table`
    (one model column)."""
    return row.strip('| ').split(' | ')[3:]


def _result(n, a):
    b = BENCHMARKS[n]
    return dict(arch=a, metrics={m: 0.5 for m in b.metrics}, data_root='d',
                protocol='p', notes=[], reference=reference_numbers(n, a),
                reference_source=reference_sources(n, a))


@pytest.mark.parametrize('arch', ARCHS)
def test_bench_table_prints_each_number_with_its_source(arch):
    results = {n: {'m': _result(n, arch)} for n in BENCHMARKS}
    md = bench_table(results, ['m'], 'paper')
    assert 'paper DINOv2' not in md and 'paper MoSiC' not in md
    assert 'NO SOURCE' not in md
    printed = 0
    for n, a, m, model, v, s in _numbers():
        if a != arch or v is None:
            continue
        cell = f'{v:.1f}' + ('' if is_verified(s) else '*')
        assert f'- `{n}` {m}, {model} {a} = {cell}: {s}' in md
        row = next(r for r in md.splitlines()
                   if r.startswith(f'| {n} | {m} |'))
        assert cell in _ref_cells(row), (row, cell)
        printed += 1
    assert printed == {'ViT-S/14': 15, 'ViT-B/14': 2}[arch]
    # no reference cell shows an unverified number without its mark
    for r in md.splitlines():
        if r.startswith('| ') and not r.startswith('| benchmark'):
            for c in _ref_cells(r):
                assert c == '-' or c.endswith('*'), r


def test_a_number_without_source_is_flagged():
    r = _result('voc-overcluster', 'ViT-S/14')
    r['reference_source'] = {}
    md = bench_table({'voc-overcluster': {'m': r}}, ['m'], 'paper')
    assert '| 58.6* | 60.2* |' in md and 'NO SOURCE' in md


def test_docs_table_shows_the_code_numbers():
    """docs/evaluation.md's per-cell table: the numbers (and marks) the
    code prints, in the benchmark's metric order."""
    with open(f'{REPO}/docs/evaluation.md') as f:
        text = f.read()
    rows = re.findall(r'^\| [^|]+ \| `python tools/evaluate.py bench '
                      r'(\S+) [^`]*` \| ([^|]*) \| ([^|]*) \| ([^|]*) \|$',
                      text, re.M)
    assert {r[0] for r in rows} == set(BENCHMARKS)
    for n, s_dino, s_mosic, b_mosic in rows:
        s_ref, b_ref = (reference_numbers(n, a) for a in ARCHS)
        s_src, b_src = (reference_sources(n, a) for a in ARCHS)
        metrics = [m for m in BENCHMARKS[n].metrics if m in s_ref]

        def cells(ref, src, model):
            out = [ref[m][model] for m in metrics]
            if all(v is None for v in out):
                return '-'
            return ' / '.join(
                '-' if v is None else f'{v:.1f}' + (
                    '' if is_verified(src[m].get(model)) else '*')
                for v, m in zip(out, metrics))
        assert [s_dino, s_mosic, b_mosic] == [
            cells(s_ref, s_src, 'DINOv2'), cells(s_ref, s_src, 'MoSiC'),
            cells(b_ref, b_src, 'MoSiC')], n
