"""What a copy is and how outputs label it: synthetic, COVID-QU-Ex, or other real X-rays."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from practical3.base.paths import display_path, project_root
from practical3.data import layout
from practical3.data.sources import (
    REAL_LABEL,
    SYNTHETIC_LABEL,
    SYNTHETIC_MARKER,
    copy_root,
    describe,
    is_synthetic,
    metadata,
    record,
    showable,
)
from practical3.data.synth import synthesize

REAL_LUNGS = project_root().parent / "shared" / "data" / "real-lungs-v7"
SAMPLE = project_root().parent / "shared" / "data" / "covidqu-sample"
LUNG = layout.PARTS["lung"]


def lung_copy(root: Path, names: list[str], readme: str | None = None,
              licences: dict[str, str] | None = None) -> Path:
    """A one-class Lung-part copy holding ``names`` (8x8 PNGs), with an optional README and
    metadata.csv."""
    for name in names:
        for folder in (layout.IMAGES_DIR, layout.LUNG_MASKS_DIR):
            path = root / LUNG / LUNG / "Test" / "COVID-19" / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    if readme:
        (root / "README.md").write_text(readme)
    if licences:
        rows = [f"Test,{name},p{i},{licence}" for i, (name, licence) in enumerate(licences.items())]
        (root / "metadata.csv").write_text("\n".join(["split,name,patientid,license", *rows]))
    return root


README = """# xray-set: chest films with lung masks

Some words.

Cite: The Makers, "Chest films" (2020);
J. Doe et al. (2021).
"""


def test_the_synthetic_twin_says_it_is_synthetic(tmp_path):
    twin = synthesize(tmp_path / "twin", per_class=1, size=32, parts=("lung",))
    source = describe(twin / LUNG)
    assert (source.kind, source.label, source.credit) == ("synthetic", SYNTHETIC_LABEL, None)
    assert not source.is_covidqu


def test_a_twin_whose_marker_was_removed_is_still_synthetic(tmp_path):
    """Issue 28, item 1: before, its archive-like names made it 'real COVID-QU-Ex'."""
    twin = synthesize(tmp_path / "twin", per_class=1, size=32, parts=("lung",))
    (twin / SYNTHETIC_MARKER).unlink()
    source = describe(twin)
    assert (source.kind, source.is_covidqu) == ("synthetic", False)
    assert is_synthetic(twin / LUNG)


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="needs ../shared/data/covidqu-sample")
def test_real_covid_qu_ex_images_are_not_taken_for_the_twin():
    assert describe(SAMPLE).is_covidqu and not is_synthetic(SAMPLE)


def test_archive_file_names_are_covid_qu_ex(tmp_path):
    root = lung_copy(tmp_path, [layout.file_name(c, 7) for c in layout.CLASSES])
    source = describe(root)
    assert source.is_covidqu and source.label == REAL_LABEL
    assert "Tahir et al." in source.credit


def test_other_real_xrays_are_named_from_their_readme_and_credited(tmp_path):
    root = lung_copy(tmp_path, ["film-a.png", "film-b.png"], readme=README)
    source = describe(root)
    assert not source.is_covidqu and source.dataset == "xray-set"
    assert source.label.startswith("Data: real chest X-rays from xray-set (not COVID-QU-Ex")
    assert "anasmohammedtahir" not in source.label
    assert source.credit == 'The Makers, "Chest films" (2020); J. Doe et al. (2021).'
    assert source.stamp == f"{source.label}\nCredit: {source.credit}"


def test_a_label_given_as_a_value_names_the_copy(tmp_path):
    root = lung_copy(tmp_path, ["film-a.png"], readme=README)
    assert describe(root, label="my hospital's films").label == "Data: my hospital's films"
    assert describe(root).dataset == "xray-set"


def test_the_record_is_the_source_and_where_it_is(tmp_path):
    root = lung_copy(tmp_path, ["film-a.png"], readme=README)
    assert record(root, label="films") == {
        "kind": "real", "dataset": "films", "label": "Data: films",
        "credit": 'The Makers, "Chest films" (2020); J. Doe et al. (2021).',
        "note": "Some words.",
        "root": display_path(root)}


def test_a_path_inside_a_part_folder_finds_the_copy_root(tmp_path):
    root = lung_copy(tmp_path, ["film-a.png"], readme=README)
    inside = root / LUNG / LUNG / "Test"
    assert copy_root(inside) == root.resolve()
    assert describe(inside).dataset == "xray-set"


@pytest.mark.parametrize(("licence", "shown"), [
    ("CC BY 4.0", True), ("CC BY 3.0", True), ("CC BY-SA 4.0", True), ("CC0", True),
    ("CC BY-NC-SA 4.0", False), ("CC BY-NC-ND", False), ("", False),
    ("listed as authorized for everyone", False)])
def test_figures_show_an_image_only_under_an_open_licence(tmp_path, licence, shown):
    root = lung_copy(tmp_path, ["film-a.png"], licences={"film-a.png": licence})
    assert showable(root, "film-a.png") is shown
    assert metadata(root)["film-a.png"]["patientid"] == "p0"


def test_images_of_a_copy_without_licence_metadata_may_be_shown(tmp_path):
    root = lung_copy(tmp_path, ["film-a.png"])
    assert showable(root, "film-a.png")


@pytest.mark.skipif(not REAL_LUNGS.is_dir(), reason=f"absent: {REAL_LUNGS}")
def test_the_shared_real_lungs_copy_is_not_labelled_covid_qu_ex():
    source = describe(REAL_LUNGS)
    assert source.kind == "real" and not source.is_covidqu
    assert source.dataset == "real-lungs-v7" and "V7 Labs" in source.credit


def test_a_copy_describes_itself_by_its_readme_opening_prose(tmp_path):
    """What a report quotes about how the copy was made: the prose before the first table,
    code skipped, a colon that introduced it turned into a full stop."""
    readme = ("# COVID-QU-Ex, re-split\n\nImages of the archive's Train split,\nin its layout:\n\n"
              "```\nInfection Segmentation Data/...\n```\n\nRe-split 80/10/10 per class:\n\n"
              "| split | images |\n| --- | --- |\n\nCite: A. M. Tahir et al.\n")
    root = lung_copy(tmp_path, [layout.file_name(c, 7) for c in layout.CLASSES], readme=readme)
    assert describe(root).note == ("Images of the archive's Train split, in its layout. "
                                   "Re-split 80/10/10 per class.")
    assert describe(lung_copy(tmp_path / "bare", ["film-a.png"])).note is None


def test_the_infection_parts_spelling_of_non_covid_names_is_the_archives(tmp_path):
    """The Infection part names Non-COVID files "Non_COVID (44).png", the Lung part
    "non_COVID (44).png": both are COVID-QU-Ex."""
    root = lung_copy(tmp_path, ["covid_1.png", "Non_COVID (44).png", "Normal (1).png"])
    assert describe(root).is_covidqu
