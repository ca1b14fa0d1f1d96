"""Named paper benchmarks (issue 12): registry constants, reference lookup,
every benchmark end to end on synthetic data in its real layout (fast
preset, tiny ViT), the tools/evaluate.py bench / all-paper table, and
rank-sharded feature extraction (2 gloo processes == 1)."""
import json
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import (REPO, SYNTHETIC_CONFIG, TINY_ARCH, free_port, load_tool,
                      spawn_gloo)
from mosic_mm.evaluation.benchmarks import (BENCHMARKS, detect_arch,
                                            reference_numbers,
                                            reference_sources, run_benchmark,
                                            settings_of)
from mosic_mm.evaluation.features import (build_backbone, extract_features,
                                          shard_range)


def _tool():
    return load_tool('evaluate.py')


@pytest.fixture(autouse=True, scope='module')
def _faiss_one_thread():
    """faiss's OpenMP K-means spins on an oversubscribed 2-core box
    (3.3 s -> 0.07 s per tiny K-means measured); restored afterwards."""
    import faiss
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    """A training config with a tiny ViT/14 (56 px -> 4x4 tokens; 64 dims,
    the paper protocols' PCA-50 needs >= 50)."""
    d = tmp_path_factory.mktemp('cfg')
    path = d / 'tiny.py'
    arch = dict(TINY_ARCH, embed_dims=64, feedforward_channels=128)
    path.write_text(
        f"_base_ = [{SYNTHETIC_CONFIG!r}]\n"
        f"model = dict(backbone=dict(arch=dict(_delete_=True, "
        f"**{arch!r}), img_size=56))\n")
    return str(path)


@pytest.fixture(scope='module')
def layouts(tmp_path_factory):
    """Synthetic data in the VOC (devkit), ADE20K, DAVIS 2017, YT-VOS 2019
    layouts -> {dataset: root}."""
    from mosic_mm.synthetic import (make_ade_layout, make_davis_layout,
                                    make_voc_layout, make_ytvos_layout)
    base = tmp_path_factory.mktemp('layouts')
    roots = {k: str(base / k) for k in ('voc2012', 'ade20k', 'davis2017',
                                        'ytvos2019')}
    make_voc_layout(roots['voc2012'], n_train=4, n_val=3, size=48)
    make_ade_layout(roots['ade20k'], n_train=4, n_val=3, size=48)
    make_davis_layout(roots['davis2017'], n_videos=2, n_frames=4, size=48)
    make_ytvos_layout(roots['ytvos2019'], n_videos=2, n_frames=4, size=48)
    return roots


# ------------------------------------------------------------- constants
def test_registry_names_and_datasets():
    assert list(BENCHMARKS) == [
        'voc-hummingbird', 'ade-hummingbird', 'voc-linear', 'ade-linear',
        'voc-overcluster', 'davis-videoclust', 'ytvos-videoclust',
        'davis-propagate']
    ds = {n: (b.task, b.dataset, b.splits) for n, b in BENCHMARKS.items()}
    assert ds['voc-hummingbird'] == ('hummingbird', 'voc2012',
                                     dict(train='trainaug', val='val'))
    assert ds['ade-hummingbird'] == ('hummingbird', 'ade20k',
                                     dict(train='training',
                                          val='validation'))
    assert ds['voc-overcluster'] == ('overcluster', 'voc2012',
                                     dict(val='val'))
    assert ds['davis-videoclust'][1:] == ('davis2017', dict(val='val'))
    assert ds['ytvos-videoclust'][1] == 'ytvos2019'
    assert ds['davis-propagate'][:2] == ('propagate', 'davis2017')


