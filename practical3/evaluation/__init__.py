"""Evaluation: a checkpoint's predictions at native size, post-processing chosen on Val, the
results files, and comparisons of runs.

- ``inference``: a checkpoint loaded (``load_model``); logits at the training size, resized and
  thresholded at each image's own size;
- ``postprocess``: switchable clean-up steps, kept only where Val shows a gain (``choose_steps``);
- ``evaluate``: load, choose the post-processing on Val, predict, score (``scoring``) and write
  a checkpoint's results on a split;
- ``results``: the four files of a results folder, read and checked;
- ``provenance``: what a model learnt from, said and recorded by evaluate and predict;
- ``cases``: the best, median and worst test images predicted again, as arrays for a figure;
- ``comparison``: the files of a comparison of runs (rows, runs, table, check).
"""
