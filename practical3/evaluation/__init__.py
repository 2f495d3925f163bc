"""Evaluation: a checkpoint's predictions at native size, post-processing chosen on Val, the
results files, and comparisons of runs.

- ``inference``: logits at the training size, resized and thresholded at each image's own size;
- ``postprocess``: switchable clean-up steps, kept only where Val shows a gain;
- ``evaluate``: score a checkpoint on a split and write its results;
- ``results``: the four files of a results folder, read and checked;
- ``provenance``: what a model learnt from, said and recorded by evaluate and predict;
- ``cases``: the best, median and worst test images predicted again, as arrays for a figure;
- ``comparison``: the files of a comparison of runs (rows, runs, table, check).
"""
