from django.urls import path, register_converter

from calls.dashboard.borrower_paths import BorrowerKeyConverter
from calls.dashboard.views import (
    borrowers,
    calls,
    complaints,
    conclusions,
    exports,
    health,
    hours,
    overview,
    promises,
    repayment_upload,
    review,
    stop_list,
    task_registration,
    tasks,
)
from calls.endpoints import blu_callback, metrics, predial
from calls.endpoints import repayments as repayment_api

app_name = "calls"
register_converter(BorrowerKeyConverter, "borrower_key")

urlpatterns = [
    path("", overview.OverviewView.as_view(), name="overview"),
    path("overview/live/", overview.SyncHealthView.as_view(), name="sync_health"),
    path("when/", hours.WhenCallsWorkView.as_view(), name="when_calls_work"),
    path("tasks/", tasks.TaskListView.as_view(), name="task_list"),
    path("tasks/add/", task_registration.TaskRegistrationView.as_view(), name="task_register"),
    path("tasks/<int:pk>/", tasks.TaskDetailView.as_view(), name="task_detail"),
    path("calls/", calls.CallListView.as_view(), name="call_list"),
    path("calls/<int:pk>/", calls.CallDetailView.as_view(), name="call_detail"),
    path("calls/<int:pk>/recording/", calls.call_recording, name="call_recording"),
    path("borrowers/", borrowers.BorrowerListView.as_view(), name="borrower_list"),
    # A key is the lender's text, slashes and dots included (calls/dashboard/borrower_paths.py).
    path(
        "borrowers/<borrower_key:key>/",
        borrowers.BorrowerDetailView.as_view(),
        name="borrower_detail",
    ),
    path("exports/<int:pk>/", exports.export_job, name="export_job"),
    path("exports/<int:pk>/status/", exports.export_status, name="export_status"),
    path("exports/<int:pk>/download/", exports.export_download, name="export_download"),
    path("promises/", promises.PromiseListView.as_view(), name="promise_list"),
    path(
        "promises/repayments/upload/",
        repayment_upload.RepaymentUploadView.as_view(),
        name="repayment_upload",
    ),
    path("complaints/", complaints.ComplaintListView.as_view(), name="complaint_list"),
    path("complaints/<int:pk>/", complaints.ComplaintDetailView.as_view(), name="complaint_detail"),
    path("stop-list/", stop_list.StopListView.as_view(), name="stop_list"),
    path("review/", review.ReviewListView.as_view(), name="review_list"),
    path("review/accuracy/", review.AccuracyView.as_view(), name="review_accuracy"),
    path("review/<int:pk>/", review.ReviewDetailView.as_view(), name="review_detail"),
    path("health/", health.HealthView.as_view(), name="health"),
    path("conclusions/", conclusions.ConclusionListView.as_view(), name="conclusions"),
    path("metrics", metrics.metrics, name="metrics"),
    path("api/repayments/", repayment_api.receive, name="repayment_api"),
    path("blu/callback/<str:token>/", blu_callback.blu_callback, name="blu_callback"),
    # Blu's console may be given the URL without its slash: a POST that a redirect cannot carry
    # would be lost, so that form is the same endpoint.
    path("blu/callback/<str:token>", blu_callback.blu_callback),
    path("blu/predial/<str:token>/", predial.blu_predial, name="blu_predial"),
    path("blu/predial/<str:token>", predial.blu_predial),
]
