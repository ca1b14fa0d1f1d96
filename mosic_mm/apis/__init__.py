"""What the command-line tools do, importable: one module per job.

Each ``tools/*.py`` parses its arguments and calls one function of a module
here (as ``mmseg.apis`` sits behind mmsegmentation's ``tools/``). The
modules are imported by name (``from mosic_mm.apis.train import train``);
this package imports none of them, so a tool loads only what its job needs.
Layering: ``apis`` may import any part of mosic_mm; no other part of
mosic_mm imports ``apis``.
"""
import os.path as osp

# The checkout the package runs from: the jobs' default configs
# (configs/...) are relative to it.
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
