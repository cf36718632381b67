"""Reading files of each supported type, and refusing the rest with a reason."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from ingest.loading import SkipFile, read_document


def test_text_with_bom_and_crlf() -> None:
    data = "\ufeffسطر أول\r\nسطر ثان\r\n".encode()
    assert read_document(Path("a.txt"), data) == "سطر أول\nسطر ثان\n"


def test_markdown_is_read_as_text() -> None:
    assert read_document(Path("a.md"), "# عنوان\n\nنص".encode()) == "# عنوان\n\nنص"


def test_html_visible_text_only() -> None:
    html = (
        "<html><head><title>t</title><style>p{color:red}</style><script>var x='مخفي';</script></head>"
        "<body><nav>قائمة</nav><h1>عنوان الخبر</h1><p>الفقرة <b>الأولى</b>.</p><!-- تعليق --></body></html>"
    )
    text = read_document(Path("a.html"), html.encode())
    assert "عنوان الخبر" in text
    assert "الفقرة" in text and "الأولى" in text
    for hidden in ("مخفي", "color", "تعليق", "قائمة"):
        assert hidden not in text


def test_pdf_text_layer() -> None:
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    pdf.drawString(72, 720, "Baghouz was the last enclave.")
    pdf.showPage()
    pdf.save()
    assert "Baghouz was the last enclave." in read_document(Path("a.pdf"), buffer.getvalue())


def test_pdf_without_text_layer_is_skipped() -> None:
    from pypdf import PdfWriter

    buffer = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.write(buffer)
    with pytest.raises(SkipFile, match="no text layer"):
        read_document(Path("scan.pdf"), buffer.getvalue())


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.doc", b"\xd0\xcf\x11\xe0", "unsupported file type .doc"),
        ("a.docx", b"PK\x03\x04", "unreadable Word file"),
        ("a.txt", b"", "empty file"),
        ("a.txt", b"  \n\t ", "empty file"),
        ("a.txt", b"\x00\x01\x02binary", "binary"),
        ("a.txt", "نص".encode("cp1256"), "not valid UTF-8"),
        ("a.pdf", b"%PDF-1.4 broken", "PDF"),
    ],
)
def test_bad_files_are_refused_with_a_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(SkipFile, match=reason):
        read_document(Path(name), data)
