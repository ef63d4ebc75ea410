"""The field page's fixed words, in Bahasa Indonesia: what a saved form says, and what a grower
records of an orchard."""

from __future__ import annotations

__all__ = ["DONE", "ORCHARD_KINDS"]

# What the page says after a form was saved (``?ok=<key>``).
DONE = {
    "panen": "Panen tersimpan. Terima kasih!",
    "sudah": "Panen ini sudah tersimpan sebelumnya (formulir terkirim dua kali); tidak dicatat dua kali.",
    "tanam": "Tanggal tanam tersimpan; prakiraan diperbarui pada siklus berikutnya.",
    "dibaca": "Peringatan ditandai sudah dibaca.",
    "kebun": "Catatan kebun tersimpan; prakiraan diperbarui pada siklus berikutnya.",
    "batal": "Catatan panen dibatalkan (tetap tersimpan sebagai riwayat, tidak dihitung lagi).",
    "ubah": "Catatan panen diperbaiki; catatan lama disimpan sebagai riwayat.",
}
# What a grower records of an orchard, in the field page's words.
ORCHARD_KINDS = {
    "defoliation": "Perompesan (rompes daun)",
    "flowering": "Bunga mekar",
    "fruit_count": "Hitung buah (rata-rata per pohon contoh)",
    "thinning": "Penjarangan buah (sisa buah per pohon)",
}
