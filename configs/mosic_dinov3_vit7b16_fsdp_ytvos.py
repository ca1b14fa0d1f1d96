# Full fine-tuning of DINOv3 ViT-7B/16 (every block trains, fp32 master
# weights), sharded over the GPUs with FSDP (configs/_base_/strategies/
# fsdp.py: one unit per transformer block). Needs CUDA; plan it first:
# python tools/plan_memory.py configs/mosic_dinov3_vit7b16_fsdp_ytvos.py \
#     --gpus 8 --gpu-mem 80
_base_ = ['./mosic_dinov3_vit7b16_ytvos.py', './_base_/strategies/fsdp.py']
model = dict(num_trainable_blocks=None, frozen_dtype=None,
             activation_checkpointing=True)
