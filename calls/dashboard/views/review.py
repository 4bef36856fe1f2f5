"""Is the robot right? For managers: a day's sample of calls (drawn here on request when the
daily job has not), one call with its recording and script where a manager marks the robot's
conclusion right or wrong, and the accuracy per code and per bot."""

from __future__ import annotations

from datetime import date, timedelta

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import urlencode
from django.views.generic import TemplateView
from django_tables2 import RequestConfig

from calls.audit import trail
from calls.dashboard import call_details
from calls.dashboard.review_tables import AccuracyTable, SampleTable, conclusion_labels
from calls.models import AuditEvent, CallReview, Conclusion, ReviewDraw
from calls.review import accuracy, marks, sample
from calls.security import roles
from calls.security.access import DashboardView

PERMISSIONS = (roles.REVIEW_CALLS, roles.VIEW_DASHBOARD)
PAGE_ROWS = 100
STATES = {"open": "To review", "reviewed": "Reviewed", "all": "All"}
# The accuracy page's periods, in days (0: every review).
PERIODS = {"7": "7 days", "28": "28 days", "91": "91 days", "0": "all time"}
DEFAULT_PERIOD = "28"


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        return None


def list_url(day: date, state: str = "open") -> str:
    return reverse("calls:review_list") + "?" + urlencode({"day": day.isoformat(), "state": state})


class ReviewListView(DashboardView, TemplateView):
    permission_required = PERMISSIONS
    template_name = "calls/review_list.html"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        today = sample.today()
        day = _day(self.request.GET.get("day"))
        if day is None or day > today:
            day = today
        state = self.request.GET.get("state", "open")
        if state not in STATES:
            state = "open"
        of_day = CallReview.objects.filter(day=day)
        counts = {"all": of_day.count(), "reviewed": of_day.exclude(verdict="").count()}
        counts["open"] = counts["all"] - counts["reviewed"]
        shown = of_day.select_related("call__borrower")
        if state == "open":
            shown = shown.filter(verdict="")
        elif state == "reviewed":
            shown = shown.exclude(verdict="")
        table = SampleTable(shown, labels=conclusion_labels())
        RequestConfig(self.request, paginate={"per_page": PAGE_ROWS}).configure(table)
        context.update(
            day=day,
            today=today,
            previous_day=day - timedelta(days=1) if day > date.min else None,
            next_day=day + timedelta(days=1) if day < today else None,
            draw=ReviewDraw.objects.filter(day=day).select_related("drawn_by").first(),
            state=state,
            tabs=[(name, label, counts[name]) for name, label in STATES.items()],
            table=table,
            per_code=settings.BLUDASH_REVIEW_SAMPLE_PER_CODE,
            weighted_times=sample.WEIGHTED_TIMES,
            short_seconds=settings.BLUDASH_REVIEW_SHORT_PROMISE_SECONDS,
        )
        return context

    def post(self, request, *args, **kwargs):
        day = _day(request.POST.get("day"))
        if day is None:
            messages.error(request, "Choose a day like 2024-08-15 to draw.")
            return HttpResponseRedirect(reverse("calls:review_list"))
        try:
            drawn = sample.draw(day, by=request.user)
        except sample.BadDay as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(reverse("calls:review_list"))
        trail.record(
            AuditEvent.Action.REVIEW_DRAWN,
            request,
            target=f"review sample {day.isoformat()}",
            day=day.isoformat(),
            added=drawn.added,
            total=drawn.total,
        )
        if drawn.added:
            messages.success(
                request, f"{drawn.added} calls drawn: {drawn.total} to review on {day:%Y-%m-%d}."
            )
        elif drawn.total:
            messages.info(request, "Every code's sample is full: no call was added.")
        else:
            messages.info(request, f"No recorded call of {day:%Y-%m-%d} to draw.")
        return HttpResponseRedirect(list_url(day))


class ReviewDetailView(DashboardView, TemplateView):
    permission_required = PERMISSIONS
    template_name = "calls/review_detail.html"

    def _review(self) -> CallReview:
        return get_object_or_404(
            CallReview.objects.select_related(
                "call__account", "call__task", "call__borrower", "reviewer"
            ),
            pk=self.kwargs["pk"],
        )

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        review = self._review()
        robot = Conclusion.objects.filter(code=review.code).first()
        context.update(
            review=review,
            call=review.call,
            robot=robot,
            codes=Conclusion.objects.order_by("code").values_list("code", "label"),
            history=AuditEvent.objects.filter(
                action=AuditEvent.Action.REVIEW_MARKED, target=f"review {review.pk}"
            ).order_by("at", "pk"),
            back=list_url(review.day),
            **call_details.call_context(review.call, with_raw=False),
        )
        return context

    def post(self, request, *args, **kwargs):
        review = self._review()
        try:
            changed = marks.mark(
                review,
                request.POST.get("verdict", ""),
                request.POST.get("right_code", ""),
                request,
            )
        except marks.BadMark as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(request.path)
        if not changed:
            messages.info(request, "Nothing changed.")
            return HttpResponseRedirect(request.path)
        said = "right" if review.verdict == CallReview.Verdict.RIGHT else "wrong"
        messages.success(request, f"Call {review.call.call_id}: {review.code} marked {said}.")
        # On to the next call of the day still to review, as a reviewer works through a list.
        following = (
            CallReview.objects.filter(day=review.day, verdict="")
            .order_by("code", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        if following is not None:
            return HttpResponseRedirect(reverse("calls:review_detail", kwargs={"pk": following}))
        return HttpResponseRedirect(list_url(review.day, "reviewed"))


class AccuracyView(DashboardView, TemplateView):
    permission_required = PERMISSIONS
    template_name = "calls/review_accuracy.html"

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        period = self.request.GET.get("days", DEFAULT_PERIOD)
        if period not in PERIODS:
            period = DEFAULT_PERIOD
        today = sample.today()
        since = today - timedelta(days=int(period) - 1) if period != "0" else None
        found = accuracy.reviewed(since=since)
        labels = conclusion_labels()
        context.update(
            period=period,
            periods=PERIODS.items(),
            since=since,
            overall=accuracy.overall(found),
            by_code=AccuracyTable(accuracy.by_code(found), labels=labels, of="code"),
            by_bot=AccuracyTable(accuracy.by_bot(found), of="bot"),
        )
        return context
