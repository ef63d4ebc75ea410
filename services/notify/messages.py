"""The words of a notification, in the reader's language: Bahasa Indonesia (``id``, the default) or
English (``en``).

A message says what happened, where, and what to do, in one or two sentences short enough for a
WhatsApp template body (1,024 characters; ours stay under 320) and an SMS-sized phone screen, and
ends with the link to the field page. The figures come from the alert's ``facts``; an alert without
them (raised before facts were kept) falls back to its English message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from services.kinds import AlertKind

__all__ = [
    "COMMODITY_ID",
    "LANGUAGES",
    "Message",
    "alert_message",
    "confirm_message",
    "digest_message",
    "probe_message",
    "sign_in_message",
]

LANGUAGES = ("id", "en")
MAX_BODY = 1000  # under WhatsApp's 1,024-character template body, with room for the link

COMMODITY_ID = {
    "potato": "kentang",
    "cabbage": "kubis",
    "carrot": "wortel",
    "tomato": "tomat",
    "chili": "cabai",
    "shallot": "bawang merah",
    "sweet_corn": "jagung manis",
    "rice": "padi",
    "strawberry": "stroberi",
    "apple": "apel",
    "citrus": "jeruk",
}

Facts = Mapping[str, float | str]


@dataclass(frozen=True)
class Message:
    """A title (e-mail subject, push title) and a body."""

    title: str
    body: str


def _num(facts: Facts, key: str, fmt: str = ".0f") -> str:
    value = facts.get(key)
    return format(float(value), fmt) if isinstance(value, int | float) else "?"


def _irrigation(lang: str, where: str, f: Facts) -> str:
    return _irrigation_state(lang, where, f) + _death_risk(lang, f)


def _irrigation_state(lang: str, where: str, f: Facts) -> str:
    if "soil_vwc_pct" in f and "threshold_vwc_pct" in f:
        vwc, limit = _num(f, "soil_vwc_pct"), _num(f, "threshold_vwc_pct")
        if lang == "id":
            return f"Lahan {where}: kelembapan tanah {vwc} %, di bawah batas {limit} %. Siram hari ini."
        return f"Field {where}: soil moisture {vwc} %, below the {limit} % limit. Irrigate today."
    dep, raw = _num(f, "depletion_mm"), _num(f, "raw_mm")
    if lang == "id":
        return f"Lahan {where}: tanah kekurangan air {dep} mm, lewat batas {raw} mm. Siram hari ini."
    return (
        f"Field {where}: the root zone is {dep} mm short of water, past the {raw} mm limit. Irrigate today."
    )


def _death_risk(lang: str, f: Facts) -> str:
    """The forecast's chance that the crop dies of drought, when it is worth a warning (issue 38)."""
    if "death_in_ten" not in f:
        return ""
    n = _num(f, "death_in_ten", ".0f")
    if lang == "id":
        return f" Tanpa air, tanaman bisa mati ({n} dari 10 kemungkinan cuaca)."
    return f" Without water the crop may die ({n} in 10 weathers)."


def _frost(lang: str, where: str, f: Facts) -> str:
    t = _num(f, "air_temp_c", ".1f")
    if lang == "id":
        return (
            f"Awas embun upas! Lahan {where}: suhu udara turun ke {t} °C. "
            "Periksa daun sebelum matahari terbit dan siram daun untuk mencairkan embun beku."
        )
    return (
        f"Frost warning! Field {where}: air temperature fell to {t} °C. "
        "Check the leaves before sunrise and spray them to melt the frost."
    )


def _heat(lang: str, where: str, f: Facts) -> str:
    t, limit = _num(f, "air_temp_c", ".1f"), _num(f, "limit_c")
    crop = str(f.get("commodity", ""))
    if lang == "id":
        return (
            f"Lahan {where}: suhu udara {t} °C, di atas {limit} °C untuk {COMMODITY_ID.get(crop, crop)}. "
            "Siram sore hari dan periksa tanaman."
        )
    return f"Field {where}: air temperature {t} °C, above {limit} °C for {crop}. Irrigate in the evening."


