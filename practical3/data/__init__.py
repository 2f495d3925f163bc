"""The data layer: everything between a COVID-QU-Ex copy on disk and a batch on the device.

- ``layout``: the archive's folder and file names (the one place that spells them);
- ``sources``: what a copy is (real or synthetic), how outputs label it, where one is found;
- ``synth``: the synthetic twin, phantoms written in the archive's layout;
- ``download``: the Kaggle download, safe and bounded in time;
- ``index``: find, pair, validate and count a copy; pick a split;
- ``decode``: read and check one PNG, an image with its masks, resized for training;
- ``cache``: decoded uint8 arrays of a split, built once and reused;
- ``augment``: random affine and intensity changes, on a whole batch at once;
- ``batches``: training and evaluation batches drawn from a split held on the device;
- ``dataset``: a plain torch ``Dataset`` over a split (notebook 03's own loop, the baseline).

Nothing here imports the run settings or the model: the data layer sits below both.
"""
