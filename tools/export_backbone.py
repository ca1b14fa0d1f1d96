"""Export a MoSiC backbone from a training checkpoint (tensors only).

    python tools/export_backbone.py work_dirs/X/iter_440.pth OUT.pth \
        --which teacher --format mmpretrain|dinov2|dino|timm|dinov3|open_clip

mmpretrain: load with ``init_cfg=dict(type='Pretrained', checkpoint=OUT,
prefix='backbone.')`` (mmpretrain / mmsegmentation ``VisionTransformer``).
dinov2 / dino / timm: the layout of those code bases; pos_embed stays at the
training resolution (build the model with that img_size, e.g. 224).
TimmViT backbones (DINOv3, EVA02-CLIP): timm, dinov3 (official DINOv3 files)
or open_clip; mmpretrain keeps our keys (ConvertedPretrained, prefix
'backbone.').
"""
import argparse
import sys

from mosic_mm.apis import export_backbone
from mosic_mm.apis.export import FORMATS


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('checkpoint', help='MoSiC training checkpoint')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument('--which', choices=('student', 'teacher'),
                        default='teacher',
                        help='EMA teacher (default) or student backbone')
    parser.add_argument('--format', choices=FORMATS, default='mmpretrain')
    parser.add_argument('--lora-scaling', type=float, default=None,
                        help='alpha / r of LoRA adapters to merge (default: '
                        "from the checkpoint's saved config)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    tensors = export_backbone(args.checkpoint, args.out, which=args.which,
                              format=args.format,
                              lora_scaling=args.lora_scaling)
    print(f'wrote {len(tensors)} tensors ({args.which}, {args.format}) to '
          f'{args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
