"""The robot's accuracy per code and per bot, with a 95% Wilson interval that says how little
ten reviews tell."""

from __future__ import annotations

import pytest
from django.urls import reverse

from calls.models import CallReview
from calls.review import accuracy, sample
from tests.helpers import html_text, row_cells
from tests.review.conftest import DAY


@pytest.mark.parametrize(
    ("right", "reviewed", "low", "high"),
    [
        (8, 10, 0.4902, 0.9433),
        (10, 10, 0.7225, 1.0),
        (0, 3, 0.0, 0.5615),
        (1, 1, 0.2065, 1.0),
        (50, 100, 0.4038, 0.5962),
        (0, 0, 0.0, 1.0),  # nothing reviewed: anything is possible
    ],
)
def test_the_wilson_interval_of_known_counts(right, reviewed, low, high):
    found = accuracy.wilson(right, reviewed)
    assert found == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_a_share_reads_with_its_interval_and_how_many_were_reviewed():
    row = accuracy.Accuracy("PTP", reviewed=10, right=8)
    assert row.text == "80% (49\u201394%), 10 reviewed"


@pytest.fixture
def reviewed(calls, settings):
    """Ten PTP calls of bot 123 (8 right, 2 wrong: NOST) and three NOST of bot 9 (all right)."""
    settings.BLUDASH_REVIEW_SAMPLE_PER_CODE = 5  # PTP: 10
    calls("PTP", 10, talk=60)
    calls("NOST", 3, first=10, bot=9)
    sample.draw(DAY)
    ptp = list(CallReview.objects.filter(code="PTP").order_by("pk"))
    assert len(ptp) == 10
    for review in ptp[:2]:
        review.verdict, review.right_code = "wrong", "NOST"
        review.save()
    CallReview.objects.filter(code="PTP", verdict="").update(verdict="right")
    CallReview.objects.filter(code="NOST").update(verdict="right")


def test_the_accuracy_page_shows_each_code_and_bot_with_interval_and_count(
    manager_client, reviewed
):
    page = manager_client.get(reverse("calls:review_accuracy"), {"days": "0"}).content.decode()

    by_code = page.split('id="accuracy-by-code"', 1)[1].split("</table>", 1)[0]
    ptp = row_cells(by_code, "key", "PTP")
    assert ptp["Reviewed"] == "10" and ptp["Right"] == "8" and ptp["Wrong"] == "2"
    assert ptp["Right, with 95% interval"] == "80% (49\u201394%), 10 reviewed"
    assert ptp["Should have been"] == "NOST \u00d72"
    nost = row_cells(by_code, "key", "NOST")
    assert nost["Right, with 95% interval"] == "100% (44\u2013100%), 3 reviewed"

    by_bot = page.split('id="accuracy-by-bot"', 1)[1].split("</table>", 1)[0]
    assert row_cells(by_bot, "key", "123")["Right, with 95% interval"].startswith("80% (49")
    assert row_cells(by_bot, "key", "9")["Reviewed"] == "3"
    # Every call was reviewed, so the weights are the reviews' own: 8 + 3 right of 13; the
    # interval from each code's variance, at (right + 1) / (reviewed + 2).
    text = html_text(page)
    assert "each weighted by its calls on the days reviewed: 85% (61\u2013100%), 13 reviewed" in (
        text
    ), text[text.index("All codes") : text.index("All codes") + 120]


def test_calls_drawn_but_not_reviewed_do_not_count(manager_client, reviewed):
    CallReview.objects.filter(code="NOST").update(verdict="")

    page = manager_client.get(reverse("calls:review_accuracy"), {"days": "0"}).content.decode()

    assert 'data-key="NOST"' not in page
    text = html_text(page)
    assert "weighted by its calls on the days reviewed: 80% (53\u2013100%), 10 reviewed" in text, (
        text[text.index("All codes") : text.index("All codes") + 120]
    )


def test_the_period_leaves_out_older_reviews_and_a_bad_one_falls_back(manager_client, reviewed):
    recent = manager_client.get(reverse("calls:review_accuracy"), {"days": "7"}).content.decode()
    assert "Nothing reviewed in these days." in recent  # 2024's reviews are older than a week

    bad = manager_client.get(reverse("calls:review_accuracy"), {"days": "x" * 500})
    assert bad.status_code == 200 and 'id="period-28" aria-current="page"' in bad.content.decode()


def test_all_codes_weighs_each_code_by_its_calls_not_by_its_sample(calls, settings):
    """A day of 40 NOST calls the robot got right and 4 PTP it got wrong: the robot is right on
    40 of 44 calls, yet the sample takes 2 NOST and all 4 PTP (promises are drawn twice as
    often), so a plain share of the reviews says 2 of 6."""
    settings.BLUDASH_REVIEW_SAMPLE_PER_CODE = 2
    settings.BLUDASH_REVIEW_SHORT_PROMISE_SECONDS = 0
    calls("PTP", 4, talk=60)
    calls("NOST", 40, first=10)
    sample.draw(DAY)
    CallReview.objects.filter(code="PTP").update(verdict="wrong", right_code="NOST")
    CallReview.objects.filter(code="NOST").update(verdict="right")
    assert accuracy.overall(accuracy.reviewed()).share == pytest.approx(40 / 44, abs=0.01)
