"""How a prediction is scored: overlap counts, then Dice and IoU reductions, HD95, severity,
bootstrap and exact intervals, the tests a finding rests on. Plain tensors and arrays in,
numbers out; training validates with it and evaluation reports with it.

- ``metrics``: tp/fp/fn/tn counts, Dice and IoU (imagewise and dataset), HD95, the score names;
- ``per_image``: the per-image table (``per_image.csv``): scores, areas, severity of each image;
- ``summaries``: the scores per class and for all images, with intervals; the ablation's row;
- ``severity``: the infected share of the lung, and how predicted and true severities agree;
- ``selection``: the score post-processing is chosen by, and when a gain in it counts;
- ``uncertainty``: patient-level bootstrap intervals and weighted statistics;
- ``significance``: exact rate intervals and the stated tests a finding needs;
- ``findings``: what a report's findings rest on (Dice by lesion size with its misses, the
  averaging rules beside a cited number, scores without near-duplicates).
"""
