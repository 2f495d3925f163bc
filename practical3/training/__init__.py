"""Training: the run's settings, its identity and folder, checkpoints, losses, device and
precision, and the loop.

- ``config``: ``TrainConfig`` and the rules that check its settings;
- ``profiles``: the named profiles, the one ``auto`` picks, and their table;
- ``settings``: the settings a command may override, parsed from text;
- ``runs``: a run's id (settings + data fingerprint) and default folder;
- ``checkpoint``: atomic saves, safe loads, the model of a checkpoint;
- ``losses``: BCE, Dice (batch and per image), focal, their sums;
- ``device``: the device and the mixed precision a run uses;
- ``loop``: ``train``, ``resume``, ``ensure_trained`` and one ``train_step``;
- ``distributed``: data-parallel workers (process group, DDP, sums across workers);
- ``launch``: starting those workers (``train --gpus N``, or a subprocess from a notebook).
"""
