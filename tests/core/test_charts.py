"""Server-side SVG charts: well-formed, accessible, escaped, with marks where the data says."""

import xml.etree.ElementTree as ET
from datetime import date

import pytest
from django.utils import translation
from django.utils.safestring import SafeString

from apps.core import charts
from apps.core.charts import BarSeries, Marker, Series, bar_chart, heatmap, line_chart, nice_ticks

NS = "{http://www.w3.org/2000/svg}"
EVIL = 'Gold <script>alert("x")</script> & co'


def parse(svg: str) -> ET.Element:
    assert isinstance(svg, SafeString)
    return ET.fromstring(svg)


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    rect = root.find(f".//{NS}rect[@class='clv-plot']")
    return tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))


def all_text(root: ET.Element) -> str:
    return " ".join(t for t in root.itertext())


# --- line charts --------------------------------------------------------------------------------------------


def test_line_chart_places_points_on_the_plot_area():
    svg = line_chart(
        [Series("A", [(0, 0.0), (50, 0.5), (100, 1.0)]), Series("B", [(0, 1.0), (100, 0.2)])],
        title="Trend",
        x_range=(0, 100),
        y_range=(0.0, 1.0),
    )
    root = parse(svg)
    x, y, width, height = plot_area(root)
    series = root.findall(f".//{NS}g[@class='clv-series']")
    assert len(series) == 2
    assert len(root.findall(f".//{NS}path[@class='clv-line']")) == 2
    points = root.findall(f".//{NS}circle[@class='clv-point']")
    assert len(points) == 5
    middle = series[0].findall(f"{NS}circle")[1]
    assert float(middle.get("cx")) == pytest.approx(x + width / 2, abs=0.01)
    assert float(middle.get("cy")) == pytest.approx(y + height / 2, abs=0.01)
    assert middle.find(f"{NS}title").text == "A: 50, 0.5"
    # the path starts at the origin of the plot area
    assert series[0].find(f"{NS}path").get("d").startswith(f"M{charts._n(x)} {charts._n(y + height)}")


def test_step_curve_is_a_staircase_with_a_marker():
    svg = line_chart(
        [Series("Growth", [(0, 1.0), (10, 0.8), (30, 0.5)], step=True)],
        title="Kaplan–Meier",
        x_range=(0, 40),
        y_range=(0.0, 1.0),
        y_format=charts.percent,
        marker=Marker(20, 0.8, "P(purchase within 20 days) = 20%"),
    )
    root = parse(svg)
    path = root.find(f".//{NS}path[@class='clv-line']")
    commands = path.get("d").split()
    assert commands[0].startswith("M") and [c[0] for c in commands[2:]] == ["H", "V", "H", "V"]
    assert root.findall(f".//{NS}circle[@class='clv-point']") == []  # step curves have no dots by default
    marker = root.find(f".//{NS}g[@class='clv-marker']")
    x, y, width, height = plot_area(root)
    circle = marker.find(f"{NS}circle")
    assert float(circle.get("cx")) == pytest.approx(x + width / 2, abs=0.01)
    assert float(circle.get("cy")) == pytest.approx(y + height * 0.2, abs=0.01)
    assert marker.find(f"{NS}title").text == "P(purchase within 20 days) = 20%"
    assert "100%" in all_text(root) and "0%" in all_text(root)


def test_a_line_chart_of_one_date_centres_the_point_under_its_own_label():
    """A customer scored by one run so far: one point, in the middle of the plot, with that date as the only
    x label (two labels a day apart put the point on the edge and cut its own label)."""
    root = parse(line_chart([Series("P", [(date(2026, 3, 31), 0.4)])], title="Score history", y_range=(0, 1)))
    x, _y, width, _h = plot_area(root)
    point = root.find(f".//{NS}circle[@class='clv-point']")
    assert float(point.get("cx")) == pytest.approx(x + width / 2, abs=0.01)
    ticks = [t.text for t in root.findall(f".//{NS}g[@class='clv-axis clv-axis-x']/{NS}text")]
    assert ticks == ["2026-03-31"]


