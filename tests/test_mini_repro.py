"""The mini reproduction (tools/reproduce_mini.py, configs/mini/): the
image-SSL pretraining config runs, its cached start is reused, and the MoSiC
configs start from exactly its backbone."""
import json
import os
import os.path as osp
import sys

import pytest
import torch

from conftest import REPO

sys.path.insert(0, osp.join(REPO, 'tools'))
import reproduce_mini as rm  # noqa: E402


def _tiny_options(data_root):
    # 2 iterations, 4 images, no worker processes
    return [f'train_dataloader.dataset.data_root={data_root}',
            'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False',
            'train_cfg.max_iters=2', 'default_hooks.checkpoint.interval=2',
            'default_hooks.logger.interval=1']


def test_frame_list_holds_the_train_frames_only(synthetic_root):
    path = rm.write_frame_list(synthetic_root)
    lines = open(path).read().split()
    train = open(osp.join(synthetic_root, 'ImageSets', 'train.txt')).read()
    train = train.split()
    expect = sorted(f'{v}/{f}' for v in train for f in os.listdir(
        osp.join(synthetic_root, 'JPEGImages', v)))
    assert sorted(lines) == expect
    assert not any(x.startswith('val') for x in lines)
    mtime = os.stat(path).st_mtime_ns
    rm.write_frame_list(synthetic_root)  # unchanged: not rewritten
    assert os.stat(path).st_mtime_ns == mtime


@pytest.fixture(scope='module')
def start(tmp_path_factory, synthetic_root):
    tmp = tmp_path_factory.mktemp('mini')
    path = str(tmp / 'start.pth')
    made = rm.ensure_start(path, work_dir=str(tmp / 'pretrain'),
                           cfg_options=_tiny_options(synthetic_root))
    return path, made, tmp


@pytest.mark.slow
def test_imgssl_pretrain_config_builds_and_runs_two_iterations(start):
    path, made, tmp = start
    assert made
    log = open(tmp / 'pretrain' / 'train.log.txt').read()
    assert 'Iter(train) [2/2]' in log and "type='MoCoV3'" in log
    assert 'Saving checkpoint at 2 iterations' in log
    state = torch.load(path, map_location='cpu')['state_dict']
    assert any(k.startswith('momentum_encoder.') for k in state)
    # the MoSiC config of the mini reproduction starts from this backbone
    # (strict ConvertedPretrained load), student and teacher alike
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS
    import mosic_mm  # noqa: F401
    cfg = Config.fromfile(osp.join(REPO, 'configs/mini/mosic_from_imgssl.py'))
    cfg.model.backbone.init_cfg.checkpoint = path
    init_default_scope('mmpretrain')
    model = MODELS.build(cfg.model)
    model.init_weights()
    for name, net in (('student', model.backbone),
                      ('teacher', model.teacher['backbone'])):
        for k, v in net.state_dict().items():
            assert torch.equal(v, state['backbone.' + k]), (name, k)
    # tools/evaluate.py reads the MoCoV3 checkpoint itself (control (b))
    from mosic_mm.evaluation.features import build_backbone
    vit, info = build_backbone(checkpoint=path)
    assert info['img_size'] == 112
    for k, v in vit.state_dict().items():
        assert torch.equal(v, state['backbone.' + k]), k


@pytest.mark.slow
def test_cached_start_is_reused_on_a_second_run(start, synthetic_root):
    path, _, tmp = start
    before = os.stat(path).st_mtime_ns
    log = tmp / 'pretrain' / 'train.log.txt'
    log_before = os.stat(log).st_mtime_ns
    made = rm.ensure_start(path, work_dir=str(tmp / 'pretrain'),
                           cfg_options=_tiny_options(synthetic_root))
    assert made is False
    assert os.stat(path).st_mtime_ns == before
    assert os.stat(log).st_mtime_ns == log_before  # no training ran