def test_paper_constants_match_issue_12():
    hb = settings_of('voc-hummingbird')
    assert (hb['input_size'], hb['memory_size'], hb['k'],
            hb['temperature'], hb['augmentation_epochs'],
            hb['fractions'], hb['index']) == (518, 10_240_000, 30, 0.02, 2,
                                              (128, 1), 'exact')
    assert settings_of('ade-hummingbird')['fractions'] == (1, )
    for n in ('voc-linear', 'ade-linear'):
        s = settings_of(n)
        assert (s['input_size'], s['score_size'], s['lr'], s['epochs']) == (
            448, 100, 0.01, 25)
    oc = settings_of('voc-overcluster')
    assert (oc['num_images'], oc['input_size'], oc['ks'], oc['pca_dim'],
            oc['niter'], oc['reported_k']) == (500, 224, (21, 100, 300, 500),
                                                50, 20, 500)
    for n in ('davis-videoclust', 'ytvos-videoclust'):
        vc = settings_of(n)
        assert (vc['input_size'], vc['num_frames'], vc['batch_size'],
                vc['num_clusters'], vc['pca_dim'], vc['niter'], vc['nredo'],
                vc['kmeans_seed'], vc['mode']) == (224, 4, 16, 10, 50, 50, 5,
                                                   1, 'frame')
    pr = settings_of('davis-propagate')
    assert (pr['n_context'], pr['radius'], pr['topk'], pr['temperature'],
            pr['resolution']) == (7, 12, 5, 0.1, '480p')
    # fast presets change sizes only, never the protocol's maths
    for n in BENCHMARKS:
        paper, fast = settings_of(n, 'paper'), settings_of(n, 'fast')
        changed = {k for k in paper if paper[k] != fast.get(k)}
        assert changed <= {'input_size', 'memory_size', 'batch_size',
                           'score_size', 'epochs', 'mask_size', 'num_images',
                           'eval_size'}, (n, changed)
    with pytest.raises(ValueError, match='preset'):
        settings_of('voc-linear', 'quick')
    with pytest.raises(KeyError, match='known'):
        settings_of('voc-hummingbirds')


def test_reference_numbers_and_arch_detection():
    from mmpretrain.models import VisionTransformer
    s14 = VisionTransformer(arch='dinov2-s', img_size=28, patch_size=14)
    b14 = VisionTransformer(arch='base', img_size=28, patch_size=14)
    s16 = VisionTransformer(arch='dinov2-s', img_size=32, patch_size=16)
    tiny = VisionTransformer(arch=dict(TINY_ARCH), img_size=28,
                             patch_size=14)
    assert [detect_arch(v) for v in (s14, b14, s16, tiny)] == [
        'ViT-S/14', 'ViT-B/14', None, None]
    # docs/evaluation.md (reference numbers per table cell), ViT-S/14:
    # DINOv2 vs MoSiC; sources: tests/test_paper_numbers.py
    expect = {'voc-hummingbird': {'mIoU 1/128': (56.0, 62.5),
                                  'mIoU 1/1': (77.0, 78.2)},
              'ade-hummingbird': {'mIoU 1/1': (38.8, 40.7)},
              'voc-linear': {'mIoU': (None, 79.7)},
              'ade-linear': {'mIoU': (37.9, 39.6)},
              'voc-overcluster': {'mIoU K=500': (58.6, 60.2)},
              'davis-videoclust': {'mIoU': (57.4, 58.9)},
              'ytvos-videoclust': {'mIoU': (56.3, 60.6)},
              'davis-propagate': {}}
    for n, metrics in expect.items():
        got = reference_numbers(n, 'ViT-S/14')
        assert {m: (r['DINOv2'], r['MoSiC']) for m, r in got.items()} \
            == metrics, n
        for m in got:
            assert m in BENCHMARKS[n].metrics
    b = reference_numbers('voc-hummingbird', 'ViT-B/14')
    assert (b['mIoU 1/128']['MoSiC'], b['mIoU 1/1']['MoSiC']) == (65.5, 80.5)
    assert reference_numbers('voc-linear', None) == {}


# ------------------------------------------------------------ end to end
_FAST_RUNS = ['voc-hummingbird', 'ade-hummingbird', 'voc-overcluster',
              'davis-videoclust', 'ytvos-videoclust', 'davis-propagate']


@pytest.mark.parametrize('name', _FAST_RUNS)
def test_benchmark_end_to_end_fast(name, tiny_config, layouts):
    vit, info = build_backbone(tiny_config)
    b = BENCHMARKS[name]
    r = run_benchmark(name, vit, info, layouts[b.dataset], 'fast',
                      progress=False)
    assert r['preset'] == 'fast' and r['arch'] is None
    assert tuple(r['metrics']) == b.metrics
    assert all(0.0 <= v <= 1.0 for v in r['metrics'].values())
    assert r['settings'] == settings_of(name, 'fast')
    if b.task == 'hummingbird':      # no official split file: generated
        assert any('generated' in n for n in r['notes']) == (
            name == 'voc-hummingbird')