def test_line_chart_is_accessible():
    root = parse(line_chart([Series("A", [(1, 2), (2, 3)])], title="Repurchase rate", description="Weekly"))
    assert root.get("role") == "img"
    assert root.get("aria-label") == "Repurchase rate"
    assert root.find(f"{NS}title").text == "Repurchase rate"
    assert root.find(f"{NS}desc").text == "Weekly"
    assert "clv-chart-line" in root.get("class")
    assert root.get("viewBox").startswith("0 0 640 ")


def test_dates_on_the_x_axis():
    svg = line_chart(
        [Series("GMV", [(date(2026, 1, 1), 100.0), (date(2026, 1, 11), 300.0)])],
        title="GMV",
        y_range=(0, 400),
    )
    root = parse(svg)
    assert "2026-01-01" in all_text(root)
    x, y, width, height = plot_area(root)
    last = root.findall(f".//{NS}circle[@class='clv-point']")[-1]
    assert float(last.get("cx")) == pytest.approx(x + width, abs=0.01)
    assert float(last.get("cy")) == pytest.approx(y + height / 4, abs=0.01)
    assert last.find(f"{NS}title").text == "GMV: 2026-01-11, 300"


def test_labels_are_escaped_everywhere():
    svg = line_chart(
        [Series(EVIL, [(0, 1), (1, 2)])],
        title=EVIL,
        x_label=EVIL,
        y_label=EVIL,
        marker=Marker(1, 2, EVIL),
    )
    assert "<script>" not in svg
    root = parse(svg)  # still well-formed XML
    assert root.get("aria-label") == EVIL
    assert root.find(f"{NS}title").text == EVIL
    assert EVIL in all_text(root)
    bars = bar_chart([EVIL], [BarSeries(EVIL, [3])], title=EVIL)
    assert "<script>" not in bars and parse(bars).find(
        f".//{NS}rect[@class='clv-bar']/{NS}title"
    ).text.startswith(EVIL)
    grid = heatmap([EVIL], [EVIL], [[0.5]], title=EVIL)
    assert "<script>" not in grid and parse(grid).get("aria-label") == EVIL


@pytest.mark.parametrize(
    "series",
    [[], [Series("A", [])], [Series("A", [(1, None), (2, None)])]],
    ids=["none", "no points", "no values"],
)
def test_empty_line_chart_says_no_data_yet(series):
    root = parse(line_chart(series, title="Trend"))
    assert "No data yet" in all_text(root)
    assert root.findall(f".//{NS}path") == []
    assert root.get("aria-label") == "Trend"


def test_no_data_message_follows_the_active_language():
    with translation.override("zh-hans"):
        text = all_text(parse(line_chart([], title="x")))
        assert translation.gettext("No data yet") in text


def test_a_custom_empty_message():
    root = parse(line_chart([], title="Curve", empty_message="No published score yet"))
    assert "No published score yet" in all_text(root)


def test_gaps_in_a_series_are_skipped():
    root = parse(line_chart([Series("A", [(0, 1), (1, None), (2, 3)])], title="t"))
    assert len(root.findall(f".//{NS}circle[@class='clv-point']")) == 2


# --- bar charts ---------------------------------------------------------------------------------------------


def test_stacked_bars_by_tier_and_stage():
    svg = bar_chart(
        ["Gold", "Silver", "No tier"],
        [BarSeries("Growth", [4, 0, 2]), BarSeries("Decline", [1, 3, 0])],
        title="Customers by tier and stage",
    )
    root = parse(svg)
    rects = root.findall(f".//{NS}rect[@class='clv-bar']")
    assert len(rects) == 4  # zero values draw nothing
    x, y, width, height = plot_area(root)
    # y axis 0, 2, 4, 6 (whole-number ticks); Gold's stack of 4 + 1 ends at 5
    ticks = [t.text for t in root.findall(f".//{NS}g[@class='clv-axis clv-axis-y']/{NS}text")]
    assert ticks == ["0", "2", "4", "6"]
    gold_growth, gold_decline = rects[0], rects[1]
    assert float(gold_growth.get("y")) + float(gold_growth.get("height")) == pytest.approx(
        y + height, abs=0.01
    )
    assert float(gold_growth.get("height")) == pytest.approx(height * 4 / 6, abs=0.01)
    assert float(gold_decline.get("y")) == pytest.approx(y + height / 6, abs=0.01)
    assert gold_growth.find(f"{NS}title").text == "Growth · Gold: 4"
    assert "5" in all_text(root)  # the stack total
    legend = root.find(f".//{NS}g[@class='clv-legend']")
    assert [t.text for t in legend.findall(f"{NS}text")] == ["Growth", "Decline"]