def test_start_is_remade_when_its_config_changes(tmp_path, monkeypatch):
    # a cache made under another config is not reused: the training command
    # runs again (intercepted here)
    path = str(tmp_path / 'start.pth')
    open(path, 'wb').close()
    with open(path + '.json', 'w') as f:
        f.write('{"config_digest": "something else"}')
    calls = []

    def fake_run(cmd, log):
        calls.append(cmd)
        raise RuntimeError('stop')
    monkeypatch.setattr(rm, '_run', fake_run)
    monkeypatch.setattr(rm, 'ensure_data', lambda root: None)
    monkeypatch.setattr(rm, 'write_frame_list', lambda root: None)
    with pytest.raises(RuntimeError, match='stop'):
        rm.ensure_start(path, work_dir=str(tmp_path / 'w'))
    assert calls and calls[0][1] == 'tools/train.py'


@pytest.mark.parametrize('other_root', [False, True])
def test_start_prepares_only_the_mini_data(tmp_path, monkeypatch,
                                           other_root):
    # the mini configs' root is generated (or regenerated); a root given by
    # --cfg-options (tests, a user's data) is never rewritten by the mini
    # configs' parameters, only its frame list is written
    calls = []
    monkeypatch.setattr(rm, 'ensure_data', lambda root: calls.append(
        ('data', root)))
    monkeypatch.setattr(rm, 'write_frame_list', lambda root: calls.append(
        ('list', root)))

    def fake_run(cmd, log):
        raise RuntimeError('stop')
    monkeypatch.setattr(rm, '_run', fake_run)
    monkeypatch.chdir(REPO)
    opts = [f'train_dataloader.dataset.data_root={tmp_path}'] \
        if other_root else []
    with pytest.raises(RuntimeError, match='stop'):
        rm.ensure_start(str(tmp_path / 'start.pth'),
                        work_dir=str(tmp_path / 'w'), cfg_options=opts)
    assert calls == ([('list', str(tmp_path))] if other_root else
                     [('data', 'data/synthetic_crowd')])


def test_table_reports_mean_and_spread():
    runs = {'start': [{'m': 0.5}], 'arm': [{'m': 0.2}, {'m': 0.4}]}
    s = rm.summarise(runs, [0, 1])
    assert s['arm']['m'] == pytest.approx((0.3, 0.1, 2))
    table = rm.format_table(s, 'hdr')
    assert '30.00 +- 10.00' in table and '50.00' in table


def _write_frame(root, split, video, rgb, cls):
    from PIL import Image
    for d in ('JPEGImages', 'ClassAnnotations'):
        os.makedirs(osp.join(root, d, video), exist_ok=True)
    Image.fromarray(rgb).save(osp.join(root, 'JPEGImages', video, '00000.jpg'),
                              quality=100)
    Image.fromarray(cls).save(osp.join(root, 'ClassAnnotations', video,
                                       '00000.png'))
    os.makedirs(osp.join(root, 'ImageSets'), exist_ok=True)
    with open(osp.join(root, 'ImageSets', f'{split}.txt'), 'a') as f:
        f.write(video + '\n')


def test_mean_colour_baseline_hand_case(tmp_path):
    import numpy as np
    red, blue = (220, 30, 30), (30, 30, 220)
    cls = np.zeros((16, 16), np.uint8)
    cls[:, :8], cls[:, 8:] = 1, 2  # left column of patches 1, right 2
    train = np.zeros((16, 16, 3), np.uint8)
    train[:, :8], train[:, 8:] = red, blue
    val = np.zeros((16, 16, 3), np.uint8)
    val[:, :], val[8:, 8:] = red, blue  # top-right patch red but class 2
    root = str(tmp_path)
    _write_frame(root, 'train', 'a', train, cls)
    _write_frame(root, 'val', 'b', val, cls)
    out = rm.mean_colour_baseline(root)
    # predictions: 1, 1 / 1, 2 against labels 1, 2 / 1, 2
    assert out['acc'] == pytest.approx(3 / 4)
    assert out['miou'] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert np.allclose(out['centroids'][1], red, atol=10)  # JPEG
    assert np.allclose(out['centroids'][2], blue, atol=10)


