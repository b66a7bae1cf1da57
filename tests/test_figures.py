"""Figure: a figure that may be incomplete is one value, and cannot be used as a plain number by accident."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelaudit.figures import Figure, IncompleteFigureError, figure_sum, rank, revive, to_data
from modelaudit.units import exact, human, human_bytes

EXACT = Figure.exact(1_200_000)
FLOOR = Figure.at_least(1_200_000)
CEILING = Figure.at_most(4_100)
UNKNOWN = Figure.unknown()


def test_text_on_every_surface_keeps_the_bound():
    assert (str(EXACT), str(FLOOR), str(CEILING), str(UNKNOWN)) == ("1,200,000", "≥ 1,200,000", "≤ 4,100", "?")
    assert (human(EXACT), human(FLOOR), human(UNKNOWN)) == ("1.20 M", "≥ 1.20 M", "?")
    assert human_bytes(Figure.at_least(2048)) == "≥ 2.00 KiB"
    assert exact(FLOOR) == "≥ 1,200,000"
    assert f"{FLOOR:,}" == "≥ 1,200,000" and f"{UNKNOWN:>5,}" == "    ?"


@pytest.mark.parametrize("figure", [FLOOR, CEILING, UNKNOWN])
def test_an_incomplete_figure_refuses_to_be_a_number(figure):
    for use in (int, float, bool, lambda f: f < 10, lambda f: f >= 10, lambda f: f > EXACT, lambda f: [0][f]):
        with pytest.raises((IncompleteFigureError, TypeError)):
            use(figure)


@pytest.mark.parametrize("figure", [FLOOR, CEILING, UNKNOWN])
def test_an_incomplete_figure_has_no_difference_or_ratio(figure):
    for use in (lambda f: f - 1, lambda f: 1 - f, lambda f: f / 2, lambda f: 2 / f, lambda f: f // 2, abs):
        with pytest.raises(IncompleteFigureError):
            use(figure)
    with pytest.raises(IncompleteFigureError):
        EXACT - figure


def test_an_exact_figure_is_a_number():
    assert EXACT - 200_000 == 1_000_000 and 2_400_000 / EXACT == 2.0 and EXACT // Figure.exact(7) == 171_428
    assert EXACT / 1e6 == pytest.approx(1.2) and float(EXACT) == pytest.approx(1.2e6)
    assert int(EXACT) == 1_200_000 and EXACT < 2_000_000 and EXACT >= 1_200_000 and EXACT == 1_200_000
    assert [10, 20][Figure.exact(1)] == 20


def test_unknown_equals_no_number():
    assert UNKNOWN != 0 and FLOOR != 1_200_000 and UNKNOWN == Figure.unknown()


def test_sums_keep_what_is_known():
    # 5 known MACs and one node unknown: at least 5, never 5 and never 0
    assert Figure.exact(5) + UNKNOWN == Figure.at_least(5)
    assert sum([Figure.exact(2), Figure.exact(3)]) == Figure.exact(5)
    assert UNKNOWN + UNKNOWN == UNKNOWN
    assert Figure.exact(0) + UNKNOWN == UNKNOWN  # "≥ 0" says nothing
    assert FLOOR + CEILING == UNKNOWN  # a floor plus a ceiling bounds nothing
    assert CEILING + Figure.exact(1) == Figure.at_most(4_101)
    assert figure_sum([1, 2, None]) == Figure.at_least(3)
    assert figure_sum([1, 2, 3]) == Figure.exact(6)
    assert figure_sum([None, 0]) == UNKNOWN


def test_scaling_and_maps():
    assert FLOOR * 3 == Figure.at_least(3_600_000) and 2 * EXACT == Figure.exact(2_400_000)
    assert UNKNOWN * 4 == UNKNOWN
    with pytest.raises(ValueError):
        FLOOR * -1  # noqa: B018
    # a time is at least t: the rate is at most 1/t
    assert Figure.at_least(2.0).map(lambda t: 1 / t, decreasing=True) == Figure.at_most(0.5)


def test_budget_questions_are_explicit():
    assert EXACT.provably_at_most(1_200_000) and not EXACT.provably_above(1_200_000)
    assert not FLOOR.provably_at_most(10**12)  # the unknown part may be anything
    assert FLOOR.provably_above(1_000_000) and not FLOOR.provably_above(2_000_000)
    assert CEILING.provably_at_most(5_000) and not UNKNOWN.provably_at_most(10**18)


def test_largest_of_time_bounds():
    assert Figure.largest(Figure.exact(3.0), Figure.exact(5.0)) == Figure.exact(5.0)
    assert Figure.largest(Figure.at_least(3.0), Figure.exact(5.0)) == Figure.at_least(5.0)
    assert Figure.largest(UNKNOWN, Figure.exact(2.0)) == Figure.at_least(2.0)


def test_json_form_round_trips():
    for f in (EXACT, FLOOR, CEILING, UNKNOWN, Figure.exact(0.25)):
        assert Figure.from_dict(f.as_dict()) == f
    assert UNKNOWN.as_dict() == {"value": None, "bound": "unknown"}


def test_invalid_figures_are_refused():
    for value, state in ((None, "exact"), (3, "unknown"), (float("nan"), "exact"), (True, "exact"), (1, "maybe")):
        with pytest.raises(ValueError):
            Figure(value, state)


parts = st.lists(st.one_of(st.none(), st.integers(0, 10**12)), max_size=30)


@given(parts, parts)
def test_sum_is_a_true_bound_of_every_completion(left, right):
    """Whatever the unknown parts turn out to be (any non-negative numbers), the true total lies
    within the figure's bound; and the figure is exact exactly when nothing is unknown."""
    total = figure_sum(left) + figure_sum(right)
    known = sum(v for v in left + right if v is not None)
    assert total.complete == (None not in left + right)
    for filler in (0, 1, 10**15):
        truth = known + filler * (left + right).count(None)
        assert total.lower is None or total.lower <= truth
        assert total.upper is None or truth <= total.upper


def test_json_form_round_trips_through_documents():
    document = {"totals": {"macs": FLOOR, "nodes": 3}, "by_op": [{"op": "MatMul", "macs": UNKNOWN}], "n": None}
    data = to_data(document)
    assert data == {
        "totals": {"macs": {"value": 1_200_000, "bound": "at_least"}, "nodes": 3},
        "by_op": [{"op": "MatMul", "macs": {"value": None, "bound": "unknown"}}],
        "n": None,
    }
    assert revive(data) == document
    assert revive({"value": 1, "bound": "sideways"}) == {"value": 1, "bound": "sideways"}  # not a figure


def test_rank_puts_unknown_costs_between_the_known_and_the_zeros():
    costs = [0, None, 5, Figure.exact(0), UNKNOWN, Figure.at_least(7), 3, EXACT]
    assert sorted(costs, key=rank) == [EXACT, Figure.at_least(7), 5, 3, None, UNKNOWN, 0, Figure.exact(0)]