@pytest.mark.parametrize('name', ['voc-linear', 'ade-linear'])
def test_linear_benchmark_end_to_end_fast(name, tiny_config, layouts,
                                          tmp_path):
    """The mmseg linear config of the benchmark, the model's own frozen
    backbone: the probe trains and its head changes, the backbone not."""
    vit, info = build_backbone(tiny_config)
    before = {k: v.clone() for k, v in vit.state_dict().items()}
    b = BENCHMARKS[name]
    r = run_benchmark(name, vit, info, layouts[b.dataset], 'fast',
                      progress=False, work_dir=str(tmp_path))
    assert tuple(r['metrics']) == ('mIoU', )
    assert 0.0 <= r['metrics']['mIoU'] <= 1.0
    assert any('linear_vits14' in n for n in r['notes'])
    for k, v in vit.state_dict().items():
        assert torch.equal(v, before[k]), k


@pytest.mark.parametrize('arch,width', [('dinov2-s', 's'), ('base', 'b')])
@pytest.mark.parametrize('name', ['voc-linear', 'ade-linear'])
def test_linear_paper_config(name, arch, width):
    """The paper preset runs the repository's NeCo-protocol mmseg config of
    the backbone's width unchanged: 448 px, scored at 100x100, SGD 0.01,
    25 epochs, SyncBN, the MODEL's backbone frozen and loaded."""
    from mmpretrain.models import VisionTransformer
    from mosic_mm.evaluation.linear_benchmark import linear_config
    vit = VisionTransformer(arch=arch, img_size=28, patch_size=14)
    b = BENCHMARKS[name]
    bb = dict(type='VisionTransformer', arch=arch, img_size=224,
              patch_size=14, layer_scale_init_value=1e-5)
    info = dict(mean=(1., 2., 3.), std=(4., 5., 6.))
    cfg = linear_config(b, vit, info, '/data/x', settings_of(name), '/wd',
                        bb, '/wd/backbone.pth')
    ds = {'voc-linear': 'voc12aug', 'ade-linear': 'ade20k'}[name]
    assert osp.basename(cfg.filename) == f'linear_vit{width}14_{ds}.py'
    m = cfg.model
    assert m.backbone.type == 'mmpretrain.VisionTransformer'
    assert (m.backbone.img_size, m.backbone.frozen_stages,
            m.backbone.init_cfg.checkpoint, m.backbone.init_cfg.prefix) == (
        448, 12, '/wd/backbone.pth', 'backbone.')
    assert m.decode_head.in_channels == {'s': 384, 'b': 768}[width]
    assert m.decode_head.norm_cfg.type == 'SyncBN'
    assert tuple(m.data_preprocessor.size) == (448, 448)
    assert tuple(m.data_preprocessor.mean) == (1., 2., 3.)
    test = {t['type']: t for t in cfg.test_dataloader.dataset.pipeline}
    assert test['Resize']['scale'] == (448, 448)
    assert test['ResizeSegMap']['size'] == 100
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.train_cfg.max_epochs == 25
    assert cfg.train_dataloader.batch_size == 8
    roots = ([d.data_root for d in cfg.train_dataloader.dataset.datasets]
             if name == 'voc-linear'
             else [cfg.train_dataloader.dataset.data_root])
    assert set(roots) == {'/data/x'} == {cfg.val_dataloader.dataset.data_root}
    # one process runs several probes: each Runner gets its own logger and
    # visualizer names (mmengine's default is the time in seconds)
    again = linear_config(b, vit, info, '/data/x', settings_of(name), '/wd',
                          bb, '/wd/backbone.pth')
    assert cfg.experiment_name.startswith(name)
    assert again.experiment_name != cfg.experiment_name
    # (seg_runtime.py names its visualizer: without this the second probe
    # would save into the first one's work_dir)
    assert cfg.visualizer.name == cfg.experiment_name
    assert again.visualizer.name == again.experiment_name


def test_bad_data_root_names_the_folder(tiny_config, tmp_path):
    vit, info = build_backbone(tiny_config)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'nope')):
        run_benchmark('voc-overcluster', vit, info, str(tmp_path / 'nope'),
                      'fast', progress=False)