def _offline(lang: str, where: str, f: Facts) -> str:
    hours = f.get("silent_h")
    # Minutes below an hour: "0 jam" told a farmer nothing (issue 39). A figure that is not a
    # number (a hand-made alert) reads "?" rather than failing the message.
    if hours is None:
        since = "belum pernah mengirim data" if lang == "id" else "has never reported"
    else:
        took = _duration(lang, float(hours)) if isinstance(hours, int | float) else "?"
        since = f"tidak mengirim data {took}" if lang == "id" else f"silent for {took}"
    if lang == "id":
        return f"Sensor {where} {since}. Periksa baterai dan antenanya."
    return f"Sensor {where} {since}. Check its battery and antenna."


def _battery(lang: str, where: str, f: Facts) -> str:
    value, unit = _num(f, "value", "g"), str(f.get("unit", ""))
    if lang == "id":
        return f"Baterai sensor {where} tinggal {value} {unit}. Ganti baterai minggu ini."
    return f"Sensor {where} battery at {value} {unit}. Replace it this week."


def _contract(lang: str, where: str, f: Facts) -> str:
    p = _num(f, "probability", ".0%") if isinstance(f.get("probability"), float) else "?"
    short = _num(f, "shortfall_p50_t", ".1f")
    if lang == "id":
        return f"Kontrak {where}: peluang terpenuhi {p}, kekurangan P50 {short} t. Cari pasokan tambahan."
    return f"Contract {where}: covered with probability {p}, P50 shortfall {short} t. Find more supply."


def _refresh(lang: str, where: str, f: Facts) -> str:
    if lang == "id":
        return "Pembaruan prakiraan panen gagal; prakiraan terakhir masih dipakai. Periksa log panen."
    return "The forecast refresh failed; the previous forecasts are still served. Check panen's log."


_RENDER: dict[str, Callable[[str, str, Facts], str]] = {
    AlertKind.IRRIGATION_NEEDED: _irrigation,
    AlertKind.FROST_RISK: _frost,
    AlertKind.HEAT_STRESS: _heat,
    AlertKind.NODE_OFFLINE: _offline,
    AlertKind.BATTERY_LOW: _battery,
    AlertKind.CONTRACT_AT_RISK: _contract,
    AlertKind.REFRESH_FAILED: _refresh,
}
_TITLE: dict[str, dict[str, str]] = {
    "id": {
        AlertKind.IRRIGATION_NEEDED: "Perlu siram",
        AlertKind.FROST_RISK: "Awas embun upas",
        AlertKind.HEAT_STRESS: "Suhu terlalu panas",
        AlertKind.NODE_OFFLINE: "Sensor diam",
        AlertKind.BATTERY_LOW: "Baterai sensor lemah",
        AlertKind.CONTRACT_AT_RISK: "Kontrak berisiko",
        AlertKind.REFRESH_FAILED: "Prakiraan gagal diperbarui",
    },
    "en": {
        AlertKind.IRRIGATION_NEEDED: "Irrigation needed",
        AlertKind.FROST_RISK: "Frost warning",
        AlertKind.HEAT_STRESS: "Heat stress",
        AlertKind.NODE_OFFLINE: "Sensor silent",
        AlertKind.BATTERY_LOW: "Sensor battery low",
        AlertKind.CONTRACT_AT_RISK: "Contract at risk",
        AlertKind.REFRESH_FAILED: "Forecast refresh failed",
    },
}
_EVENT = {
    "id": {"escalation": "[Eskalasi: belum ditanggapi {h}] ", "reminder": "[Pengingat] "},
    "en": {"escalation": "[Escalated: not acknowledged for {h}] ", "reminder": "[Reminder] "},
}


