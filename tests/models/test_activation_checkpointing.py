"""Activation checkpointing of the student's trainable blocks: the same loss
and gradients (adapter dropout included), fewer tensors kept for the
backward pass."""
import pytest
import torch

_TIMM = dict(type='TimmViT', model_name='vit_small_patch16_dinov3_qkvb',
             img_size=64, model_kwargs=dict(embed_dim=32, depth=2,
                                            num_heads=2))


def _step(model, batch, model_loss):
    """Loss, gradients and the bytes autograd saved for backward."""
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    torch.manual_seed(3)  # adapter dropout draws
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = model_loss(model, batch)['loss']
    loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters()
             if p.grad is not None}
    return loss.item(), grads, sum(saved)


@pytest.mark.parametrize('size,kw', [
    (56, dict(num_trainable_blocks=2)),
    (56, dict(lora=dict(), num_trainable_blocks=0)),
    (64, dict(backbone=_TIMM, num_trainable_blocks=2)),  # patch 16
], ids=['blocks', 'lora', 'timm'])
def test_checkpointing_gives_the_same_step_with_less_kept(
        size, kw, tiny_model, clip_batch, model_loss):
    batch = clip_batch(size=size)
    plain = tiny_model(**kw).train()
    ckpt = tiny_model(activation_checkpointing=True, **kw).train()
    loss_a, grads_a, kept_a = _step(plain, batch, model_loss)
    loss_b, grads_b, kept_b = _step(ckpt, batch, model_loss)
    assert loss_a == loss_b
    assert set(grads_a) == set(grads_b) and grads_a
    for name in grads_a:
        torch.testing.assert_close(grads_b[name], grads_a[name],
                                   rtol=1e-5, atol=1e-7, msg=name)
    assert kept_b < 0.7 * kept_a
