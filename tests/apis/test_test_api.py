"""mosic_mm.apis.build_test_config: the config tools/test.py runs, its
checkpoint loaded without resuming and checked to fit the model, and the
errors of a missing checkpoint or a config without a test loop."""
import os.path as osp

import pytest

from mosic_mm.apis import build_test_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CONFIG = osp.join(REPO, 'configs', 'benchmarks', 'mmseg',
                      'linear_synthetic.py')


def test_test_config_loads_the_checkpoint_and_checks_it(tmp_path):
    ckpt = tmp_path / 'iter_3.pth'
    ckpt.write_bytes(b'')
    cfg = build_test_config(SEG_CONFIG, str(ckpt),
                            work_dir=str(tmp_path / 'w'),
                            cfg_options={'test_dataloader.batch_size': 1})
    assert (cfg.load_from, cfg.resume) == (str(ckpt), False)
    assert (cfg.work_dir, cfg.launcher) == (str(tmp_path / 'w'), 'none')
    assert cfg.test_dataloader.batch_size == 1
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks.count('mmpretrain.CheckpointCheckHook') == 1
    again = build_test_config(SEG_CONFIG, str(ckpt), cfg_options={
        'custom_hooks': [dict(type='mmpretrain.CheckpointCheckHook')]})
    assert len(again.custom_hooks) == 1            # not added twice
    assert again.work_dir == osp.join('work_dirs', 'linear_synthetic')


def test_test_config_errors(synthetic_config, tmp_path):
    """A config without a test loop (the MoSiC training configs) names the
    keys it lacks and where to go instead; a missing checkpoint is named."""
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(SystemExit) as e:
        build_test_config(synthetic_config, str(ckpt),
                          work_dir=str(tmp_path / 'w'))
    msg = str(e.value.code)
    assert 'defines no test loop' in msg and 'tools/evaluate.py' in msg
    assert 'test_dataloader, test_cfg, test_evaluator' in msg
    assert not (tmp_path / 'w').exists()
    with pytest.raises(SystemExit, match='nope.pth does not exist'):
        build_test_config(SEG_CONFIG, str(tmp_path / 'nope.pth'))