# ------------------------------------------------------------ the tool
def test_data_root_overrides():
    from mosic_mm.apis import evaluate as tool
    names = ['voc-hummingbird', 'voc-linear', 'davis-propagate']
    got = tool.data_roots(['/all', 'voc2012=/voc', 'voc-linear=/lin'], names)
    assert got == {'voc-hummingbird': '/voc', 'voc-linear': '/lin',
                   'davis-propagate': '/all'}
    assert tool.data_roots([], ['davis-propagate']) == {
        'davis-propagate': 'data/DAVIS'}
    with pytest.raises(ValueError, match='neither a dataset'):
        tool.data_roots(['vocc=/x'], names)


def test_all_paper_table(tiny_config, layouts, tmp_path, capsys):
    """all-paper on two models (config init and its exported weights: the
    same numbers), one Markdown + JSON table naming the fast preset."""
    vit, _ = build_backbone(tiny_config)
    path = str(tmp_path / 'backbone.pth')
    torch.save({'state_dict': {f'backbone.{k}': v
                               for k, v in vit.state_dict().items()}}, path)
    out = tmp_path / 'out'
    res = _tool().main([
        'all-paper', tiny_config, path, '--config', tiny_config,
        '--benchmarks', 'voc-overcluster', 'davis-propagate',
        '--preset', 'fast', '--data-root', f'voc2012={layouts["voc2012"]}',
        '--data-root', f'davis2017={layouts["davis2017"]}',
        '--out-dir', str(out), '--no-progress'])
    md = (out / 'all-paper_fast.md').read_text()
    js = json.loads((out / 'all-paper_fast.json').read_text())
    assert 'Preset: **fast**' in md and 'NOT the paper protocols' in md
    assert md in capsys.readouterr().out
    assert js['preset'] == 'fast' and len(js['columns']) == 2
    for n in ('voc-overcluster', 'davis-propagate'):
        a, b = (res[n][c]['metrics'] for c in js['columns'])
        assert a == pytest.approx(b)
        for m, v in a.items():
            assert f'| {n} | {m} | {100 * v:.2f} | {100 * v:.2f} |' in md
    # bench NAME: the single-benchmark form, its own file name
    _tool().main(['bench', 'davis-propagate', tiny_config, '--preset',
                  'fast', '--data-root', layouts['davis2017'], '--out-dir',
                  str(out), '--no-progress'])
    assert (out / 'davis-propagate_fast.json').is_file()


def test_bench_fast_without_data_root(tiny_config, tmp_path, monkeypatch):
    """`bench NAME --preset fast` with no --data-root runs on the layout it
    writes, and gives the numbers of an explicit run on that root."""
    from mosic_mm.apis.evaluate import data_roots
    from mosic_mm.evaluation import synthetic_data
    cache = tmp_path / 'cache'
    monkeypatch.setattr(synthetic_data, 'LAYOUT_CACHE', str(cache))
    assert data_roots([], ['davis-propagate'], 'fast') == {
        'davis-propagate': None}
    tool = _tool()
    common = ['--preset', 'fast', '--no-progress']
    res = tool.main(['bench', 'davis-propagate', tiny_config, *common,
                     '--out-dir', str(tmp_path / 'a')])
    r = next(iter(res['davis-propagate'].values()))
    assert r['data_root'] == str(cache / 'davis2017')
    assert any('synthetic davis2017 layout' in n for n in r['notes'])
    again = tool.main(['bench', 'davis-propagate', tiny_config, *common,
                       '--data-root', r['data_root'],
                       '--out-dir', str(tmp_path / 'b')])
    assert next(iter(again['davis-propagate'].values()))['metrics'] == \
        r['metrics']


def test_table_prints_paper_numbers_for_matching_backbone():
    from mosic_mm.apis import evaluate as tool
    r = dict(arch='ViT-S/14', metrics={'mIoU K=21': 0.5, 'mIoU K=500': 0.6},
             reference=reference_numbers('voc-overcluster', 'ViT-S/14'),
             data_root='d', protocol='p', notes=[],
             reference_source=reference_sources('voc-overcluster', 'ViT-S/14'))
    md = tool.bench_table({'voc-overcluster': {'m': r}}, ['m'], 'paper')
    assert 'ref DINOv2 ViT-S/14 | ref MoSiC ViT-S/14' in md
    assert '| voc-overcluster | mIoU K=500 | 60.00 | 58.6* | 60.2* |' in md
    assert '| voc-overcluster | mIoU K=21 | 50.00 | - | - |' in md
    assert 'Preset: **paper** (the paper protocols)' in md


