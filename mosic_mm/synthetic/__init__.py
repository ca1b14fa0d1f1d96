"""Procedural videos with exact ground truth: the project's test and demo data.

Each clip shows textured objects of a few classes (a class = a shape family, a
texture family and a colour range, varied per instance) moving smoothly
(translation, rotation, scale) in a fixed depth order over a textured
background that may pan slowly. Objects occlude each other and may leave the
frame partially. Ground-truth tracks are exact (:mod:`.scene`).

Everything is deterministic given the seed (one ``numpy.random.Generator``).

``style='shared_colour'`` (opt-in; the default output is unchanged) removes
the appearance shortcut: every class, and the background, draws its colours
and texture families from one shared distribution, so only shape and motion
tell classes apart. Each object is made of 2-3 rigid parts of different
colours/textures that move together (one affine), the background is a
patchwork of the same textures and colours, and each class has its own motion
style (roll, slide, swing, spin, pulse).

Modules: :mod:`.styles` (classes, styles, argument checks),
:mod:`.appearance` (textures, canvases, lights), :mod:`.scene` (motion, the
scene model and :func:`ground_truth_tracks`), :mod:`.render`
(:func:`render_video`, :func:`render_scene`), :mod:`.writer`
(:func:`write_dataset`, the YouTube-VOS / DAVIS layout), :mod:`.layouts`
(the layouts of the paper evaluations) and :mod:`.training_layouts` (those of
the official code's training sets). This package imports nothing else of
mosic_mm: the datasets and the ground-truth tracker both build on it.
"""
from .layouts import (
                      ADE_IDS,
                      VOC_IDS,
                      make_ade_layout,
                      make_davis_layout,
                      make_voc_layout,
                      make_ytvos_layout,
)
from .render import render_scene, render_video
from .scene import ground_truth_tracks
from .styles import CLASSES, PALETTE, STYLES
from .training_layouts import TRAINING_LAYOUTS
from .writer import GENERATOR_NAME, GENERATOR_VERSION, write_dataset

__all__ = ['CLASSES', 'PALETTE', 'GENERATOR_NAME', 'GENERATOR_VERSION',
           'STYLES', 'render_video', 'render_scene', 'ground_truth_tracks',
           'write_dataset', 'make_voc_layout', 'make_ade_layout',
           'make_davis_layout', 'make_ytvos_layout', 'VOC_IDS', 'ADE_IDS',
           'TRAINING_LAYOUTS']
