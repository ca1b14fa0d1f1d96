from setuptools import find_packages, setup

setup(
    name='mosic_mm',
    version='0.1.0',
    description='MoSiC (ICCV 2025) dense self-supervised learning from video '
    'as an OpenMMLab plugin',
    packages=find_packages(include=['mosic_mm', 'mosic_mm.*']),
    license='Apache-2.0',
    python_requires='>=3.9',
    # mmcv is not listed here: it comes as one of two distributions of the same
    # `mmcv` package, and only one may be installed (docs/setup.md). Pick an
    # extra: `lite` (mmcv-lite, pure Python: everything this project runs,
    # mmsegmentation included with `seg`) or `full` (mmcv with compiled ops).
    # Full mmcv has no binary on PyPI; pip would compile it
    # (tools/install_deps.sh --full uses a prebuilt wheel when there is one).
    install_requires=[
        'torch>=2.1', 'mmengine==0.10.7', 'mmpretrain==1.2.0',
        'opencv-python-headless', 'decord', 'scipy', 'tqdm', 'tensorboard',
        'pillow', 'peft==0.22.0'
    ],
    extras_require={
        'lite': ['mmcv-lite==2.1.0'],
        'full': ['mmcv==2.1.0'],
        'seg': ['mmsegmentation==1.2.2', 'ftfy', 'regex'],
        'eval': ['faiss-cpu'],
        'tests': ['pytest', 'pytest-timeout', 'POT', 'timm', 'ruff',
                  'import-linter', 'pytest-randomly'],
        # CoTracker3 (tracker='CoTracker3'): not on PyPI, CC-BY-NC 4.0. This
        # extra installs it from git (`pip install -e ".[cotracker]"`), i.e.
        # `pip install git+https://github.com/facebookresearch/co-tracker.git`;
        # weights: https://huggingface.co/facebook/cotracker3 (docs/tracks.md)
        'cotracker': [
            'cotracker @ git+https://github.com/facebookresearch/co-tracker.git'
        ],
    },
)
