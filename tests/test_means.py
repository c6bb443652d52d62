"""analysis.stats.mean_change against R's documented output (never against the code itself).

Sources
-------
- R, package stats, ``?t.test`` example ``t.test(extra ~ group, data = sleep, paired = TRUE)``
  (Student 1908, the ``sleep`` data): mean difference −1.58, 95 percent confidence interval
  −2.4598858 to −0.7001142 (group 1 − group 2); the paired differences are the one-sample data.
- R, ``t.test(mtcars$mpg)`` on the ``mtcars`` data (Henderson & Velleman 1981): mean 20.09062,
  95 percent confidence interval 17.91768 to 22.26357; ``median(mtcars$mpg)`` = 19.2.
"""

from __future__ import annotations

import pytest

from analysis.stats import MeanChange, mean_change

# sleep$extra[group == 1] − sleep$extra[group == 2], patient by patient.
SLEEP_DIFFERENCES = [-1.2, -2.4, -1.3, -1.3, 0.0, -1.0, -1.8, -0.8, -4.6, -1.4]
MTCARS_MPG = [
    21.0, 21.0, 22.8, 21.4, 18.7, 18.1, 14.3, 24.4, 22.8, 19.2, 17.8, 16.4, 17.3, 15.2, 10.4, 10.4,
    14.7, 32.4, 30.4, 33.9, 21.5, 15.5, 15.2, 13.3, 19.2, 27.3, 26.0, 30.4, 15.8, 19.7, 15.0, 21.4,
]  # fmt: skip


def _histogram(values: list[float]) -> list[tuple[float, int]]:
    counts: dict[float, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return list(counts.items())


def test_t_interval_matches_r_t_test_on_the_sleep_data():
    result = mean_change(_histogram(SLEEP_DIFFERENCES))
    assert result.n == 10
    assert result.mean == pytest.approx(-1.58, abs=1e-12)
    assert result.ci_low == pytest.approx(-2.4598858, abs=5e-8)
    assert result.ci_high == pytest.approx(-0.7001142, abs=5e-8)
    assert result.median == pytest.approx(-1.3, abs=1e-12)  # the 5th and 6th of ten: −1.3, −1.3


def test_t_interval_matches_r_t_test_on_mtcars_mpg():
    result = mean_change(_histogram(MTCARS_MPG))
    assert result.mean == pytest.approx(20.09062, abs=5e-6)
    assert (result.ci_low, result.ci_high) == (
        pytest.approx(17.91768, abs=5e-6),
        pytest.approx(22.26357, abs=5e-6),
    )
    assert result.median == pytest.approx(19.2, abs=1e-12)


def test_the_histogram_gives_what_the_values_give_one_by_one():
    once = mean_change([(v, 1) for v in MTCARS_MPG])
    grouped = mean_change(_histogram(MTCARS_MPG))
    assert grouped.n == once.n == 32
    assert grouped.mean == pytest.approx(once.mean, abs=1e-12)
    assert grouped.ci_low == pytest.approx(once.ci_low, abs=1e-12)
    assert grouped.median == once.median


def test_median_of_an_even_count_is_the_mean_of_the_two_middle_values():
    assert mean_change([(1.0, 1), (2.0, 1), (10.0, 1), (20.0, 1)]).median == 6.0
    assert mean_change([(3.0, 2), (7.0, 1)]).median == 3.0


def test_no_values_give_no_mean_and_one_value_gives_no_interval():
    assert mean_change([]) == MeanChange(0, None, None, None, None)
    assert mean_change([(-4.0, 1)]) == MeanChange(1, -4.0, None, None, -4.0)


def test_identical_values_give_an_interval_of_width_zero():
    result = mean_change([(-2.0, 5)])
    assert (result.ci_low, result.mean, result.ci_high) == (-2.0, -2.0, -2.0)


def test_change_shape_is_the_cli_json():
    assert set(mean_change([(1.0, 2)]).to_dict()) == {"n", "mean", "ci_low", "ci_high", "median"}


def test_negative_counts_are_refused():
    with pytest.raises(ValueError):
        mean_change([(1.0, -1)])
