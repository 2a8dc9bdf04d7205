from docproc_assets.core.groundtruth import Degradation, sidecar_pages, synthetic_pages
from docproc_tests import documents as D


def test_sidecar_pages_split_on_form_feeds(tmp_path):
    doc = D.png(tmp_path / "scan.png")
    assert sidecar_pages(doc) is None
    (tmp_path / "scan.gt.txt").write_text("page one\fpage two")
    assert sidecar_pages(doc) == ["page one", "page two"]


def test_synthetic_pages_carry_the_text_layer(tmp_path):
    pdf = D.mixed_pdf(tmp_path / "m.pdf", "dsd")
    pages = list(synthetic_pages(pdf, dpis=(100,), degradations=(Degradation(), Degradation.scan_like(seed=3))))
    # the scanned page has no trustworthy text layer: only pages 1 and 3, twice each
    assert [(p.page_number, p.degradation.label) for p in pages] == [
        (1, "clean"), (1, "rot0.6-blur0.7-noise8-jpeg65"), (3, "clean"), (3, "rot0.6-blur0.7-noise8-jpeg65"),
    ]
    assert "lazy dog" in pages[0].reference and pages[0].image.width == 850
    clean, degraded = pages[0].image, pages[1].image
    assert clean.size == degraded.size and clean.tobytes() != degraded.tobytes()


def test_degradation_is_reproducible(tmp_path):
    page = next(synthetic_pages(D.digital_pdf(tmp_path / "d.pdf"), dpis=(72,)))
    d = Degradation.scan_like(seed=7)
    assert d.apply(page.image).tobytes() == d.apply(page.image).tobytes()
