"""The conclusions formset: labels and category flags of a page of codes, edited by managers."""

from __future__ import annotations

from django import forms
from django.db.models import Case, IntegerField, QuerySet, Value, When

from calls.conclusions.categories import (
    CATEGORIES,
    CATEGORY_ORDER,
    FLAG_NAMES,
    IMPLIES,
    NOT_CONNECTED,
)
from calls.models import Conclusion


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
    classified_by_flags = False

    class Meta:
        model = Conclusion
        fields = ["label", "classified", *FLAG_NAMES]
        widgets = {"label": forms.TextInput(attrs={"size": 28})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Each checkbox says which code and flag it is: a table header alone is not a label.
        # (The help texts are the column headers' titles: none is rendered beside each box.)
        # Every row is posted back, so "changed" must mean changed from what this person was
        # shown (the hidden initial values), not from the database now: otherwise saving one row
        # would write back the old values of rows someone else changed since the page loaded.
        for name in ["label", "classified", *FLAG_NAMES]:
            field = self.fields[name]
            field.widget.attrs["aria-label"] = f"{self.instance.code}: {field.label}"
            field.help_text = ""
            field.show_hidden_initial = True

    def flag_fields(self) -> list[forms.BoundField]:
        return [self[flag] for flag in FLAG_NAMES]

    def clean(self):
        data = super().clean() or {}
        for flag, needed in IMPLIES.items():
            if data.get(flag) and not data.get(needed):
                self.add_error(
                    needed,
                    f"{self._label(flag)} means {self._label(needed).lower()} too: tick both.",
                )
        # Setting any flag is classifying the code, whether or not the box was ticked.
        self.classified_by_flags = not data.get("classified") and any(
            data.get(flag) for flag in FLAG_NAMES
        )
        if self.classified_by_flags:
            data["classified"] = True
        return data

    def fields_to_save(self) -> list[str]:
        """The fields this person changed, and `classified` when clean() set it."""
        changed = self.changed_data
        if self.classified_by_flags and "classified" not in changed:
            return [*changed, "classified"]
        return changed

    def save_changes(self) -> Conclusion | None:
        """Write only what changed from the page as shown; None when nothing did."""
        if not self.has_changed():
            return None
        conclusion = self.save(commit=False)
        conclusion.save(update_fields=self.fields_to_save())
        return conclusion

    def _label(self, flag: str) -> str:
        return str(self.fields[flag].label)


# A page of the dictionary, and the most rows one save takes. Each row posts its id, its label
# and up to seven boxes, each with the hidden value it was shown with: 17 fields, so a page of
# 50 posts at most 850, within Django's DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000).
CODES_PER_PAGE = 50

ConclusionFormSet = forms.modelformset_factory(
    Conclusion,
    form=ConclusionForm,
    extra=0,
    can_delete=False,
    edit_only=True,
    max_num=CODES_PER_PAGE,
    absolute_max=CODES_PER_PAGE,
    validate_max=True,
)
