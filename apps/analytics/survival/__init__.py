"""Survival modelling for time to next purchase: frames and arrays in, arrays out.

This package imports nothing from Django or apps.*; it is tested on small arrays with hand-checked answers.
"""

from . import _speedups

_speedups.install()
