from setuptools import find_packages, setup

setup(
    name='mosic_mm',
    version='0.1.0',
    description='MoSiC (ICCV 2025) dense self-supervised learning from video '
    'as an OpenMMLab plugin',
    packages=find_packages(include=['mosic_mm', 'mosic_mm.*']),
    python_requires='>=3.9',
    install_requires=[
        'torch>=2.1', 'mmengine==0.10.7', 'mmcv==2.1.0', 'mmpretrain==1.2.0',
        'opencv-python-headless', 'decord', 'scipy', 'tqdm'
    ],
    extras_require={
        'seg': ['mmsegmentation==1.2.2', 'ftfy', 'regex'],
        'eval': ['faiss-cpu'],
        'tests': ['pytest', 'pytest-timeout', 'POT'],
        # CoTracker3 (tracker='CoTracker3'): not on PyPI, CC-BY-NC 4.0. This
        # extra installs it from git (`pip install -e ".[cotracker]"`), i.e.
        # `pip install git+https://github.com/facebookresearch/co-tracker.git`;
        # weights: https://huggingface.co/facebook/cotracker3 (docs/tracks.md)
        'cotracker': [
            'cotracker @ git+https://github.com/facebookresearch/co-tracker.git'
        ],
    },
)
