"""``--since``: durations and ISO 8601 times, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from tiktok_connector_cli.app import cli
from tiktok_connector_cli.since import SinceError, parse_duration, parse_since

NOW = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
        ("2w", timedelta(weeks=2)),
        (" 1D ", timedelta(days=1)),
        ("1d 12h", timedelta(hours=36)),
        ("0m", timedelta(0)),
    ],
)
def test_durations_go_back_from_now(text: str, back: timedelta) -> None:
    assert parse_since(text, now=NOW) == NOW - back


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-11-20", datetime(2026, 11, 20, tzinfo=UTC)),
        ("2026-11-20T14:00", datetime(2026, 11, 20, 14, tzinfo=UTC)),
        ("2026-11-20T14:00:00Z", datetime(2026, 11, 20, 14, tzinfo=UTC)),
        ("2026-11-20T15:00:00+01:00", datetime(2026, 11, 20, 14, tzinfo=UTC)),
    ],
)
def test_iso_times_are_absolute_and_utc(text: str, moment: datetime) -> None:
    assert parse_since(text, now=NOW) == moment
    assert parse_since(text, now=NOW).tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["", "1", "h", "1x", "-1h", "1.5h", "yesterday", "1h-", "2026-13-01", "11y"]
)
def test_anything_else_is_refused_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(SinceError) as err:
        parse_since(text, now=NOW)
    assert "30m" in str(err.value) or "ISO 8601" in str(err.value)


def test_more_than_ten_years_is_refused() -> None:
    with pytest.raises(SinceError, match="ten years"):
        parse_duration("600w")


@given(
    parts=st.lists(st.tuples(st.integers(0, 100), st.sampled_from("smhdw")), min_size=1, max_size=4)
)
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = "".join(f"{n}{unit}" for n, unit in parts)
    assert parse_duration(text) == timedelta(seconds=sum(n * seconds[u] for n, u in parts))


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)))
def test_an_iso_time_round_trips(moment: datetime) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(hours=3)))
    assert parse_since(aware.isoformat(), now=NOW) == aware.astimezone(UTC)


@given(st.text(alphabet="abcxyz!?. ", min_size=1, max_size=8))
def test_words_are_never_durations(text: str) -> None:
    with pytest.raises(SinceError):
        parse_since(text, now=NOW)


def test_the_cli_refuses_a_bad_since_before_reading_any_stack() -> None:
    result = CliRunner().invoke(cli, ["jobs", "--since", "yesterday"], obj={})
    assert result.exit_code == 2
    assert "is not a duration such as 30m, 1h, 1d" in result.output
