"""The dashboard's template tags ({% load bludash %}): formatting and charts, whose code lives in
calls/dashboard/ so that tables and views call the same functions the templates do."""

from django import template

from calls.dashboard import charts, formatting

register = template.Library()

register.filter("category_class", formatting.category_class)
register.filter("talk", formatting.talk_time)
register.filter("limit_badges", formatting.limit_badges)
register.filter("ago", formatting.ago)
register.simple_tag(formatting.rate, name="rate")
register.simple_tag(charts.outcome_bar, name="outcome_bar")
register.simple_tag(charts.funnel_bar, name="funnel_bar")
register.inclusion_tag("calls/_day_chart.html", name="day_chart")(charts.day_chart)
register.inclusion_tag("calls/_code_chart.html", name="code_chart")(charts.code_chart)


@register.simple_tag(takes_context=True)
def table_row(context, row):
    """A row of a table drawn by calls/dashboard/table_rows.QuickRows, as table.html draws it."""
    return row.table.row_html(row, context)
