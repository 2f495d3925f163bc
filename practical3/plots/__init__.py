"""Figures, each saved with a label that says which data it shows.

- ``common``: saving (atomic, print resolution, data label) and shared colours;
- ``eda``: the dataset: counts, examples, mask areas, intensities (notebook 01);
- ``model``: inside the untrained U-Net: feature maps and logits (notebook 02);
- ``results``: learning curves, Dice distributions, ablation, severity, overlays (03, 04).
"""
