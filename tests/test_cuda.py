"""The CUDA branches: batches held on the GPU, mixed precision, checkpoints across devices.

They run only where a CUDA GPU is present (skipped elsewhere, as in CI); the CPU tests cover
the same code paths at fp32.
"""

import pytest
import torch

from practical3.data.augment import AugmentSpec
from practical3.data.batches import batches
from practical3.data.cache import load_split
from practical3.evaluation.evaluate import evaluate
from practical3.training import checkpoint
from practical3.training.device import choose_precision
from practical3.training.loop import train
from practical3.training.profiles import profile

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
CUDA = torch.device("cuda")
CFG = profile("smoke").replace(epochs=2, batch_size=4, lr=3e-3, device="cuda")


def test_batches_are_gathered_and_augmented_on_the_gpu(data):
    source = load_split(data, "infection", "Train", 64)
    images, masks = next(iter(batches(source, 4, CUDA, train=True, augment=AugmentSpec())))
    assert images.device.type == masks.device.type == "cuda"
    assert images.shape == (4, 1, 64, 64) and set(masks.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("precision", ["auto", "fp16", "fp32"])
def test_training_on_the_gpu_records_its_precision_and_does_not_diverge(data, tmp_path, precision):
    history = train(CFG.replace(precision=precision), data, tmp_path, progress=False)
    run = (tmp_path / "run.json").read_text()
    assert f'"precision_used": "{choose_precision(precision, CUDA).name}"' in run
    assert history["train_loss"].notna().all() and len(history) == 2


def test_a_gpu_checkpoint_loads_and_evaluates_on_the_cpu(data, tmp_path):
    train(CFG, data, tmp_path / "run", progress=False)
    model, cfg = checkpoint.model_from(checkpoint.load(tmp_path / "run" / "best.pt"), "cpu")
    assert next(model.parameters()).device.type == "cpu" and cfg.device == "cuda"
    on_gpu = evaluate(tmp_path / "run" / "best.pt", data, tmp_path / "gpu", device="cuda",
                      progress=False)
    on_cpu = evaluate(tmp_path / "run" / "best.pt", data, tmp_path / "cpu", device="cpu",
                      progress=False)
    for target in cfg.targets:  # mixed precision on the GPU, fp32 on the CPU: close, not equal
        gpu, cpu = (r["metrics"][target]["all"]["dice_dataset"] for r in (on_gpu, on_cpu))
        assert gpu == pytest.approx(cpu, abs=0.02) if gpu is not None else cpu is None
