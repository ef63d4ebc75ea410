"""The field page's fixed words, in Bahasa Indonesia: what a saved form says, what a grower
records of an orchard, and why a harvest taught the forecast nothing."""

from __future__ import annotations

from forecast.learning import LeftOut
from services import id_date
from services.numbers import format_id

__all__ = ["DONE", "ORCHARD_KINDS", "left_out_words"]

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


def left_out_words(r: LeftOut) -> str:
    """Why learning left a harvest of the field out, as the page says it: a weight far from its
    forecast may be a typing slip the farmer can correct; a drought the forecast saw is not one."""
    said = f"Panen {id_date(r.harvest_date)} tidak dipakai untuk menyesuaikan perkiraan"
    if r.kind == "canopy_lost":
        return (
            f"{said}: waktu itu perkiraan menduga {100 * r.canopy_lost:.0f} % daun tanaman mati karena "
            "kekeringan, jadi panen itu tidak menunjukkan hasil biasa lahan ini."
        )
    if r.kind == "far_from_forecast":
        return (
            f"{said}: {format_id(r.tonnes * 1000)} kg, jauh dari perkiraan waktu itu "
            f"({format_id(r.forecast_tonnes * 1000)} kg). Kalau beratnya salah, perbaiki catatannya "
            "(atau minta pengurus koperasi)."
        )
    return f"{said}: tidak ada perkiraan untuk dibandingkan."
