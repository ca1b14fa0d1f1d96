"""The mini reproduction (tools/lab/mini/ behind
tools/lab/reproduce_mini.py, configs/mini/): the
image-SSL pretraining config runs, its cached start is reused, and the MoSiC
configs start from exactly its backbone."""
import json
import os
import os.path as osp
import sys

import pytest
import torch

from tools.lab import REPO
from tools.lab.mini import demo as md
from tools.lab.mini import reproduction as rm


def _tiny_options(data_root):
    # 2 iterations, 4 images, no worker processes
    return [
        f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'train_cfg.max_iters=2',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.logger.interval=1'
    ]


def test_frame_list_holds_the_train_frames_only(synthetic_root):
    path = rm.write_frame_list(synthetic_root)
    lines = open(path).read().split()
    train = open(osp.join(synthetic_root, 'ImageSets', 'train.txt')).read()
    train = train.split()
    expect = sorted(
        f'{v}/{f}' for v in train
        for f in os.listdir(osp.join(synthetic_root, 'JPEGImages', v)))
    assert sorted(lines) == expect
    assert not any(x.startswith('val') for x in lines)
    mtime = os.stat(path).st_mtime_ns
    rm.write_frame_list(synthetic_root)  # unchanged: not rewritten
    assert os.stat(path).st_mtime_ns == mtime


@pytest.fixture(scope='module')
def start(tmp_path_factory, synthetic_root):
    tmp = tmp_path_factory.mktemp('mini')
    path = str(tmp / 'start.pth')
    made = rm.ensure_start(path,
                           work_dir=str(tmp / 'pretrain'),
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
    made = rm.ensure_start(path,
                           work_dir=str(tmp / 'pretrain'),
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
def test_start_prepares_only_the_mini_data(tmp_path, monkeypatch, other_root):
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
                        work_dir=str(tmp_path / 'w'),
                        cfg_options=opts)
    assert calls == ([('list', str(tmp_path))]
                     if other_root else [('data', 'data/synthetic_crowd')])


def test_table_reports_mean_and_spread():
    runs = {'start': [{'m': 0.5}], 'arm': [{'m': 0.2}, {'m': 0.4}]}
    s = md.summarise(runs, [0, 1])
    assert s['arm']['m'] == pytest.approx((0.3, 0.1, 2))
    table = md.format_table(s, 'hdr')
    assert '30.00 +- 10.00' in table and '50.00' in table


def _write_frame(root, split, video, rgb, cls):
    from PIL import Image
    for d in ('JPEGImages', 'ClassAnnotations'):
        os.makedirs(osp.join(root, d, video), exist_ok=True)
    Image.fromarray(rgb).save(osp.join(root, 'JPEGImages', video, '00000.jpg'),
                              quality=100)
    Image.fromarray(cls).save(
        osp.join(root, 'ClassAnnotations', video, '00000.png'))
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
    kw = dict(num_train=4,
              num_val=2,
              num_frames=8,
              size=(64, 64),
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
        roots.add(
            Config.fromfile(osp.join(REPO,
                                     cfg)).train_dataloader.dataset.data_root)
    assert roots == {'data/synthetic_crowd'}
    # ensure_data writes that style
    import mosic_mm.synthetic as synthetic
    seen = {}
    monkeypatch.setattr(
        synthetic, 'write_dataset',
        lambda root, **kw: seen.update(kw, root=root) or dict(created=False))
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
    write_dataset(str(root),
                  num_train=1,
                  num_val=1,
                  num_frames=2,
                  size=(32, 32),
                  progress=False)
    frame = root / 'JPEGImages' / 'train_0000' / '00000.jpg'
    before = frame.read_bytes()
    rm.ensure_data(str(root), config=str(cfg))
    meta = json.loads((root / 'meta.json').read_text())
    assert meta['params']['num_val'] == 2
    assert (root / 'ImageSets'
            / 'val.txt').read_text().split() == ['val_0000', 'val_0001']
    assert frame.read_bytes() == before
    # the image-SSL arms' frame list survives the regeneration
    assert (root / 'ImageSets' / 'train_frames.txt').read_text().split() == [
        'train_0000/00000.jpg', 'train_0000/00001.jpg'
    ]
    # a root the generator did not write is never overwritten
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'meta.json').write_text('{"params": {"mine": 1}}')
    with pytest.raises(FileExistsError, match='not written by'):
        rm.ensure_data(str(other), config=str(cfg))
    assert (other / 'meta.json').read_text() == '{"params": {"mine": 1}}'


@pytest.mark.parametrize('cfg_path, tracker',
                         [(rm.MOSIC_CFG, 'DISFlowTracker'),
                          (rm.STATIC_CFG, 'StaticTracker'),
                          (rm.GT_CFG, 'SyntheticGroundTruthTracker')])
def test_track_arms_change_only_the_tracker(cfg_path, tracker):
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, cfg_path))
    load = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] == 'LoadTracks'
    ]
    assert load[0]['tracker'] == dict(type=tracker)
    assert load[0]['extract_cmd'].endswith(cfg_path)  # its own cache
    ref = Config.fromfile(osp.join(REPO, rm.MOSIC_CFG))
    # same pipeline otherwise, same model and schedule
    rest = [
        t for t in cfg.train_dataloader.dataset.pipeline
        if t['type'] != 'LoadTracks'
    ]
    assert rest == [
        t for t in ref.train_dataloader.dataset.pipeline
        if t['type'] != 'LoadTracks'
    ]
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

    def fake_run_all(jobs, n, share=None):
        assert n == 2 and len(jobs) == 2
        for cmd, log in jobs:
            calls.append(cmd)
            chunk = cmd[cmd.index('propagate') + 1:cmd.index('--data-root')]
            js = cmd[cmd.index('--json') + 1]
            assert log == js[:-5] + '.log.txt'
            with open(js, 'w') as f:
                json.dump({m: {'J&F': float(m[1])} for m in chunk}, f)

    monkeypatch.setattr(rm, '_run_all', fake_run_all)
    args = argparse.Namespace(jobs=2,
                              out=str(tmp_path),
                              python='py',
                              eval_args=['--max-videos', '2'])
    cols = rm._evaluate('propagate', models, 'root', args,
                        ['--input-size', '224'])
    assert [c['J&F'] for c in cols] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert all(c[c.index('--input-size')
                 + 1] == '224' and c[-2:] == ['--max-videos', '2']
               for c in calls)
    assert sorted(os.listdir(tmp_path)) == [
        'eval_propagate_224px-0.json', 'eval_propagate_224px-1.json'
    ]


