"""The paper's reference numbers, as data: one record per number with the
source it was read from (docs/evaluation.md lists them per table cell).

A source that starts with :data:`UNVERIFIED` was not read from a primary
source (the MoSiC paper, arXiv 2506.08694, or the SMSD75/MoSiC README);
such a number is printed with ``*`` and never as the paper's. None: a
number no source gives.
"""
import copy
from typing import Dict, NamedTuple, Optional

__all__ = ['Reference', 'REFERENCES', 'UNVERIFIED', 'SUMMARY', 'PRIMARY',
           'ARCHS', 'is_verified', 'reference_numbers', 'reference_sources']

S14, B14 = 'ViT-S/14', 'ViT-B/14'
#: the backbones the paper reports
ARCHS = (S14, B14)

#: the prefix of the source of every number not read from a primary source
UNVERIFIED = 'unverified: secondary summary'
#: the secondary summary all reference numbers were taken from; the MoSiC
#: paper's tables could not be read here and SMSD75/MoSiC README@fed4637
#: gives no numbers (docs/evaluation.md)
SUMMARY = ('en.papernotes.org/ICCV2025/self_supervised/mosic_optimal-'
           'transport_motion_trajectory_for_dense_self-supervised_learning')
#: how a primary source starts: a table of the paper, or the official
#: README at a commit (e.g. "arXiv 2506.08694v2 Table 1, row '...', column
#: '...'")
PRIMARY = ('arXiv 2506.08694', 'SMSD75/MoSiC README@')


class Reference(NamedTuple):
    """One number of the paper: benchmark, metric (a result key of the
    benchmark), backbone, model ('DINOv2' start or 'MoSiC'), mIoU x100 or
    None, and where it comes from."""
    benchmark: str
    metric: str
    arch: str
    model: str
    value: Optional[float]
    source: str


def _table(row: str, col: str) -> str:
    return f'{UNVERIFIED} ({SUMMARY}, table "Main Results", row "{row}", ' \
        f'column "{col}")'


def _s14(benchmark: str, metric: str, row: str, dino: float,
         mosic: float) -> list:
    """The ViT-S/14 DINOv2 and MoSiC cells of one row of the summary."""
    return [Reference(benchmark, metric, S14, 'DINOv2', dino,
                      _table(row, 'DINOv2-S14')),
            Reference(benchmark, metric, S14, 'MoSiC', mosic,
                      _table(row, 'MoSiC-S14'))]


def _b14_text(what: str) -> str:
    """A MoSiC ViT-B/14 number, which the summary gives in its text below
    the table (MoSiC trained from DINOv2 ViT-B/14; no DINOv2 B/14 number)."""
    return f'{UNVERIFIED} ({SUMMARY}, "Main Results" text: "MoSiC-B14 ' \
        f'... {what}")'


_ICL, _VSS = 'In-context Scene Understanding', \
    'Unsupervised Video Semantic Seg.'
_NECO_78_9 = (
    'not given: the 78.9 the secondary summary puts here is, in '
    'vpariza/NeCo README@fccbdfd (and earlier; table "some of our results '
    'on Pascal VOC 2012 based on DINOv2 backbone", row "DINOv2 | ViT-S/14", '
    'column "linear"), NeCo post-trained from DINOv2 ViT-S/14, not DINOv2 '
    '(README@3932160 now gives 81.4 there); the MoSiC paper\'s DINOv2 '
    'number was not found')

#: every reference number
REFERENCES = (
    *_s14('voc-hummingbird', 'mIoU 1/128', f'{_ICL} | Pascal VOC (1/128)',
          56.0, 62.5),
    *_s14('voc-hummingbird', 'mIoU 1/1', f'{_ICL} | Pascal VOC (1/1)', 77.0,
          78.2),
    # MoSiC ViT-B/14 on VOC in-context at 1/128 and 1/1 of the training set
    Reference('voc-hummingbird', 'mIoU 1/128', B14, 'MoSiC', 65.5,
              _b14_text('Pascal VOC in-context (1/128) reaches 65.5')),
    Reference('voc-hummingbird', 'mIoU 1/1', B14, 'MoSiC', 80.5,
              _b14_text('and (1/1) reaches 80.5')),
    *_s14('ade-hummingbird', 'mIoU 1/1', f'{_ICL} | ADE20K (1/1)', 38.8,
          40.7),
    Reference('voc-linear', 'mIoU', S14, 'DINOv2', None, _NECO_78_9),
    Reference('voc-linear', 'mIoU', S14, 'MoSiC', 79.7,
              _table('Linear Segmentation | Pascal VOC', 'MoSiC-S14')),
    *_s14('ade-linear', 'mIoU', 'Linear Segmentation | ADE20K', 37.9, 39.6),
    *_s14('voc-overcluster', 'mIoU K=500',
          'Frozen Clustering | Pascal VOC (K=500)', 58.6, 60.2),
    *_s14('davis-videoclust', 'mIoU', f'{_VSS} | DAVIS (F-Clustering)',
          57.4, 58.9),
    *_s14('ytvos-videoclust', 'mIoU', f'{_VSS} | YTVOS (F-Clustering)',
          56.3, 60.6),
)


def is_verified(source: Optional[str]) -> bool:
    """Whether a reference number's ``source`` is a primary one (None, no
    source, is not)."""
    return bool(source) and source.startswith(PRIMARY)


def _tables(benchmark: str):
    """{arch: {metric: {'DINOv2', 'MoSiC'}}} values and sources of
    ``benchmark``: every model of a listed metric present for both archs
    (None / no source where no record gives it)."""
    rows = [r for r in REFERENCES if r.benchmark == benchmark]
    metrics = list(dict.fromkeys(r.metric for r in rows))
    ref = {a: {m: dict(DINOv2=None, MoSiC=None) for m in metrics}
           for a in ARCHS} if rows else {}
    src = {a: {m: {} for m in metrics} for a in ARCHS} if rows else {}
    for r in rows:
        ref[r.arch][r.metric][r.model] = r.value
        src[r.arch][r.metric][r.model] = r.source
    return ref, src


def reference_numbers(benchmark: str, arch: Optional[str]
                      ) -> Dict[str, Dict[str, Optional[float]]]:
    """{metric: {'DINOv2': x100 | None, 'MoSiC': x100 | None}} of the paper
    for ``arch``; {} when the arch or benchmark has none."""
    return copy.deepcopy(_tables(benchmark)[0].get(arch, {})) if arch \
        else {}


def reference_sources(benchmark: str, arch: Optional[str]
                      ) -> Dict[str, Dict[str, str]]:
    """{metric: {'DINOv2': source, 'MoSiC': source}} of the numbers of
    :func:`reference_numbers` (a model without a number may lack one)."""
    return copy.deepcopy(_tables(benchmark)[1].get(arch, {})) if arch \
        else {}
