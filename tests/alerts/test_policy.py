"""Gritting policy: GRITTING.md's defaults, route overrides and policy files; precise errors."""

from pathlib import Path

import pytest

from alerts.policy import GrittingPolicy, PolicyError, load_policy


def test_the_defaults_are_gritting_md_s() -> None:
    policy = GrittingPolicy()

    assert policy.marginal_threshold_c == 1.0
    assert policy.freezing_threshold_c == 0.0
    assert policy.horizon_minutes == 180
    assert policy.silence_minutes == 45
    assert (policy.hysteresis_c, policy.hysteresis_minutes) == (0.5, 30)
    assert (policy.trend_window_minutes, policy.trend_min_points) == (120, 4)
    assert policy.precautionary is False
    assert policy.horizon_ns == 3 * 3600 * 10**9
    assert policy.silence_ns == 45 * 60 * 10**9


def test_by_default_a_frost_forecast_treats_within_two_hours_or_one_on_a_line() -> None:
    policy = GrittingPolicy()

    assert policy.treat_when_forecast_at_or_below_c == 0.0
    assert (policy.treat_lookahead_minutes, policy.treat_lookahead_line_minutes) == (120, 60)
    assert policy.treat_lookahead_ns == 120 * 60 * 10**9
    assert policy.treat_lookahead_line_ns == 60 * 60 * 10**9


def test_a_look_ahead_never_reaches_past_the_horizon() -> None:
    policy = GrittingPolicy(horizon_minutes=90)

    assert policy.treat_lookahead_ns == policy.treat_lookahead_line_ns * 3 // 2 == policy.horizon_ns


@pytest.mark.parametrize("off", [None, False], ids=["null (JSON)", "false (TOML)"])
def test_forecast_driven_treat_is_switched_off_by_null_or_false(off: object) -> None:
    policy = GrittingPolicy().with_overrides({"treat_when_forecast_at_or_below_c": off})

    assert policy.treat_when_forecast_at_or_below_c is None


def test_a_policy_file_switches_forecast_driven_treat_off_with_false(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[gritting]\ntreat_when_forecast_at_or_below_c = false\n")

    assert load_policy(path).treat_when_forecast_at_or_below_c is None


def test_a_treat_level_at_or_above_the_marginal_threshold_is_refused() -> None:
    with pytest.raises(PolicyError, match="set precautionary = true"):
        GrittingPolicy().with_overrides({"treat_when_forecast_at_or_below_c": 1.0})
    with pytest.raises(PolicyError, match="treat_when_forecast_at_or_below_c: Input should be"):
        GrittingPolicy().with_overrides({"treat_when_forecast_at_or_below_c": True})


def test_a_route_overrides_only_what_it_names() -> None:
    policy = GrittingPolicy().with_overrides({"marginal_threshold_c": 0.5, "precautionary": True})

    assert policy.marginal_threshold_c == 0.5
    assert policy.precautionary is True
    assert policy.horizon_minutes == 180
    assert GrittingPolicy().marginal_threshold_c == 1.0


def test_an_integer_is_a_number_of_degrees() -> None:
    assert GrittingPolicy().with_overrides({"horizon_minutes": 120}).horizon_minutes == 120.0


def test_an_unknown_key_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        PolicyError, match=r"unknown setting 'horizn_minutes' \(did you mean 'horizon_minutes'\?\)"
    ):
        GrittingPolicy().with_overrides({"horizn_minutes": 120})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"horizon_minutes": "120"},
            r"horizon_minutes: Input should be a valid number \(got '120'\)",
        ),
        ({"precautionary": "yes"}, r"precautionary: Input should be a valid boolean"),
        ({"precautionary": 1}, r"precautionary: Input should be a valid boolean"),
        ({"marginal_threshold_c": True}, r"marginal_threshold_c: Input should be a valid number"),
        ({"trend_min_points": 2.5}, r"trend_min_points: Input should be a valid integer"),
        ({"silence_minutes": 0}, r"silence_minutes: Input should be greater than 0"),
        ({"hysteresis_c": float("nan")}, r"hysteresis_c: Input should be a finite number"),
    ],
)
def test_a_wrong_type_or_range_is_named(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        GrittingPolicy().with_overrides(overrides)


def test_thresholds_out_of_order_are_refused() -> None:
    with pytest.raises(
        PolicyError,
        match=r"route policy: freezing_threshold_c \(1.5\) must be below "
        r"marginal_threshold_c \(1.0\)",
    ):
        GrittingPolicy().with_overrides({"freezing_threshold_c": 1.5})


def test_overrides_must_be_a_table() -> None:
    with pytest.raises(PolicyError, match="expected a table of settings, got list"):
        GrittingPolicy().with_overrides([("horizon_minutes", 1)])  # type: ignore[arg-type]


def test_the_policy_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        GrittingPolicy().horizon_minutes = 1  # type: ignore[misc]


def test_a_policy_file_holds_a_gritting_table(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[gritting]\nmarginal_threshold_c = 0.5\nhorizon_minutes = 120\n")

    policy = load_policy(path)

    assert (policy.marginal_threshold_c, policy.horizon_minutes) == (0.5, 120)
    assert policy.silence_minutes == 45


def test_a_policy_file_applies_over_a_base(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text("[gritting]\nhorizon_minutes = 120\n")

    policy = load_policy(path, base=GrittingPolicy(precautionary=True))

    assert policy.precautionary and policy.horizon_minutes == 120


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "marginal_threshold_c = 0.5\n",
            r"expected the settings in a \[gritting\] table; found marginal",
        ),
        ("", r"expected the settings in a \[gritting\] table and the file is empty"),
        ("[gritting]\nhorizon = 120\n", r"policy.toml \[gritting\]: unknown setting 'horizon'"),
        ("[gritting]\n[other]\n", r"unexpected top-level keys other"),
        ("[gritting\n", r"not valid TOML"),
        ("gritting = 3\n", r"`gritting` must be a table"),
    ],
)
def test_a_bad_policy_file_says_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(text)

    with pytest.raises(PolicyError, match=message):
        load_policy(path)


def test_a_missing_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read the policy file"):
        load_policy(tmp_path / "absent.toml")
