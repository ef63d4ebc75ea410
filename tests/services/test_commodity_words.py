"""Every way a person may type a crop (the library's name or the Indonesian one the field page shows,
in any case, with spaces or underscores) names that crop; any other text stays as typed, for the
filter check to refuse (issue 36)."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from forecast.crops import load_crops
from services.access import commodity_named
from services.notify.messages import COMMODITY_ID

CROPS = sorted(load_crops())


@given(
    crop=st.sampled_from(CROPS),
    indonesian=st.booleans(),
    case=st.sampled_from([str.lower, str.upper, str.title]),
    joiner=st.sampled_from([" ", "_", "  "]),
    pad=st.sampled_from(["", " ", "  "]),
)
def test_a_crop_typed_any_way_is_that_crop(
    crop: str, indonesian: bool, case: Callable[[str], str], joiner: str, pad: str
) -> None:
    word = COMMODITY_ID[crop] if indonesian else crop
    typed = pad + case(joiner.join(word.replace("_", " ").split())) + pad
    assert commodity_named(typed) == crop


@given(text=st.text(max_size=40))
def test_any_other_text_stays_as_typed(text: str) -> None:
    named = commodity_named(text)
    assert named == text or named in CROPS
