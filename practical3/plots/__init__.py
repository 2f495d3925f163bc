"""Figures, each saved with a label that says which data it shows.

- ``common``: saving (atomic, print resolution, data label), the target colours, their key;
- ``overlay``: the one way a mask is drawn on its X-ray (fill and outline in its colour);
- ``eda``: the dataset: counts, examples, mask areas, intensities (notebook 01);
- ``model``: inside the untrained U-Net: feature maps and logits (notebook 02);
- ``evaluation``: learning curves, Dice distributions, ablation, severity, cases (03, 04).
"""