# ----------------------------------------------------------- distributed
@pytest.mark.parametrize('n,ws', [(7, 2), (1, 2), (5, 3), (6, 1)])
def test_shard_range_contiguous_cover(n, ws):
    shards = [shard_range(n, r, ws) for r in range(ws)]
    assert [i for s in shards for i in s] == list(range(n))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def _tiny_vit():
    from mmpretrain.models import VisionTransformer
    torch.manual_seed(0)
    vit = VisionTransformer(arch=dict(TINY_ARCH), img_size=28, patch_size=14,
                            out_type='featmap')
    vit.eval()
    return vit


def _images(n=5):
    return np.random.default_rng(0).integers(0, 255, (n, 30, 34, 3),
                                             dtype=np.uint8)


def _rank_features(rank, out_dir):
    f = extract_features(_tiny_vit(), _images(), 28, (0, 0, 0),
                         (255, 255, 255), batch_size=2, distributed=True)
    np.save(osp.join(out_dir, f'rank{rank}.npy'), f)


def test_two_rank_extraction_equals_one_process(tmp_path):
    """5 images on 2 gloo ranks (shards 3 / 2), gathered: every rank holds
    exactly the single-process features, in order."""
    spawn_gloo(_rank_features, tmp_path)
    single = extract_features(_tiny_vit(), _images(), 28, (0, 0, 0),
                              (255, 255, 255), batch_size=2)
    assert single.shape == (5, 32, 2, 2)
    for r in range(2):
        np.testing.assert_allclose(np.load(tmp_path / f'rank{r}.npy'),
                                   single, rtol=0, atol=1e-5)


@pytest.mark.slow
def test_dist_evaluate_two_processes_equal_one(tiny_config, layouts,
                                               tmp_path):
    """tools/dist_evaluate.sh 2 (torchrun, gloo on CPU): the same table as
    one process, written and printed by rank 0 only."""
    import os
    import subprocess
    common = ['bench', 'voc-overcluster', tiny_config, '--preset', 'fast',
              '--data-root', layouts['voc2012'], '--no-progress']
    env = dict(os.environ, PORT=str(free_port()), OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [osp.join(REPO, 'tools', 'dist_evaluate.sh'), '2', *common,
         '--out-dir', str(tmp_path / 'dist')], cwd=REPO, env=env,
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('| voc-overcluster | mIoU K=500 |') == 1
    assert proc.stderr.count('wrote ') == 1
    dist_js = json.loads(
        (tmp_path / 'dist' / 'voc-overcluster_fast.json').read_text())
    assert dist_js['world_size'] == 2
    single = _tool().main([*common, '--out-dir', str(tmp_path / 'one')])
    got = next(iter(dist_js['results']['voc-overcluster'].values()))
    want = next(iter(single['voc-overcluster'].values()))
    assert got['metrics'] == pytest.approx(want['metrics'], abs=1e-6)


def test_non_square_input():
    vit = _tiny_vit()
    f = extract_features(vit, _images(2), (28, 42), (0, 0, 0), (1, 1, 1))
    assert f.shape == (2, 32, 2, 3)
    with pytest.raises(ValueError, match='multiple of the patch'):
        extract_features(vit, _images(2), (28, 40), (0, 0, 0), (1, 1, 1))


def test_overcluster_follows_the_official_run():
    """Issue 23 items 8-10: the official main_overclustering normalises with
    blue std 0.255 (evaluation.py:893), clusters "K = 100/300/500" with
    50/100/200 centroids (evaluation.py:396-398) and lets faiss subsample
    the PCA rows; the synthetic preset keeps the measured mini settings."""
    for preset in ('paper', 'fast'):
        oc = settings_of('voc-overcluster', preset)
        assert oc['mean'] == (0.485, 0.456, 0.406), preset
        assert oc['std'] == (0.229, 0.224, 0.255), preset
        assert (oc['nominal_k'], oc['pca_subsample'],
                oc['pca_max_points_per_dim']) == (False, 'faiss', 1000)
    from mosic_mm.evaluation.benchmarks import SYNTHETIC_BENCHMARKS
    syn = SYNTHETIC_BENCHMARKS['overcluster'].settings['fast']
    assert (syn['mean'], syn['std'], syn['pca_subsample']) == (None, None,
                                                              'numpy')
