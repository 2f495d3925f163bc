"""What a model learnt from: the line every evaluate and predict prints, and its warnings."""

from practical3.evaluation.provenance import UNKNOWN, label, record, summary, warning

REAL = {"kind": "real", "dataset": "COVID-QU-Ex", "label": "Data: COVID-QU-Ex (real X-rays)",
        "credit": None, "root": "data/raw", "fingerprint": "0123456789abcdef" * 4,
        "n_train_images": 1864, "n_val_images": 466}
SYNTHETIC = {**REAL, "kind": "synthetic", "label": "Data: SYNTHETIC phantoms"}


def test_the_summary_names_the_data_counts_and_fingerprint():
    assert summary(REAL) == ("model trained on: Data: COVID-QU-Ex (real X-rays) (1864 Train "
                             "and 466 Val images in data/raw, fingerprint 0123456789ab)")


def test_a_checkpoint_without_a_record_says_training_data_unknown():
    assert summary(None).startswith(f"model: {UNKNOWN}")
    assert label({"run_id": "x"}) == UNKNOWN
    assert record({"run_id": "x"}, "real", "f")["checkpoint_record"] is None


def test_a_real_model_on_real_data_gets_no_warning():
    assert warning(REAL) is None and warning(REAL, "real") is None


def test_a_model_trained_on_phantoms_is_warned_about():
    assert warning(SYNTHETIC).startswith("WARNING: this model was trained on SYNTHETIC phantoms")


def test_a_model_evaluated_on_another_kind_of_data_is_warned_about():
    assert warning(SYNTHETIC, "real").startswith(
        "WARNING: this model was trained on SYNTHETIC data and is evaluated on real data")
    assert warning(REAL, "synthetic").startswith(
        "WARNING: this model was trained on REAL data and is evaluated on synthetic data")


def test_the_record_says_whether_the_evaluated_files_are_the_training_files():
    state = {"training_data": REAL}
    assert record(state, "real", REAL["fingerprint"])["same_files_as_evaluated"] is True
    assert record(state, "real", "other")["same_files_as_evaluated"] is False
