"""A small, valid PDF for `GET /invoice/{id}/pdf`: enough for a client to store or show."""

from __future__ import annotations

from qbo_sandbox.common import JSON


def _escape(text: str) -> str:
    # PDF literal strings need \, ( and ) escaped; the standard Type1 font only has
    # Latin-1, so anything beyond it is replaced.
    latin = text.encode("latin-1", "replace").decode("latin-1")
    return latin.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def invoice_pdf(company: JSON, invoice: JSON) -> bytes:
    lines = [
        str(company.get("CompanyName", "")),
        f"Invoice {invoice.get('DocNumber', invoice['Id'])}",
        f"Customer: {invoice['CustomerRef'].get('name', invoice['CustomerRef']['value'])}",
        f"Date: {invoice.get('TxnDate', '')}   Due: {invoice.get('DueDate', '')}",
        "",
    ]
    for line in invoice.get("Line", []):
        detail = line.get("SalesItemLineDetail")
        if detail:
            item = detail.get("ItemRef", {}).get("name", "")
            lines.append(f"{item}  x{detail.get('Qty', '')}  {line.get('Amount', 0)}")
    lines += ["", f"Total: {invoice.get('TotalAmt', 0)}   Balance: {invoice.get('Balance', 0)}"]
    text = "BT /F1 11 Tf 50 780 Td 14 TL " + " ".join(f"({_escape(t)}) '" for t in lines) + " ET"
    stream = text.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)
