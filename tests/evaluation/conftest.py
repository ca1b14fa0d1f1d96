"""Fixtures of the evaluation tests: faiss on one thread, a tiny training
config and synthetic data in the real dataset layouts."""
import pytest

#: a ViT/14 of 64 dims (the paper protocols' PCA-50 needs >= 50) at 56 px
_EVAL_ARCH = dict(embed_dims=64, num_layers=2, num_heads=2,
                  feedforward_channels=128)


@pytest.fixture(autouse=True, scope='module')
def _faiss_one_thread():
    """faiss's OpenMP K-means spins on an oversubscribed 2-core box
    (3.3 s -> 0.07 s per tiny K-means measured); restored afterwards."""
    import faiss
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope='session')
def tiny_eval_config(tmp_path_factory, synthetic_config) -> str:
    """A training config (configs/mosic_vits_synthetic.py) with a tiny
    ViT/14: 64 dims, 56 px -> 4x4 tokens."""
    path = tmp_path_factory.mktemp('eval_cfg') / 'tiny.py'
    path.write_text(
        f'_base_ = [{synthetic_config!r}]\n'
        f'model = dict(backbone=dict(arch=dict(_delete_=True, '
        f'**{_EVAL_ARCH!r}), img_size=56))\n')
    return str(path)


@pytest.fixture(scope='session')
def eval_layouts(tmp_path_factory) -> dict:
    """Synthetic data in the VOC (devkit), ADE20K, DAVIS 2017 and YT-VOS
    2019 layouts -> {dataset: root}."""
    from mosic_mm.synthetic import (
        make_ade_layout,
        make_davis_layout,
        make_voc_layout,
        make_ytvos_layout,
    )
    base = tmp_path_factory.mktemp('layouts')
    roots = {k: str(base / k) for k in ('voc2012', 'ade20k', 'davis2017',
                                        'ytvos2019')}
    make_voc_layout(roots['voc2012'], n_train=4, n_val=3, size=48)
    make_ade_layout(roots['ade20k'], n_train=4, n_val=3, size=48)
    make_davis_layout(roots['davis2017'], n_videos=2, n_frames=4, size=48)
    make_ytvos_layout(roots['ytvos2019'], n_videos=2, n_frames=4, size=48)
    return roots
