"""The benchmark table (mosic_mm.apis.evaluate.bench_table): ours beside
the reference numbers of the backbone's size, every reference number with
its source, unverified ones marked ``*`` wherever printed."""
import pytest

from mosic_mm.apis.evaluate import bench_table
from mosic_mm.evaluation.benchmarks import BENCHMARKS
from mosic_mm.evaluation.references import (
    ARCHS,
    is_verified,
    reference_numbers,
    reference_sources,
)


def _result(n, a, value=0.5):
    b = BENCHMARKS[n]
    return dict(arch=a, metrics={m: value for m in b.metrics},
                data_root='d', protocol='p', notes=[],
                reference=reference_numbers(n, a),
                reference_source=reference_sources(n, a))


def _ref_cells(row):
    """The reference cells of a Markdown table row (one model column)."""
    return row.strip('| ').split(' | ')[3:]


def test_table_prints_paper_numbers_for_matching_backbone():
    r = _result('voc-overcluster', 'ViT-S/14')
    r['metrics'] = {'mIoU K=21': 0.5, 'mIoU K=500': 0.6}
    md = bench_table({'voc-overcluster': {'m': r}}, ['m'], 'paper')
    assert 'ref DINOv2 ViT-S/14 | ref MoSiC ViT-S/14' in md
    assert '| voc-overcluster | mIoU K=500 | 60.00 | 58.6* | 60.2* |' in md
    assert '| voc-overcluster | mIoU K=21 | 50.00 | - | - |' in md
    assert 'Preset: **paper** (the paper protocols)' in md
    fast = bench_table({'voc-overcluster': {'m': r}}, ['m'], 'fast')
    assert 'Preset: **fast**' in fast and 'NOT the paper protocols' in fast


@pytest.mark.parametrize('arch', ARCHS)
def test_bench_table_prints_each_number_with_its_source(arch):
    results = {n: {'m': _result(n, arch)} for n in BENCHMARKS}
    md = bench_table(results, ['m'], 'paper')
    assert 'paper DINOv2' not in md and 'paper MoSiC' not in md
    assert 'NO SOURCE' not in md
    printed = 0
    for n in BENCHMARKS:
        src = reference_sources(n, arch)
        for m, per_model in reference_numbers(n, arch).items():
            for model, v in per_model.items():
                if v is None:
                    continue
                s = src[m][model]
                cell = f'{v:.1f}' + ('' if is_verified(s) else '*')
                assert f'- `{n}` {m}, {model} {arch} = {cell}: {s}' in md
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


def test_vitb14_numbers_printed_as_mosic_vitb14():
    """A ViT-B/14 model on VOC in-context: 65.5 and 80.5 in the column
    "ref MoSiC ViT-B/14", marked unverified, and no DINOv2 ViT-B/14
    number."""
    md = bench_table({'voc-hummingbird': {
        'm': _result('voc-hummingbird', 'ViT-B/14')}}, ['m'], 'paper')
    head = next(r for r in md.splitlines() if r.startswith('| benchmark'))
    assert head == ('| benchmark | metric | m | ref DINOv2 ViT-B/14 | '
                    'ref MoSiC ViT-B/14 |')
    assert '| voc-hummingbird | mIoU 1/128 | 50.00 | - | 65.5* |' in md
    assert '| voc-hummingbird | mIoU 1/1 | 50.00 | - | 80.5* |' in md
    assert '- `voc-hummingbird` mIoU 1/128, MoSiC ViT-B/14 = 65.5*: ' \
        'unverified' in md
    assert '- `voc-hummingbird` mIoU 1/1, MoSiC ViT-B/14 = 80.5*: ' \
        'unverified' in md
    assert 'DINOv2 ViT-B/14 =' not in md


def test_a_number_without_source_is_flagged():
    r = _result('voc-overcluster', 'ViT-S/14')
    r['reference_source'] = {}
    md = bench_table({'voc-overcluster': {'m': r}}, ['m'], 'paper')
    assert '| 58.6* | 60.2* |' in md and 'NO SOURCE' in md
