"""A table's rows drawn in one pass of Python, the HTML django_tables2/table.html draws byte for
byte (whitespace included), for the tables whose pages show 50 rows of a dozen cells.

django-tables2 spends its time per cell, not per query: each cell reads the signature of its
render method and of its link's url (inspect), builds the column's attributes afresh, and runs
the template's loop and lookups. Here each column's way to its cell is worked out once per table
(which arguments its render takes, its <td> attributes, its link) and each row is one string.
What a cell shows is still the column's own: the same accessor, empty values and default, render
method and link, and the template's own escaping and localisation of the result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.template.base import render_value_in_context
from django.utils.formats import localize
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django_tables2.columns.base import LinkTransform
from django_tables2.rows import BoundRow
from django_tables2.utils import Accessor, signature

# The whitespace django_tables2/table.html puts around a row and each of its cells.
_ROW = (
    "\n                    <tr {}>\n                        {}"
    "\n                    </tr>\n                    "
)
_CELL = "\n                            <td {}>{}</td>\n                        "

Cell = Callable[[BoundRow, Any], str]


def _takes(fn: Callable[..., Any]) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    """What call_with_appropriate passes fn, from its signature read once: every argument when
    it takes **kwargs, else those it names (None when one it names is not given)."""
    names, catch_all = signature(fn)
    if catch_all:
        return lambda given: given
    return lambda given: (
        {name: given[name] for name in names} if all(name in given for name in names) else None
    )


def _has_choices(model: type[models.Model] | None, accessor: Accessor) -> bool:
    """Whether the accessor ends on a field with choices (django-tables2 then shows its
    get_FOO_display(): such a column keeps django-tables2's own way)."""
    for n, bit in enumerate(accessor.bits):
        if model is None:
            return False
        try:
            field = model._meta.get_field(bit)
        except FieldDoesNotExist:
            return False
        if n == len(accessor.bits) - 1:
            return bool(getattr(field, "choices", None))
        model = field.related_model  # type: ignore[assignment]
    return False


def _resolver(accessor: Accessor) -> Callable[[Any], Any]:
    """Accessor.resolve, without its checks per call: attributes in turn, calling what is
    callable; None where django-tables2 would fail to resolve and show the default."""
    bits = accessor.bits

    def resolve(record: Any) -> Any:
        try:
            value = record
            for bit in bits:
                value = getattr(value, bit)
                if callable(value) and not getattr(value, "alters_data", False):
                    value = value()
            return value
        except Exception:
            return None

    return resolve


def _link(link: LinkTransform) -> Callable[[Any, dict[str, Any]], Any] | None:
    """A LinkTransform whose url is a callable and which has no attributes of its own, drawn as
    it draws itself; None for any other (left to it)."""
    if link.attrs or not callable(link.url):
        return None
    url, takes = link.url, _takes(link.url)

    def linked(content: Any, given: dict[str, Any]) -> Any:
        wanted = takes(given)
        href = url(**wanted) if wanted is not None else None
        return content if href is None else format_html('<a href="{}">{}</a>', href, content)

    return linked


def _cell(table: Any, bound: Any) -> Cell:
    """How one column's cell is drawn, worked out once."""
    column = bound.column
    accessor = Accessor(bound.accessor)
    if _has_choices(getattr(table._meta, "model", None), accessor) or any(
        callable(value)
        for value in {**column.attrs.get("cell", {}), **column.attrs.get("td", {})}.values()
    ):
        # Choices or attributes computed per record: django-tables2's own way, as it draws it.
        def slow(row: BoundRow, context: Any) -> str:
            bound.current_value = row.get_cell(bound.name)
            bound.current_record = row.record
            return _CELL.format(
                bound.attrs["td"].as_html(), _shown(bound.current_value, bound.localize, context)
            )

        return slow
    td = bound.attrs["td"].as_html()
    resolve, render, takes = _resolver(accessor), bound.render, _takes(bound.render)
    empty, default, localized = column.empty_values, bound.default, bound.localize
    link = bound.link
    linked = _link(link) if link else None

    def cell(row: BoundRow, context: Any) -> str:
        record = row.record
        value = resolve(record)
        if value in empty:
            content = default
        else:
            given = {
                "value": value,
                "record": record,
                "column": column,
                "bound_column": bound,
                "bound_row": row,
                "table": table,
            }
            wanted = takes(given)
            content = render(**wanted) if wanted is not None else None
            if linked is not None:
                content = linked(content, given)
            elif link:
                content = link(content, **given)
        return _CELL.format(td, _shown(content, localized, context))

    return cell


def _shown(content: Any, localized: bool | None, context: Any) -> str:
    """{{ cell }}, {{ cell|localize }} or {{ cell|unlocalize }}, as the template writes them."""
    if localized is not None:
        content = localize(content, use_l10n=localized)
    return render_value_in_context(content, context)


class QuickRows:
    """For a django-tables2 Table: row_html(row, context) draws a row as table.html would.
    Its template overrides the row block with {% table_row row %}."""

    def row_html(self, row: BoundRow, context: Any) -> SafeString:
        cells = getattr(self, "_quick_cells", None)
        if cells is None:
            cells = self._quick_cells = [_cell(self, bound) for bound in self.columns]  # type: ignore[attr-defined]
        drawn = "".join(cell(row, context) for cell in cells)
        return mark_safe(_ROW.format(row.attrs.as_html(), drawn))  # noqa: S308 (escaped above)
