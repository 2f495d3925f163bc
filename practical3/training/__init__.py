"""Training: the run's settings, its identity and folder, checkpoints, losses, device and
precision, and the loop.

- ``config``: ``TrainConfig`` and the named profiles;
- ``runs``: a run's id (settings + data fingerprint) and default folder;
- ``checkpoint``: atomic saves, safe loads, the model of a checkpoint;
- ``losses``: BCE, Dice (batch and per image), focal, their sums;
- ``device``: the device and the mixed precision a run uses;
- ``loop``: ``train``, ``resume``, ``ensure_trained`` and one ``train_step``;
- ``distributed``: data-parallel workers (process group, DDP, sums across workers);
- ``launch``: starting those workers (``train --gpus N``, or a subprocess from a notebook).
"""
