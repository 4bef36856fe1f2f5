from django.urls import path

from .views import callback, calls, conclusions, overview, tasks

app_name = "calls"

urlpatterns = [
    path("", overview.OverviewView.as_view(), name="overview"),
    path("tasks/", tasks.TaskListView.as_view(), name="task_list"),
    path("tasks/<int:pk>/", tasks.TaskDetailView.as_view(), name="task_detail"),
    path("calls/", calls.CallListView.as_view(), name="call_list"),
    path("conclusions/", conclusions.ConclusionListView.as_view(), name="conclusions"),
    path("blu/callback/<str:token>/", callback.blu_callback, name="blu_callback"),
]
