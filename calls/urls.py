from django.urls import path

from . import views

app_name = "calls"

urlpatterns = [
    path("", views.TaskListView.as_view(), name="task_list"),
    path("tasks/<int:pk>/", views.TaskDetailView.as_view(), name="task_detail"),
    path("calls/", views.CallListView.as_view(), name="call_list"),
    path("blu/callback/<str:token>/", views.blu_callback, name="blu_callback"),
]