def test_shared_colour_data_defeats_the_colour_baseline(tmp_path):
    from mosic_mm.synthetic import write_dataset
    kw = dict(num_train=4, num_val=2, num_frames=8, size=(64, 64),
              progress=False)
    miou = {}
    for style in ('default', 'shared_colour'):
        root = str(tmp_path / style)
        write_dataset(root, style=style, **kw)
        miou[style] = rm.mean_colour_baseline(root)['miou']
    assert miou['default'] > 0.5 and miou['shared_colour'] < 0.2, miou


def test_mini_configs_train_on_the_crowd_data(monkeypatch):
    from mmengine.config import Config
    roots = set()
    for cfg in (rm.MOSIC_CFG, rm.STATIC_CFG):
        ds = Config.fromfile(osp.join(REPO, cfg)).train_dataloader.dataset
        assert ds.style == 'crowd'
        roots.add(ds.data_root)
    for cfg in (rm.PRETRAIN_CFG, rm.CONTROL_B_CFG):  # the image-SSL start
        roots.add(Config.fromfile(osp.join(REPO, cfg))
                  .train_dataloader.dataset.data_root)
    assert roots == {'data/synthetic_crowd'}
    # ensure_data writes that style
    import mosic_mm.synthetic as synthetic
    seen = {}
    monkeypatch.setattr(synthetic, 'write_dataset',
                        lambda root, **kw: seen.update(kw, root=root) or
                        dict(created=False))
    monkeypatch.setattr(rm, 'write_frame_list', lambda root: None)
    monkeypatch.chdir(REPO)
    rm.ensure_data('/nonexistent/root')
    assert seen['style'] == 'crowd' and seen['num_train'] == 32
    assert seen['num_val'] == 32


def test_ensure_data_regenerates_a_stale_split_and_keeps_train(tmp_path):
    from mosic_mm.synthetic import write_dataset
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(f"_base_ = [{osp.join(REPO, rm.RANDOM_CFG)!r}]\n"
                   "train_dataloader = dict(dataset=dict(num_train=1, "
                   "num_val=2, num_frames=2, size=(32, 32)))\n")
    root = tmp_path / 'data'
    write_dataset(str(root), num_train=1, num_val=1, num_frames=2,
                  size=(32, 32), progress=False)
    frame = root / 'JPEGImages' / 'train_0000' / '00000.jpg'
    before = frame.read_bytes()
    rm.ensure_data(str(root), config=str(cfg))
    meta = json.loads((root / 'meta.json').read_text())
    assert meta['params']['num_val'] == 2
    assert (root / 'ImageSets' / 'val.txt').read_text().split() == [
        'val_0000', 'val_0001']
    assert frame.read_bytes() == before
    # the image-SSL arms' frame list survives the regeneration
    assert (root / 'ImageSets' / 'train_frames.txt').read_text().split() == [
        'train_0000/00000.jpg', 'train_0000/00001.jpg']
    # a root the generator did not write is never overwritten
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'meta.json').write_text('{"params": {"mine": 1}}')
    with pytest.raises(FileExistsError, match='not written by'):
        rm.ensure_data(str(other), config=str(cfg))
    assert (other / 'meta.json').read_text() == '{"params": {"mine": 1}}'


@pytest.mark.parametrize('cfg_path, tracker', [
    (rm.MOSIC_CFG, 'DISFlowTracker'), (rm.STATIC_CFG, 'StaticTracker'),
    (rm.GT_CFG, 'SyntheticGroundTruthTracker')])
