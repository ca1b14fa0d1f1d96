"""mosic_mm.apis.evaluate: settings checked before anything loads and
passed to the benchmarks that read them, data roots, and an mmseg linear
probe that leaves the caller's registry scope as it was."""

import pytest

from mosic_mm.apis import evaluate
from mosic_mm.apis.evaluate import data_roots, split_settings
from mosic_mm.evaluation.benchmarks import BENCHMARKS


def test_data_root_overrides():
    names = ['voc-hummingbird', 'voc-linear', 'davis-propagate']
    got = data_roots(['/all', 'voc2012=/voc', 'voc-linear=/lin'], names)
    assert got == {'voc-hummingbird': '/voc', 'voc-linear': '/lin',
                   'davis-propagate': '/all'}
    assert data_roots([], ['davis-propagate']) == {
        'davis-propagate': 'data/DAVIS'}
    # the fast preset without a root: synthetic data in the layout
    assert data_roots([], ['davis-propagate'], 'fast') == {
        'davis-propagate': None}
    with pytest.raises(ValueError, match='neither a dataset'):
        data_roots(['vocc=/x'], names)


def test_split_settings_go_to_the_benchmarks_that_read_them():
    names = ['voc-hummingbird', 'voc-linear', 'voc-overcluster']
    got = split_settings(dict(k=5, lr=0.1, input_size=56), names)
    assert got == {'voc-hummingbird': dict(k=5, input_size=56),
                   'voc-linear': dict(lr=0.1, input_size=56),
                   'voc-overcluster': dict(input_size=56)}
    with pytest.raises(KeyError) as e:
        split_settings(dict(standardize=False, k=5), names)
    msg = e.value.args[0]
    assert msg.startswith("'standardize' is not a setting of "
                          'voc-hummingbird, voc-linear, voc-overcluster')
    for key in ('k', 'lr', 'ks', 'pca_dim', 'memory_size'):
        assert key in msg.split('their settings are ')[1]


@pytest.mark.parametrize('key', ['nonsense', 'standardize'])
def test_evaluate_refuses_an_unknown_key_before_loading(key, tmp_path):
    """A key the protocol does not read names itself and the valid ones;
    the model (here a missing file) is never loaded."""
    S = BENCHMARKS['synthetic-overcluster'].Settings
    with pytest.raises(KeyError) as e:
        evaluate(str(tmp_path / 'missing.py'), 'synthetic-overcluster',
                 preset='fast', **{key: 1})
    msg = e.value.args[0]
    assert f'{key!r} is not among the settings of OverclusteringSettings' \
        in msg
    assert msg.endswith(', '.join(S.names()))


def test_evaluate_settings_reach_the_protocol(hummingbird_spy,
                                              synthetic_root,
                                              synthetic_config):
    """``k`` of evaluate(**settings) is the k of the Hummingbird run (its
    neighbours), on top of the fast preset."""
    from mosic_mm.evaluation.features import build_backbone
    seen = hummingbird_spy
    model = build_backbone(synthetic_config)
    r = evaluate(model, 'synthetic-hummingbird', preset='fast',
                 data_root=synthetic_root, progress=False, k=3,
                 temperature=0.5)
    assert [(s.k, s.temperature, s.fractions) for s in seen] == [
        (3, 0.5, (1, ))]
    assert r['metrics'] == {'mIoU 1/1': 0.5}
    assert (r['settings']['k'], r['preset']) == (3, 'fast')


def test_mmseg_linear_probe_leaves_the_registry_scope(
        synthetic_root, synthetic_config, tiny_model_cfg, tmp_path):
    """After an mmseg linear probe (its Runner builds in the 'mmseg'
    scope), the caller's default scope is the one it had, so a MoSiC model
    builds from its config (it raised "MoSiC is not in the mmseg::model
    registry")."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from mosic_mm.registry import MODELS

    def scope():
        s = DefaultScope.get_current_instance()
        return None if s is None else s.scope_name

    before = scope()
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(f'_base_ = [{synthetic_config!r}]\n'
                   'model = dict(backbone=dict(arch=dict(_delete_=True, '
                   'embed_dims=32, num_layers=2, num_heads=2, '
                   'feedforward_channels=64), img_size=56))\n')
    r = evaluate(str(cfg), 'synthetic-linear', preset='fast',
                 data_root=synthetic_root, progress=False, iters=2,
                 work_dir=str(tmp_path / 'probe'))
    assert 0.0 <= r['metrics']['mIoU'] <= 1.0
    model = MODELS.build(Config.fromfile(synthetic_config).model)
    assert type(model).__name__ == 'MoSiC'
    assert type(MODELS.build(tiny_model_cfg())).__name__ == 'MoSiC'
    assert scope() == before