# ------------------------------------------------------------ the demo
def test_committed_start_was_made_under_the_current_config(monkeypatch):
    # assets/mini/imgssl_start.pth(.json): a config change without
    # remaking the start (make reproduce-mini) turns this red
    monkeypatch.chdir(REPO)
    assert rm.check_start_asset() == rm.config_digest(rm.PRETRAIN_CFG)
    state = torch.load(rm.START_ASSET, map_location='cpu', weights_only=True)
    assert set(state) == {'state_dict'}
    assert all(k.startswith('backbone.') for k in state['state_dict'])
    # the demo's MoSiC loads it strictly, student and teacher alike
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import mosic_mm  # noqa: F401
    init_default_scope('mmpretrain')
    model = MODELS.build(Config.fromfile(rm.DEMO_CFG).model)
    model.init_weights()
    for net in (model.backbone, model.teacher['backbone']):
        for k, v in net.state_dict().items():
            assert torch.equal(v, state['state_dict']['backbone.' + k]), k


def test_a_stale_or_missing_start_asset_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    changed = tmp_path / 'pretrain.py'
    changed.write_text(f'_base_ = [{osp.join(REPO, rm.PRETRAIN_CFG)!r}]\n'
                       'imgssl_iters = 999\n')
    with pytest.raises(ValueError, match='make reproduce-mini'):
        rm.check_start_asset(rm.START_ASSET, str(changed))
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        rm.check_start_asset(str(tmp_path / 'nothing.pth'))