def test_tick_labels_stand_under_narrow_bars_and_the_tooltips_keep_the_categories():
    streams = [f"11-{day} Autumn skincare night with guests" for day in range(10, 22)]
    days = [name[:5] for name in streams]
    root = parse(bar_chart(streams, [BarSeries("72h", [0.1] * 12)], title="t", tick_labels=days))
    ticks = [t.text for t in root.findall(f".//{NS}g[@class='clv-axis clv-axis-x']/{NS}text")]
    assert ticks == days  # whole, where the titles would be cut to a few characters
    tips = [r.find(f"{NS}title").text for r in root.findall(f".//{NS}rect[@class='clv-bar']")]
    assert tips[0] == "72h · 11-10 Autumn skincare night with guests: 0.1"
    cut = parse(bar_chart(streams, [BarSeries("72h", [0.1] * 12)], title="t"))
    assert all(t.text.endswith("…") for t in cut.findall(f".//{NS}g[@class='clv-axis clv-axis-x']/{NS}text"))
    with pytest.raises(ValueError, match="one label per category"):
        bar_chart(streams, [BarSeries("72h", [0.1] * 12)], title="t", tick_labels=days[:3])


def test_grouped_bars_sit_side_by_side():
    root = parse(bar_chart(["A"], [BarSeries("x", [2]), BarSeries("y", [4])], title="Grouped", stacked=False))
    first, second = root.findall(f".//{NS}rect[@class='clv-bar']")
    assert float(second.get("x")) == pytest.approx(
        float(first.get("x")) + float(first.get("width")), abs=0.01
    )
    assert float(second.get("height")) == pytest.approx(2 * float(first.get("height")), abs=0.01)


def test_empty_bar_chart():
    assert "No data yet" in all_text(parse(bar_chart(["A"], [BarSeries("x", [0])], title="t")))
    assert "No data yet" in all_text(parse(bar_chart([], [], title="t")))


def test_bar_series_must_match_the_categories():
    with pytest.raises(ValueError):
        bar_chart(["A", "B"], [BarSeries("x", [1])], title="t")


# --- heatmaps -----------------------------------------------------------------------------------------------


def test_cohort_heatmap_cells_and_blanks():
    svg = heatmap(
        ["2026-01", "2026-02"],
        ["0", "1", "2"],
        [[1.0, 0.4, 0.25], [1.0, 0.5, None]],
        title="Cohort retention",
        x_label="months since first purchase",
    )
    root = parse(svg)
    cells = root.findall(f".//{NS}rect[@class='clv-cell']")
    assert len(cells) == 5  # the period not reached yet is blank
    assert cells[1].find(f"{NS}title").text == "2026-01 · 1: 40%"
    assert cells[0].get("fill") == "#08306b" and cells[0].get("fill") != cells[1].get("fill")
    x, y, width, _height = plot_area(root)
    assert float(cells[4].get("x")) == pytest.approx(x + width / 3, abs=0.01)
    assert float(cells[4].get("y")) == pytest.approx(y + 24, abs=0.01)
    values = [t.text for t in root.findall(f".//{NS}text[@class='clv-cell-value']")]
    assert values == ["100%", "40%", "25%", "100%", "50%"]


def test_empty_heatmap():
    assert "No data yet" in all_text(parse(heatmap(["a"], ["0"], [[None]], title="t")))


# --- helpers ------------------------------------------------------------------------------------------------


def test_nice_ticks():
    assert nice_ticks(0, 1) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(0, 1234, integer=True) == [0, 500, 1000, 1500]
    assert nice_ticks(0, 3, integer=True) == [0, 1, 2, 3]


def test_number_formats():
    assert charts.percent(0.724) == "72%" and charts.percent(0.051) == "5.1%" and charts.percent(0) == "0%"
    assert (
        charts.number(12345) == "12,345" and charts.number(0.1234) == "0.123" and charts.number(2.5) == "2.5"
    )
