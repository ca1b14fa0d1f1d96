"""The one table of benchmarks (mosic_mm.evaluation.benchmarks): names,
protocols and datasets, the settings of each preset, and every benchmark
end to end on synthetic data in its real layout (fast preset, tiny ViT)."""
import pytest

from mosic_mm.evaluation.benchmarks import (
    BENCHMARKS,
    benchmark_settings,
    get_benchmark,
    run_benchmark,
)
from mosic_mm.evaluation.features import build_backbone

PAPER = ['voc-hummingbird', 'ade-hummingbird', 'voc-linear', 'ade-linear',
         'voc-overcluster', 'davis-videoclust', 'ytvos-videoclust',
         'davis-propagate']
SYNTHETIC = ['synthetic-hummingbird', 'synthetic-linear',
             'synthetic-overcluster', 'synthetic-videoclust',
             'synthetic-propagate']


def test_table_names_protocols_and_datasets():
    assert list(BENCHMARKS) == PAPER + SYNTHETIC
    ds = {n: (b.protocol, b.dataset, dict(b.splits))
          for n, b in BENCHMARKS.items()}
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
    assert BENCHMARKS['davis-propagate'].reader_args == dict(
        resolution='480p')
    for n in SYNTHETIC:
        assert BENCHMARKS[n].protocol == n.split('-', 1)[1]
        assert BENCHMARKS[n].dataset in ('synthetic_frames',
                                         'synthetic_videos')
    with pytest.raises(KeyError, match='known'):
        get_benchmark('voc-hummingbirds')


def test_benchmark_settings_are_the_paper_protocols():
    hb = benchmark_settings('voc-hummingbird')
    assert (hb.input_size, hb.memory_size, hb.k, hb.temperature,
            hb.augmentation_epochs, hb.fractions, hb.index) == (
        518, 10_240_000, 30, 0.02, 2, (128, 1), 'exact')
    assert benchmark_settings('ade-hummingbird').fractions == (1, )
    for n in ('voc-linear', 'ade-linear'):
        s = benchmark_settings(n)
        assert (s.input_size, s.score_size, s.lr, s.momentum, s.epochs,
                s.batch_size, s.iters) == (448, 100, 0.01, 0.9, 25, 8, None)
    oc = benchmark_settings('voc-overcluster')
    assert (oc.num_images, oc.input_size, oc.ks, oc.pca_dim,
            oc.niter) == (500, 224, (21, 100, 300, 500), 50, 20)
    for n in ('davis-videoclust', 'ytvos-videoclust'):
        vc = benchmark_settings(n)
        assert (vc.input_size, vc.num_frames, vc.batch_size,
                vc.num_clusters, vc.pca_dim, vc.niter, vc.nredo,
                vc.kmeans_seed, vc.mode) == (224, 4, 16, 10, 50, 50, 5, 1,
                                             'frame')
    pr = benchmark_settings('davis-propagate')
    assert (pr.n_context, pr.radius, pr.topk, pr.temperature,
            pr.input_size) == (7, 12, 5, 0.1, 'native')
    with pytest.raises(ValueError, match='preset'):
        benchmark_settings('voc-linear', 'quick')


def test_synthetic_benchmarks_are_the_paper_protocols_at_fast_sizes():
    """Each synthetic-* benchmark (the tools/evaluate.py subcommands) runs a
    paper benchmark's protocol with its fast settings, apart from sizes and
    what the synthetic frames need (one fraction, K from the classes, both
    video clustering modes, the synthetic probe's length and lr); the
    overclustering keeps the backbone's normalisation and the seeded numpy
    PCA rows the mini reproduction was measured with."""
    from mosic_mm.apis.evaluate import SYNTHETIC as SUBCOMMANDS
    base = {'hummingbird': 'voc-hummingbird', 'linear': 'voc-linear',
            'overcluster': 'voc-overcluster',
            'videoclust': 'davis-videoclust',
            'propagate': 'davis-propagate'}
    assert SUBCOMMANDS == {p: f'synthetic-{p}' for p in base}
    allowed = {'input_size', 'mask_size', 'eval_size', 'fractions', 'ks',
               'mode', 'iters', 'batch_size', 'lr'}
    allowed_for = {'overcluster': {'mean', 'std', 'pca_subsample'}}
    for protocol, name in SUBCOMMANDS.items():
        b, paper = BENCHMARKS[name], BENCHMARKS[base[protocol]]
        assert b.protocol == paper.protocol == protocol
        fast = benchmark_settings(paper.name, 'fast').to_dict()
        mine = benchmark_settings(name, 'fast').to_dict()
        changed = {k for k in fast if fast[k] != mine[k]}
        assert changed <= allowed | allowed_for.get(protocol, set()), (
            protocol, changed)


_FAST_RUNS = ['voc-hummingbird', 'ade-hummingbird', 'voc-overcluster',
              'davis-videoclust', 'ytvos-videoclust', 'davis-propagate']


@pytest.mark.parametrize('name', _FAST_RUNS)
def test_benchmark_end_to_end_fast(name, tiny_eval_config, eval_layouts):
    vit, info = build_backbone(tiny_eval_config)
    b = BENCHMARKS[name]
    r = run_benchmark(name, vit, info, eval_layouts[b.dataset], 'fast',
                      progress=False)
    assert r['preset'] == 'fast' and r['arch'] is None
    assert r['benchmark'] == name
    assert r['data_root'] == eval_layouts[b.dataset]
    assert tuple(r['metrics']) == b.metrics
    assert all(0.0 <= v <= 1.0 for v in r['metrics'].values())
    assert r['settings'] == benchmark_settings(name, 'fast').to_dict()
    assert r['deviations'] == list(b.deviations)
    if b.protocol == 'hummingbird':      # no official split file: generated
        assert any('generated' in n for n in r['notes']) == (
            name == 'voc-hummingbird')


def test_bad_data_root_names_the_folder(tiny_eval_config, tmp_path):
    vit, info = build_backbone(tiny_eval_config)
    with pytest.raises(FileNotFoundError, match=str(tmp_path / 'nope')):
        run_benchmark('voc-overcluster', vit, info, str(tmp_path / 'nope'),
                      'fast', progress=False)
