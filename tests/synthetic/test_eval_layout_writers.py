"""The writers of synthetic data in the real evaluation layouts
(mosic_mm.synthetic.layouts): deterministic, fast, and refusing an unknown
layout."""
import os
import os.path as osp
import time

import pytest

from mosic_mm.synthetic import (
    make_ade_layout,
    make_davis_layout,
    make_voc_layout,
    make_ytvos_layout,
)


@pytest.mark.parametrize('writer', [make_voc_layout, make_ade_layout,
                                    make_davis_layout, make_ytvos_layout])
def test_layout_writers_are_deterministic_and_fast(tmp_path, writer):
    t0 = time.perf_counter()
    writer(str(tmp_path / 'a'))
    assert time.perf_counter() - t0 < 2.0
    writer(str(tmp_path / 'b'))
    files = 0
    for d, _, names in os.walk(str(tmp_path / 'a')):
        for f in names:
            a = osp.join(d, f)
            b = osp.join(str(tmp_path / 'b'),
                         osp.relpath(a, str(tmp_path / 'a')))
            with open(a, 'rb') as fa, open(b, 'rb') as fb:
                assert fa.read() == fb.read(), a
            files += 1
    assert files > 0


def test_unknown_voc_layout(tmp_path):
    with pytest.raises(ValueError, match='layout'):
        make_voc_layout(str(tmp_path / 'x'), layout='coco')
