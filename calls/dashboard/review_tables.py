"""The review pages' tables (django-tables2): a day's sample of calls to review, and the robot's
accuracy per code and per bot. Their order is fixed (by code; the most reviewed first)."""

from __future__ import annotations

import django_tables2 as tables
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from calls.dashboard.formatting import talk_time
from calls.models import CallReview, Conclusion
from calls.review.accuracy import Accuracy

_NUM = {"td": {"class": "num"}, "th": {"class": "num"}}
_NONE = SafeString('<span class="muted">—</span>')


def _code(code: str, labels: dict[str, str]) -> str:
    label = labels.get(code)
    if label:
        return format_html('<span class="code">{}</span> {}', code, label)
    return format_html('<span class="code">{}</span>', code)


class SampleTable(tables.Table):
    """Rows are CallReview with their call (and its borrower) selected."""

    call = tables.Column(
        "Call",
        accessor="call__call_id",
        linkify=lambda record: reverse("calls:review_detail", kwargs={"pk": record.pk}),
    )
    code = tables.Column("Robot's conclusion")
    reason = tables.Column("Drawn as")
    started = tables.Column("Started", accessor="call__start_time")
    talk = tables.Column("Talk", accessor="call__duration", attrs=_NUM, empty_values=())
    bot_id = tables.Column("Bot")
    borrower = tables.Column("Borrower", accessor="call__borrower__key")
    verdict = tables.Column("Verdict", empty_values=())

    class Meta:
        model = CallReview
        fields: list[str] = []
        orderable = False
        attrs = {"class": "table review-table", "id": "review-sample"}
        row_attrs = {
            "data-review": lambda record: record.pk,
            "class": lambda record: f"verdict-{record.verdict or 'open'}",
        }
        empty_text = "No calls here."

    def __init__(self, *args, labels: dict[str, str] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.labels = labels or {}

    def render_code(self, value: str) -> str:
        return _code(value, self.labels)

    def render_reason(self, record: CallReview) -> str:
        return record.get_reason_display()

    def render_started(self, value) -> str:
        return timezone.localtime(value).strftime("%H:%M:%S")

    def render_talk(self, value) -> str:
        return talk_time(value) if value is not None else "—"

    def render_verdict(self, record: CallReview) -> str:
        if record.verdict == CallReview.Verdict.RIGHT:
            return SafeString('<span class="verdict-right">right</span>')
        if record.verdict == CallReview.Verdict.WRONG:
            return format_html(
                '<span class="verdict-wrong">wrong</span> → {}', _code(record.right_code, {})
            )
        return SafeString('<span class="muted">to review</span>')


def interval_bar(row: Accuracy) -> str:
    """The share right as a point on its 95% interval, drawn from 0 to 100%: a wide bar is a
    figure not to lean on."""
    low, high = row.interval
    return format_html(
        '<span class="interval" aria-hidden="true"><span class="interval-range" '
        'style="left:{}%;width:{}%"></span><span class="interval-point" style="left:{}%">'
        "</span></span>",
        f"{low * 100:.1f}",
        f"{(high - low) * 100:.1f}",
        f"{row.share * 100:.1f}",
    )


class AccuracyTable(tables.Table):
    """Rows are accuracy.Accuracy, of codes or of bots."""

    key = tables.Column("Code")
    reviewed = tables.Column("Reviewed", attrs=_NUM)
    right = tables.Column("Right", attrs=_NUM)
    wrong = tables.Column("Wrong", attrs=_NUM)
    accuracy = tables.Column("Right, with 95% interval", accessor="text", empty_values=())
    corrections = tables.Column("Should have been", empty_values=())

    class Meta:
        orderable = False
        attrs = {"class": "table accuracy-table"}
        row_attrs = {"data-key": lambda record: record.key}
        empty_text = "Nothing reviewed in these days."

    def __init__(
        self, *args, labels: dict[str, str] | None = None, of: str = "code", **kwargs
    ) -> None:
        if of == "bot":
            kwargs["exclude"] = ("corrections",)
        super().__init__(*args, **kwargs)
        self.labels = labels
        self.of = of
        self.attrs = {"class": "table accuracy-table", "id": f"accuracy-by-{of}"}
        if of == "bot":
            self.columns["key"].column.verbose_name = "Bot (botId)"

    def render_key(self, value: str) -> str:
        if self.of == "bot":
            return value or SafeString('<span class="muted">none given</span>')
        return _code(value, self.labels or {})

    def render_accuracy(self, record: Accuracy) -> str:
        return format_html('{} <span class="figure">{}</span>', interval_bar(record), record.text)

    def render_corrections(self, record: Accuracy) -> str:
        if not record.corrections:
            return _NONE
        return format_html_join(
            ", ",
            "{} \u00d7{}",
            ((_code(code, {}), count) for code, count in record.corrections.most_common(3)),
        )


def conclusion_labels() -> dict[str, str]:
    return dict(Conclusion.objects.values_list("code", "label"))
