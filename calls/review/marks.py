"""A reviewer's verdict on one drawn call: the robot's conclusion was right, or wrong and this
code was the right one. Every mark (and every change of mind) is in the audit log."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from calls.audit import trail
from calls.models import AuditEvent, CallReview, Conclusion

Verdict = CallReview.Verdict


class BadMark(ValueError):
    """The mark asked for is not one a review can take; the message says why."""


def mark(review: CallReview, verdict: str, right_code: str, request: HttpRequest) -> bool:
    """Record the verdict and audit it; returns whether anything changed. Raises BadMark and
    changes nothing for a verdict other than right or wrong, a wrong one without a right code
    (or with the robot's own, or one no conclusion has), or a right one with another code."""
    right_code = right_code.strip()
    if verdict not in Verdict.values:
        raise BadMark("Mark the robot's conclusion right or wrong.")
    if verdict == Verdict.RIGHT:
        if right_code and right_code != review.code:
            raise BadMark(
                f"You marked {review.code} right and chose {right_code[:64]}: mark it wrong if "
                f"{right_code[:64]} is the right code, or leave the code empty."
            )
        right_code = ""
    elif not right_code:
        raise BadMark("Choose the code the robot should have given.")
    elif right_code == review.code:
        raise BadMark(
            f"{review.code} is the robot's own code: mark it right, or choose the code it "
            "should have given."
        )
    # No code holds NUL, and PostgreSQL refuses it in a query: not asked.
    elif "\x00" in right_code or not Conclusion.objects.filter(code=right_code).exists():
        raise BadMark(
            f"{right_code[:64]!r} is not a known conclusion code: choose one from the list."
        )
    with transaction.atomic():
        current = CallReview.objects.select_for_update().get(pk=review.pk)
        before = {"verdict": current.verdict, "right_code": current.right_code}
        if before == {"verdict": verdict, "right_code": right_code}:
            return False
        current.verdict = verdict
        current.right_code = right_code
        current.reviewer = request.user if request.user.is_authenticated else None
        current.reviewed_at = timezone.now()
        current.save(update_fields=["verdict", "right_code", "reviewer", "reviewed_at"])
        trail.record(
            AuditEvent.Action.REVIEW_MARKED,
            request,
            target=f"review {current.pk}",
            review=current.pk,
            call=current.call.call_id,
            code=current.code,
            verdict=verdict,
            right_code=right_code,
            before=before,
        )
    review.refresh_from_db()
    return True
