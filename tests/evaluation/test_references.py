"""The paper's reference numbers (mosic_mm.evaluation.references): each
with a source, those not read from a primary source (the MoSiC paper or
its README) marked unverified, and docs/evaluation.md showing the numbers
the code holds."""
import os.path as osp
import re

from mosic_mm.evaluation.benchmarks import BENCHMARKS
from mosic_mm.evaluation.references import (
    ARCHS,
    REFERENCES,
    UNVERIFIED,
    is_verified,
    reference_numbers,
    reference_sources,
)

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
    assert sum(v is not None for *_, v, _ in nums) == 17  # no NeCo 78.9
    for n, a, m, model, v, s in nums:
        if v is None:
            continue
        assert s, f'{n} {m} {model} {a} = {v} has no source'
        assert is_verified(s) == bool(CITATION.match(s)), s
        assert is_verified(s) or s.startswith(UNVERIFIED + ' ('), s
    assert not is_verified(None) and not is_verified('')


def test_reference_numbers_per_benchmark():
    """ViT-S/14 DINOv2 vs MoSiC of every benchmark (docs/evaluation.md),
    each a metric of its benchmark; no arch, no numbers."""
    expect = {'voc-hummingbird': {'mIoU 1/128': (56.0, 62.5),
                                  'mIoU 1/1': (77.0, 78.2)},
              'ade-hummingbird': {'mIoU 1/1': (38.8, 40.7)},
              'voc-linear': {'mIoU': (None, 79.7)},
              'ade-linear': {'mIoU': (37.9, 39.6)},
              'voc-overcluster': {'mIoU K=500': (58.6, 60.2)},
              'davis-videoclust': {'mIoU': (57.4, 58.9)},
              'ytvos-videoclust': {'mIoU': (56.3, 60.6)},
              'davis-propagate': {}}
    for n in BENCHMARKS:
        got = reference_numbers(n, 'ViT-S/14')
        assert {m: (r['DINOv2'], r['MoSiC']) for m, r in got.items()} \
            == expect.get(n, {}), n
        for m in got:
            assert m in BENCHMARKS[n].metrics
    assert reference_numbers('voc-linear', None) == {}


def test_vitb14_numbers_are_mosic_voc_in_context():
    """The only ViT-B/14 numbers: MoSiC (trained from DINOv2 ViT-B/14) on
    VOC in-context at 1/128 (65.5) and 1/1 (80.5) of the training set,
    unverified; no DINOv2 ViT-B/14 number."""
    b14 = [(r.benchmark, r.metric, r.model, r.value) for r in REFERENCES
           if r.arch == 'ViT-B/14' and r.value is not None]
    assert b14 == [('voc-hummingbird', 'mIoU 1/128', 'MoSiC', 65.5),
                   ('voc-hummingbird', 'mIoU 1/1', 'MoSiC', 80.5)]
    ref = reference_numbers('voc-hummingbird', 'ViT-B/14')
    assert ref == {'mIoU 1/128': dict(DINOv2=None, MoSiC=65.5),
                   'mIoU 1/1': dict(DINOv2=None, MoSiC=80.5)}
    src = reference_sources('voc-hummingbird', 'ViT-B/14')
    for m, what in (('mIoU 1/128', '(1/128) reaches 65.5'),
                    ('mIoU 1/1', '(1/1) reaches 80.5')):
        assert not is_verified(src[m]['MoSiC'])
        assert 'MoSiC-B14' in src[m]['MoSiC'] and what in src[m]['MoSiC']
        assert 'DINOv2' not in src[m]
    for n in BENCHMARKS:
        if n != 'voc-hummingbird':
            assert not any(v['MoSiC'] or v['DINOv2'] for v in
                           reference_numbers(n, 'ViT-B/14').values()), n


def test_neco_number_not_given_as_dinov2():
    """78.9 is NeCo's linear VOC number (vpariza/NeCo README), not
    DINOv2's."""
    ref = reference_numbers('voc-linear', 'ViT-S/14')['mIoU']
    assert ref == dict(DINOv2=None, MoSiC=79.7)
    assert 'NeCo' in reference_sources('voc-linear', 'ViT-S/14')['mIoU'][
        'DINOv2']


def test_docs_table_shows_the_code_numbers(repo):
    """docs/evaluation.md's per-cell table: the numbers (and marks) the
    code holds, in the benchmark's metric order."""
    with open(osp.join(repo, 'docs', 'evaluation.md')) as f:
        text = f.read()
    rows = re.findall(r'^\| [^|]+ \| `python tools/evaluate.py bench '
                      r'(\S+) [^`]*` \| ([^|]*) \| ([^|]*) \| ([^|]*) \|$',
                      text, re.M)
    paper = {n for n in BENCHMARKS if not n.startswith('synthetic-')}
    assert {r[0] for r in rows} == paper
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
