"""Writes the damaged workbooks of this corpus (run once; the files are committed).

    .venv/bin/python tests/damaged_workbooks.py

Each starts from the same small, valid change population (3 changes) written by openpyxl, then is
damaged the way real files were found damaged (issue 12, "hostile files"):

damaged_truncated_sheet.xlsx      the sheet's XML cut in the middle (openpyxl: xml ParseError)
damaged_encrypted_entry.xlsx      every zip entry flagged as encrypted (zipfile: RuntimeError)
damaged_unknown_compression.xlsx  every zip entry with compression method 99 (zipfile: NotImplementedError)
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent / "bad_inputs"
HEADER = ["change_id", "title", "author", "approver", "created_at", "approved_at", "deployed_at"]


def valid_workbook() -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for i in range(1, 4):
        sheet.append([f"CHG-{i}", "Patch", "ana", "ben", f"2026-01-0{i}T10:00:00Z", f"2026-01-0{i}T11:00:00Z",
                      f"2026-01-0{i}T12:00:00Z"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewrite(data: bytes, change) -> bytes:
    """The archive again, each entry's bytes passed through ``change(name, content)``."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info.filename, change(info.filename, source.read(info.filename)))
    return out.getvalue()


def patch_headers(data: bytes, *, flags: int | None = None, method: int | None = None) -> bytes:
    """Set bits in the general-purpose flags, or the compression method, of every local and central header."""
    patched = bytearray(data)
    for signature, flag_at, method_at in ((b"PK\x03\x04", 6, 8), (b"PK\x01\x02", 8, 10)):
        at = patched.find(signature)
        while at >= 0:
            if flags is not None:
                struct.pack_into("<H", patched, at + flag_at, struct.unpack_from("<H", patched, at + flag_at)[0] | flags)
            if method is not None:
                struct.pack_into("<H", patched, at + method_at, method)
            at = patched.find(signature, at + 4)
    return bytes(patched)


def main() -> None:
    good = valid_workbook()
    (HERE / "damaged_truncated_sheet.xlsx").write_bytes(
        rewrite(good, lambda name, content: content[: len(content) // 2] if name.endswith("sheet1.xml") else content))
    (HERE / "damaged_encrypted_entry.xlsx").write_bytes(patch_headers(good, flags=0x1))
    (HERE / "damaged_unknown_compression.xlsx").write_bytes(patch_headers(good, method=99))


if __name__ == "__main__":
    main()