def test_track_arms_change_only_the_tracker(cfg_path, tracker):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, cfg_path))
    load = [t for t in cfg.train_dataloader.dataset.pipeline
            if t['type'] == 'LoadTracks']
    assert load[0]['tracker'] == dict(type=tracker)
    assert load[0]['extract_cmd'].endswith(cfg_path)  # its own cache
    ref = Config.fromfile(osp.join(REPO, rm.MOSIC_CFG))
    # same pipeline otherwise, same model and schedule
    rest = [t for t in cfg.train_dataloader.dataset.pipeline
            if t['type'] != 'LoadTracks']
    assert rest == [t for t in ref.train_dataloader.dataset.pipeline
                    if t['type'] != 'LoadTracks']
    assert cfg.model == ref.model and cfg.param_scheduler == ref.param_scheduler
    assert cfg.train_pipeline == cfg.train_dataloader.dataset.pipeline


@pytest.mark.parametrize('n', [1, 2, 3, 20])
def test_parallel_evaluation_keeps_the_model_order(n):
    models = [f'm{i}' for i in range(11)]
    chunks = rm.split_models(models, n)
    assert all(chunks) and len(chunks) == min(n, 11)
    assert sorted(sum(chunks, [])) == sorted(models)
    # each chunk's results (here: the model names upper-cased) come back
    # in the order of the models
    cols = rm.merge_columns([[m.upper() for m in c] for c in chunks])
    assert cols == [m.upper() for m in models]


def test_side_by_side_jobs_split_the_cores(tmp_path):
    # 2 jobs on 2 cores must not start 2 OpenMP threads each (measured: a
    # MoSiC step 1.5 s oversubscribed vs 0.09 s alone)
    assert rm.thread_env(2, cores=2)['OMP_NUM_THREADS'] == '1'
    assert rm.thread_env(1, cores=2)['MKL_NUM_THREADS'] == '2'
    assert rm.thread_env(3, cores=2)['OMP_NUM_THREADS'] == '1'
    assert rm.thread_env(2, cores=16)['OMP_NUM_THREADS'] == '8'
    # and the jobs really get it
    code = 'import os; print(os.environ["OMP_NUM_THREADS"])'
    logs = [str(tmp_path / f'{i}.log') for i in range(2)]
    rm._run_all([([sys.executable, '-c', code], log) for log in logs], 2)
    want = rm.thread_env(2)['OMP_NUM_THREADS']
    assert [open(log).read().strip() for log in logs] == [want, want]


def test_start_column_evaluates_the_given_start(tmp_path):
    from mmengine.config import Config
    start = str(tmp_path / 'elsewhere' / 'start.pth')
    cfg = Config.fromfile(rm.start_model_config(start, str(tmp_path)))
    assert cfg.model.backbone.init_cfg.checkpoint == start
    assert cfg.model.backbone.init_cfg.type == 'ConvertedPretrained'
    assert cfg.model.num_trainable_blocks == 2  # MOSIC_CFG's model otherwise


def test_evaluate_runs_chunks_side_by_side_and_keeps_the_order(
        tmp_path, monkeypatch):
    import argparse
    models = [f'm{i}.pth' for i in range(5)]
    calls = []

    def fake_run_all(jobs, n):
        assert n == 2 and len(jobs) == 2
        for cmd, log in jobs:
            calls.append(cmd)
            chunk = cmd[cmd.index('propagate') + 1:cmd.index('--data-root')]
            js = cmd[cmd.index('--json') + 1]
            assert log == js[:-5] + '.log.txt'
            with open(js, 'w') as f:
                json.dump({m: {'J&F': float(m[1])} for m in chunk}, f)

    monkeypatch.setattr(rm, '_run_all', fake_run_all)
    args = argparse.Namespace(jobs=2, out=str(tmp_path), python='py',
                              eval_args=['--max-videos', '2'])
    cols = rm._evaluate('propagate', models, 'root', args,
                        ['--input-size', '224'])
    assert [c['J&F'] for c in cols] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(c[c.index('--input-size') + 1] == '224' and
               c[-2:] == ['--max-videos', '2'] for c in calls)
    assert sorted(os.listdir(tmp_path)) == ['eval_propagate_224px-0.json',
                                            'eval_propagate_224px-1.json']
