"""The teacher shares the student's frozen parameters (the same storage),
holds its own copy of what trains, trains exactly as a full copy does, and
its checkpoints hold the shared tensors once yet read full-copy files."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config


def _params(module):
    return dict(module.named_parameters(remove_duplicate=False))


@pytest.mark.parametrize('kw', [dict(), dict(lora=dict()),
                                dict(lora=dict(), num_trainable_blocks=0)])
def test_student_and_teacher_share_every_frozen_parameter(kw, tiny_model):
    model = tiny_model(**kw)
    student, teacher = _params(model.backbone), _params(
        model.teacher['backbone'])
    assert set(student) == set(teacher)
    frozen = [n for n, p in student.items() if not p.requires_grad]
    trained = [n for n, p in student.items() if p.requires_grad]
    assert frozen and trained
    for name in frozen:
        assert teacher[name] is student[name], name
        assert teacher[name].data_ptr() == student[name].data_ptr(), name
    for name in trained:
        assert teacher[name].data_ptr() != student[name].data_ptr(), name
        assert not teacher[name].requires_grad, name
    shared = {k for k in model.shared_weights.keys}
    assert shared == {f'teacher.backbone.{n}' for n in frozen}


def test_a_full_copy_shares_nothing(tiny_model):
    model = tiny_model(share_frozen_weights=False)
    student = _params(model.backbone)
    for name, p in _params(model.teacher['backbone']).items():
        assert p.data_ptr() != student[name].data_ptr(), name
    assert not model.shared_weights.keys
    assert any(k.startswith('teacher.backbone.layers.0.')
               for k in model.state_dict())


def test_the_state_dict_holds_shared_tensors_once_and_reads_both_forms(
        tiny_model):
    shared = tiny_model()
    full = tiny_model(share_frozen_weights=False)
    keys = set(shared.state_dict())
    assert keys == set(full.state_dict()) - set(shared.shared_weights.keys)
    assert not any(k.startswith('teacher.backbone.layers.0.') for k in keys)
    # a student that differs from its teacher, written in the full form
    with torch.no_grad():
        for p in full.parameters():
            p.add_(0.1 * torch.randn_like(p))
        for name, t in full.teacher['backbone'].named_parameters():
            s = full.backbone.get_parameter(name)
            if not s.requires_grad:
                t.copy_(s)  # frozen ones are equal in a real run
    shared.load_state_dict(full.state_dict(), strict=True)
    state, ref = shared.state_dict(), full.state_dict()
    for key in keys:
        assert torch.equal(state[key], ref[key]), key
    # the one-copy form round-trips as well
    again = tiny_model()
    again.load_state_dict(state, strict=True)
    for key, value in again.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_a_file_whose_two_copies_differ_is_refused(tiny_model):
    full = tiny_model(share_frozen_weights=False)
    state = full.state_dict()
    key = 'teacher.backbone.layers.0.attn.qkv.weight'
    state[key] = state[key] + 1
    with pytest.raises(ValueError, match='differ from the student'):
        tiny_model().load_state_dict(state, strict=True)


def _config(synthetic_config, tiny_train_overrides, root, work_dir, iters,
            **model):
    cfg = Config.fromfile(synthetic_config)
    cfg.merge_from_dict(tiny_train_overrides(root, iters))
    model = dict(dict(num_trainable_blocks=1), **model)  # a frozen block
    cfg.merge_from_dict({f'model.{k}': v for k, v in model.items()})
    cfg.merge_from_dict({'default_hooks.checkpoint.interval': 1,
                         'log_processor.window_size': 1})
    cfg.work_dir = str(work_dir)
    return cfg


def _run(cfg):
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_training_with_a_shared_teacher_equals_the_full_copy(
        tmp_path, synthetic_root, synthetic_config, tiny_train_overrides,
        scalar_records):
    """Same losses and weights (student, teacher, optimizer) over 3 steps;
    the one-copy checkpoint is the smaller file."""
    runs = {}
    for share in (True, False):
        work = tmp_path / str(share)
        _run(_config(synthetic_config, tiny_train_overrides, synthetic_root,
                     work, 3, share_frozen_weights=share))
        runs[share] = (scalar_records(work),
                       torch.load(work / 'iter_3.pth', map_location='cpu'),
                       osp.getsize(work / 'iter_3.pth'))
    (log_a, ckpt_a, size_a), (log_b, ckpt_b, size_b) = runs[True], runs[False]
    assert [log_a[i]['loss'] for i in (1, 2, 3)] == \
        [log_b[i]['loss'] for i in (1, 2, 3)]
    sa, sb = ckpt_a['state_dict'], ckpt_b['state_dict']
    assert set(sa) < set(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key
    for key in set(sb) - set(sa):  # the full copy's frozen teacher tensors
        assert torch.equal(sb[key], sb[key[len('teacher.'):]]), key
    for pid, state in ckpt_a['optimizer']['state'].items():
        assert torch.equal(state['exp_avg'],
                           ckpt_b['optimizer']['state'][pid]['exp_avg'])
    assert size_a < 0.8 * size_b


def test_a_full_copy_checkpoint_resumes_with_a_shared_teacher(
        tmp_path, synthetic_root, synthetic_config, tiny_train_overrides,
        scalar_records):
    """A checkpoint of today's full copy (two copies of the frozen tensors)
    resumes into a shared teacher and continues as the full copy does."""
    old = tmp_path / 'old'
    _run(_config(synthetic_config, tiny_train_overrides, synthetic_root, old,
                 2, share_frozen_weights=False))
    ends = {}
    for share in (True, False):
        work = tmp_path / f'resumed_{share}'
        cfg = _config(synthetic_config, tiny_train_overrides, synthetic_root,
                      work, 4, share_frozen_weights=share)
        cfg.resume, cfg.load_from = True, str(old / 'iter_2.pth')
        _run(cfg)
        ends[share] = (scalar_records(work), torch.load(
            work / 'iter_4.pth', map_location='cpu')['state_dict'])
    assert [ends[True][0][i]['loss'] for i in (3, 4)] == \
        [ends[False][0][i]['loss'] for i in (3, 4)]
    for key, value in ends[True][1].items():
        assert torch.equal(value, ends[False][1][key]), key
