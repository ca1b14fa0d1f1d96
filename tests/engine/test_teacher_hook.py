"""MoSiCTeacherHook: which side the weight is on, its schedule, and the
iterations it skips."""
from types import SimpleNamespace

import pytest
from mmengine.logging import MessageHub

from mosic_mm.engine.hooks.teacher_ema_hook import MoSiCTeacherHook


def test_constant_and_cosine_teacher_weight():
    const = MoSiCTeacherHook(0.99)
    assert const.teacher_weight_at(0, 10) == \
        const.teacher_weight_at(9, 10) == 0.99
    cos = MoSiCTeacherHook(0.99, end_teacher_weight=1.0)
    assert cos.teacher_weight_at(0, 10) == pytest.approx(0.99)
    assert cos.teacher_weight_at(5, 10) == pytest.approx(0.995)
    assert cos.teacher_weight_at(10, 10) == pytest.approx(1.0)
    with pytest.raises(ValueError, match='teacher_weight'):
        MoSiCTeacherHook(1.5)


def test_the_old_momentum_argument_is_refused_with_its_new_name():
    """mmengine's ``momentum`` weighs the new model; silently reading 0.99
    that way would let the student overwrite the teacher: the old
    name is an error that says what it became."""
    with pytest.raises(TypeError, match='momentum is now teacher_weight'):
        MoSiCTeacherHook(momentum=0.99)


def test_updates_only_after_an_optimizer_step():
    calls = []
    model = SimpleNamespace(update_teacher=calls.append)

    def runner(stepped=True, skipped=False):
        wrapper = SimpleNamespace(should_update=lambda: stepped,
                                  last_step_skipped=skipped)
        return SimpleNamespace(model=model, optim_wrapper=wrapper, iter=3,
                               max_iters=10,
                               message_hub=MessageHub.get_current_instance())

    hook = MoSiCTeacherHook(0.9)
    hook.after_train_iter(runner(), 0)
    hook.after_train_iter(runner(stepped=False), 0)  # accumulating grads
    hook.after_train_iter(runner(skipped=True), 0)  # non-finite loss
    assert calls == [0.9]
    assert MessageHub.get_current_instance().get_scalar(
        'train/teacher_weight').current() == 0.9