def test_config_digest_follows_what_changes_the_weights(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    base = rm.config_digest(rm.PRETRAIN_CFG)
    # the same on every machine: no absolute path in what it hashes
    assert rm.config_digest(osp.join(REPO, rm.PRETRAIN_CFG)) == base

    def digest(text):
        path = tmp_path / f'c{len(os.listdir(tmp_path))}.py'
        path.write_text(f'_base_ = [{osp.join(REPO, rm.PRETRAIN_CFG)!r}]\n'
                        + text)
        return rm.config_digest(str(path))

    # logging, checkpoint intervals, --auto-scale-lr's base: the same start
    assert digest('auto_scale_lr = dict(base_batch_size=3)\n'
                  'default_hooks = dict(logger=dict(interval=1), '
                  'checkpoint=dict(interval=7))\n') == base
    # the schedule, the optimiser, the data: another start
    assert digest('train_cfg = dict(max_iters=999)\n') != base
    assert digest('optim_wrapper = dict(optimizer=dict(lr=2e-3))\n') != base
    assert digest("train_dataloader = dict(dataset=dict(data_root='x'))\n") \
        != base


def _fake_start(path, digest):
    torch.save(
        {
            'state_dict': {
                'backbone.w': torch.ones(2),
                'neck.w': torch.zeros(3)
            },
            'optimizer': {}
        }, path)
    with open(path + '.json', 'w') as f:
        json.dump({'config_digest': digest}, f)


def test_start_asset_is_rewritten_only_when_stale(tmp_path):
    start, asset = str(tmp_path / 'start.pth'), str(tmp_path / 'a' / 'x.pth')
    _fake_start(start, 'd1')
    assert rm.refresh_start_asset(start, asset)
    state = torch.load(asset, map_location='cpu', weights_only=True)
    assert list(state['state_dict']) == ['backbone.w']  # backbone only
    assert rm.recorded_digest(asset) == 'd1'
    mtime = os.stat(asset).st_mtime_ns
    assert not rm.refresh_start_asset(start, asset)  # same config: kept
    assert os.stat(asset).st_mtime_ns == mtime
    _fake_start(start, 'd2')  # remade under another config
    assert rm.refresh_start_asset(start, asset)
    assert rm.recorded_digest(asset) == 'd2'


def test_family_verdicts_and_gains():
    start = {
        'DAVIS J&F': .10,
        'overcluster K=6 mIoU': .30,
        'overcluster K=24 mIoU': .50,
        'hummingbird 1/1 mIoU': .60,
        'linear probe mIoU': .58,
        'videoclust per-frame mIoU': .23,
        'videoclust per-clip mIoU': .17,
        'DAVIS J': .11
    }
    trained = dict(
        start, **{
            'DAVIS J&F': .12,
            'overcluster K=6 mIoU': .29,
            'hummingbird 1/1 mIoU': .59,
            'videoclust per-frame mIoU': .24,
            'videoclust per-clip mIoU': .18,
            'linear probe mIoU': .59
        })
    trained['overcluster K=24 mIoU'] = .51
    assert md.family_verdicts(start, trained) == {
        'J&F': 'better',
        'overclustering': 'mixed',
        'Hummingbird': 'worse',
        'linear': 'better',
        'video clustering': 'better'
    }
    # a protocol evaluate.py skipped is said so; half a family is an error
    del trained['linear probe mIoU'], start['linear probe mIoU']
    assert md.family_verdicts(start, trained)['linear'] == 'not evaluated'
    del trained['overcluster K=6 mIoU']
    with pytest.raises(KeyError, match="family 'overclustering'"):
        md.family_verdicts(start, trained)
    g = md.gains({'m': .5}, [{'m': .6}, {'m': .8}])
    assert g['m'] == pytest.approx((.2, .1, 2))


def test_reference_applies_only_to_its_settings(tmp_path):
    path = tmp_path / 'ref.json'
    assert md.load_reference(str(path), {})[1].endswith('not found')
    settings = dict(config_digest='a',
                    start_digest='b',
                    iters=400,
                    eval_args=[])
    path.write_text(json.dumps({'settings': settings, 'seeds': [0, 1]}))
    assert md.load_reference(str(path), settings)[0]['seeds'] == [0, 1]
    ref, why = md.load_reference(str(path), dict(settings, iters=200))
    assert ref is None and 'iters' in why


def test_committed_reference_matches_the_demo_settings(monkeypatch):
    # assets/mini/demo_reference.json: the seed spreads printed beside the
    # demo's numbers; a demo config, start or step change without
    # re-measuring them (reproduce_mini.py --demo --seeds 0 1 2
    # --write-reference) turns this red
    from mmengine.config import Config
    monkeypatch.chdir(REPO)
    iters = Config.fromfile(rm.DEMO_CFG).mini_iters
    ref, why = md.load_reference(rm.DEMO_REFERENCE,
                                 md.demo_settings(rm.START_ASSET, iters, []))
    assert ref is not None, why
    assert len(ref['seeds']) >= 3 and len(ref['runs']) == len(ref['seeds'])
    md.family_verdicts(ref['start'], ref['runs'][0])  # every family there


def test_demo_config_is_the_exact_track_arm_from_the_committed_start():
    from mmengine.config import Config
    demo = Config.fromfile(osp.join(REPO, rm.DEMO_CFG))
    gt = Config.fromfile(osp.join(REPO, rm.GT_CFG))
    assert demo.model.backbone.init_cfg.checkpoint == rm.START_ASSET
    demo.model.backbone.init_cfg.checkpoint = gt.start_checkpoint
    assert demo.model == gt.model
    assert demo.optim_wrapper == gt.optim_wrapper
    assert demo.param_scheduler == gt.param_scheduler
    assert demo.mini_iters == gt.mini_iters
    load = demo.train_dataloader.dataset.pipeline[2]
    assert load.type == 'LoadTracks' and load.tracker == gt.tracker
    assert load.extract_cmd.endswith(rm.DEMO_CFG)  # its own track cache
    # its videos are the first ones of the mini reproduction's (videos are
    # seeded by split and index), in a root of their own
    d, g = demo.train_dataloader.dataset, gt.train_dataloader.dataset
    assert d.data_root != g.data_root
    assert d.num_train <= g.num_train and d.num_val <= g.num_val
    for k in ('num_frames', 'size', 'style'):
        assert d[k] == g[k], k
    assert d.pipeline[0] == g.pipeline[0]  # the same SampleClip


def test_demo_trains_evaluates_and_says_where_things_are(
        tmp_path, monkeypatch, capsys, load_tool):
    # the demo's flow with the subprocesses intercepted: the committed
    # start is checked and evaluated while the tracks are extracted, then
    # the exact-track arm trains from it (after both: the cores are free),
    # then the trained model is evaluated; the table, the verdict and the
    # output paths are printed
    import threading
    monkeypatch.chdir(REPO)
    calls, lock = [], threading.Lock()

    def log(item):
        with lock:
            calls.append(item)

    monkeypatch.setattr(md, 'ensure_data', lambda root, cfg: log(
        ('data', root, cfg)))
    monkeypatch.setattr(md, '_run', lambda cmd, _: log(('extract', cmd)))

    def fake_run_all(jobs, n):
        for cmd, _ in jobs:
            log(('train', cmd))
            wd = cmd[cmd.index('--work-dir') + 1]
            os.makedirs(wd)
            with open(osp.join(wd, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(wd, 'iter_400.pth'))

    monkeypatch.setattr(md, '_run_all', fake_run_all)
    metrics = [m for _, ms in md.FAMILIES for m in ms]

    def fake_evaluate(task, models, root, args, label, share=None):
        log((f'eval {label}', task, models, share))
        score = 0.5 if label == 'start' else 0.51
        return [{m: score for m in metrics} for _ in models]

    monkeypatch.setattr(md, '_evaluate', fake_evaluate)
    load_tool('lab/reproduce_mini.py').main(['--demo', '--out', str(tmp_path)])
    kinds = [c[0] for c in calls]
    assert kinds[0] == 'data' and calls[0][2] == rm.DEMO_CFG
    assert sorted(kinds[1:3]) == ['eval start', 'extract']  # side by side
    assert kinds[3:] == ['train', 'eval mosic']
    data, ev_start, extract, train, ev_mosic = [
        next(c for c in calls if c[0] == k)
        for k in ('data', 'eval start', 'extract', 'train', 'eval mosic')
    ]
    assert extract[1][1:] == ['tools/extract_tracks.py', rm.DEMO_CFG]
    train = train[1]
    assert train[1:3] == ['tools/train.py', rm.DEMO_CFG]
    assert f'model.backbone.init_cfg.checkpoint={rm.START_ASSET}' in train
    assert 'randomness.seed=0' in train
    assert ev_start[1] == 'all' and ev_start[3] == 2  # one core each
    from mmengine.config import Config
    start_cfg = Config.fromfile(ev_start[2][0])
    assert start_cfg.model.backbone.init_cfg.checkpoint == osp.abspath(
        rm.START_ASSET)
    assert ev_mosic[2] == [f'{tmp_path}/mosic_demo_seed0/iter_400.pth']
    out = capsys.readouterr().out
    assert 'better on 5 of 5 families' in out
    assert f'checkpoints: {tmp_path}/mosic_demo_seed0/iter_400.pth' in out
    assert f'tensorboard --logdir {tmp_path}' in out
    assert json.load(open(tmp_path / 'results.json'))['seeds'] == [0]


def test_write_reference_needs_the_demo_and_several_seeds(load_tool):
    with pytest.raises(SystemExit):
        load_tool('lab/reproduce_mini.py').parse_args(
            ['--write-reference', '--seeds', '0', '1'])
    with pytest.raises(SystemExit):
        load_tool('lab/reproduce_mini.py').parse_args(
            ['--demo', '--write-reference'])
    args = load_tool('lab/reproduce_mini.py').parse_args(['--demo'])
    assert (args.seeds, args.start, args.out) == ([0], rm.START_ASSET,
                                                  'work_dirs/mini_demo')
    args = load_tool('lab/reproduce_mini.py').parse_args([])
    assert args.seeds == [0, 1, 2] and args.start != rm.START_ASSET
