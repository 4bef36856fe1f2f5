"""The conclusions formset: labels and category flags of every code, edited by managers."""

from __future__ import annotations

from django import forms
from django.db.models import Case, IntegerField, QuerySet, Value, When

from .models import CATEGORIES, CATEGORY_ORDER, NOT_CONNECTED, Conclusion

FLAGS = ["connected", "live_person", "right_party", "promise_to_pay", "already_paid", "complaint"]
# A flag that says the borrower spoke, a person spoke, or the line connected implies the ones
# after it: the funnel (placed > connected > live person > right party > promise) must not
# narrow and widen again, and a promise rate over right-party contacts must stay at most 100%.
IMPLIES = {
    "promise_to_pay": "right_party",
    "already_paid": "right_party",
    "complaint": "live_person",
    "right_party": "live_person",
    "live_person": "connected",
}


def display_order(conclusions: QuerySet[Conclusion]) -> QuerySet[Conclusion]:
    """Unclassified codes first (they need someone), then by category as the charts stack them,
    then by code."""
    rank = Case(
        When(classified=False, then=Value(-1)),
        *[
            When(**{flag: True}, then=Value(CATEGORY_ORDER.index(name)))
            for flag, name in CATEGORIES
        ],
        default=Value(CATEGORY_ORDER.index(NOT_CONNECTED)),
        output_field=IntegerField(),
    )
    return conclusions.annotate(category_rank=rank).order_by("category_rank", "code")


class ConclusionForm(forms.ModelForm):
    class Meta:
        model = Conclusion
        fields = ["label", "classified", *FLAGS]
        widgets = {"label": forms.TextInput(attrs={"size": 28})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Each checkbox says which code and flag it is: a table header alone is not a label.
        # (The help texts are the column headers' titles: none is rendered beside each box.)
        for name in ["label", "classified", *FLAGS]:
            field = self.fields[name]
            field.widget.attrs["aria-label"] = f"{self.instance.code}: {field.label}"
            field.help_text = ""

    def flag_fields(self) -> list[forms.BoundField]:
        return [self[flag] for flag in FLAGS]

    def clean(self):
        data = super().clean() or {}
        for flag, needed in IMPLIES.items():
            if data.get(flag) and not data.get(needed):
                self.add_error(
                    needed,
                    f"{self._label(flag)} means {self._label(needed).lower()} too: tick both.",
                )
        # Setting any flag is classifying the code, whether or not the box was ticked.
        if any(data.get(flag) for flag in FLAGS):
            data["classified"] = True
        return data

    def _label(self, flag: str) -> str:
        return str(self.fields[flag].label)


ConclusionFormSet = forms.modelformset_factory(
    Conclusion, form=ConclusionForm, extra=0, can_delete=False, edit_only=True
)
