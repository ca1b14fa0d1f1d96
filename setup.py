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
    },
)
