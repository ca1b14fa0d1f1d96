# MoSiC with LoRA adapters instead of trainable blocks, the official
# recipe's option (peft; r=8, alpha=32, dropout 0.1 on qkv, proj, mlp.fc1,
# mlp.fc2 of every block, the patch embedding's proj included): the backbone
# stays frozen, the adapters and the head train, and the teacher follows
# the adapters by EMA. tools/export_backbone.py merges them into a plain
# backbone. Any other backbone: inherit this file's `model.lora` and
# `num_trainable_blocks=0`.
_base_ = './mosic_vits_ytvos.py'
model = dict(
    num_trainable_blocks=0,
    lora=dict(r=8, alpha=32, dropout=0.1,
              target_modules=['qkv', 'proj', 'mlp.fc1', 'mlp.fc2']))
