"""How a prediction is scored: overlap counts, then Dice and IoU reductions, HD95, severity,
bootstrap intervals. Plain tensors and arrays in, numbers out; training validates with it and
evaluation reports with it.

- ``metrics``: tp/fp/fn/tn counts, Dice and IoU (imagewise and dataset), HD95, the score names;
- ``severity``: the infected share of the lung;
- ``uncertainty``: patient-level bootstrap intervals and weighted statistics.
"""