def _duration(lang: str, hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.0f} {'menit' if lang == 'id' else 'min'}"
    return f"{hours:.0f} {'jam' if lang == 'id' else 'h'}"


_OPEN = {"id": "Buka", "en": "Open"}


def _lang(language: str) -> str:
    return language if language in LANGUAGES else "id"


def alert_message(
    *,
    kind: str,
    subject: str,
    facts: Facts | None,
    english: str,
    language: str,
    link: str,
    event: str = "raised",
    unacknowledged_h: float = 0.0,
) -> Message:
    """The message about one alert for a reader of ``language``.

    ``event`` is ``raised``, ``escalation`` (to the cooperative's managers, saying for how long
    nobody acknowledged it) or ``reminder``.
    """
    lang = _lang(language)
    render = _RENDER.get(kind)
    text = render(lang, subject, facts) if render is not None and facts is not None else english
    prefix = _EVENT[lang].get(event, "").format(h=_duration(lang, unacknowledged_h))
    body = f"{prefix}{text} {_OPEN[lang]}: {link}"
    return Message(_TITLE[lang].get(kind, kind), body[:MAX_BODY])


def digest_message(
    items: Sequence[tuple[str, str, Facts | None, str]], *, language: str, link: str
) -> Message:
    """One morning message gathering ``items`` (kind, subject, facts, English message)."""
    lang = _lang(language)
    head = (
        f"Ringkasan pagi panen: {len(items)} hal perlu diperiksa."
        if lang == "id"
        else f"panen morning digest: {len(items)} things to check."
    )
    lines = []
    for kind, subject, facts, english in items:
        render = _RENDER.get(kind)
        lines.append("• " + (render(lang, subject, facts) if render and facts is not None else english))
    tail = f"\n{_OPEN[lang]}: {link}"
    body = head
    for line in lines:  # whole lines only, as many as fit
        if len(body) + 1 + len(line) + len(tail) > MAX_BODY:
            body += "\n…"
            break
        body += "\n" + line
    title = "Ringkasan pagi" if lang == "id" else "Morning digest"
    return Message(title, body + tail)


def sign_in_message(*, code: str, link: str, language: str, minutes: int) -> Message:
    """The one-time code and personal link for the field page."""
    if _lang(language) == "id":
        return Message(
            "Kode masuk panen",
            f"Kode masuk panen Anda: {code} (berlaku {minutes} menit). Atau buka: {link}. "
            "Jangan berikan kode ini kepada siapa pun.",
        )
    return Message(
        "panen sign-in code",
        f"Your panen sign-in code: {code} (valid {minutes} minutes). Or open: {link}. Share it with no one.",
    )


def confirm_message(*, code: str, link: str, language: str, days: int) -> Message:
    """The one message an unconfirmed channel carries: someone added this address to panen. It holds
    no word a person chose (no contact name: anyone may add an address, so anything they wrote would
    reach a stranger), only the code, the link and how to ignore it."""
    if _lang(language) == "id":
        return Message(
            "Pastikan alamat untuk panen",
            f"Alamat ini ditambahkan untuk pesan panen (peringatan lahan dari koperasi). Jika benar milik "
            f"Anda, buka {link} atau beri tahu pengurus koperasi kode {code} (berlaku {days} hari). Jika "
            "bukan, abaikan pesan ini: panen tidak mengirim apa pun lagi ke alamat ini.",
        )
    return Message(
        "Confirm your address for panen",
        f"This address was added to receive panen's messages (field alerts from a cooperative). If it is "
        f"yours, open {link} or give your cooperative the code {code} (valid {days} days). If not, ignore "
        "this message: panen sends nothing more to this address.",
    )


def probe_message(*, language: str) -> Message:
    """What ``panen notify test`` sends."""
    if _lang(language) == "id":
        return Message("Uji panen", "Pesan uji dari panen: saluran ini berfungsi.")
    return Message("panen test", "A test message from panen: this channel works.")
