"""cnnzoo.svg: the one SVG writer under the diagrams and the study charts."""

from __future__ import annotations

import xml.dom.minidom

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnzoo.draw.svg import Canvas, Rect, Text, to_svg
from cnnzoo.studies.svg import bar_chart, interval_chart, line_chart
from cnnzoo.svg import Writer, escape_attr, escape_text, fixed, num

HOSTILE = 'a "b" & <c> it\'s </text>'
# Every character XML 1.0 allows (the C0 controls other than tab, LF and CR are not).
XML_CHARS = st.characters(blacklist_categories=("Cs",),
                          blacklist_characters=[chr(i) for i in range(32) if i not in (9, 10, 13)]
                          + ["\ufffe", "\uffff"])


def element(svg: str) -> xml.dom.minidom.Element:
    return xml.dom.minidom.parseString(svg).documentElement


def test_escaping_of_text_and_attributes() -> None:
    assert escape_text(HOSTILE) == "a \"b\" &amp; &lt;c&gt; it's &lt;/text&gt;"
    assert escape_attr(HOSTILE, '"') == "a &quot;b&quot; &amp; &lt;c&gt; it's &lt;/text&gt;"
    assert escape_attr(HOSTILE, "'") == 'a "b" &amp; &lt;c&gt; it&#39;s &lt;/text&gt;'
    assert escape_attr("x\ny\tz") == "x&#10;y&#9;z"


@pytest.mark.parametrize("quote", ['"', "'"])
def test_hostile_text_and_attribute_values_round_trip(quote: str) -> None:
    w = Writer(quote=quote)
    el = element(w.tag("text", [("data-a", HOSTILE), ("data-b", "plain")], HOSTILE))
    assert el.getAttribute("data-a") == HOSTILE and el.getAttribute("data-b") == "plain"
    assert el.firstChild.data == HOSTILE


@given(value=st.text(XML_CHARS), quote=st.sampled_from(['"', "'"]))
def test_any_string_round_trips_through_a_parser(value: str, quote: str) -> None:
    el = element(Writer(quote=quote).tag("t", [("v", value)], value))
    assert el.getAttribute("v") == value
    assert "".join(c.data for c in el.childNodes) == value


def test_numbers_none_and_order() -> None:
    assert [num(v) for v in (3, 3.0, 2.34, -0.04, 12.96)] == ["3", "3", "2.3", "0", "13"]
    assert [fixed(v) for v in (3, 2.34)] == ["3.0", "2.3"]
    attrs = [("x", 2.0), ("skip", None), ("r", "2.50"), ("y", 1.25)]
    assert Writer().tag("circle", attrs) == '<circle x="2" r="2.50" y="1.2"/>'
    assert Writer("'", fixed).tag("circle", attrs) == "<circle x='2.0' r='2.50' y='1.2'/>"
    with pytest.raises(ValueError, match="quote"):
        Writer(quote="`")


def test_document_is_well_formed_with_its_title_first() -> None:
    w = Writer()
    svg = w.document(40, 30, HOSTILE, [w.group("g", [("id", "a")], [w.tag("rect")])],
                     [("role", "img")])
    root = element(svg)
    assert (root.tagName, root.getAttribute("viewBox"), root.getAttribute("role")) == \
        ("svg", "0 0 40 30", "img")
    assert root.getElementsByTagName("title")[0].firstChild.data == HOSTILE
    assert svg.startswith("<svg ") and svg.endswith("</svg>")  # inlines in HTML as it is
    assert "\n<g id=\"a\"><rect/></g>\n" in svg


def test_diagrams_and_charts_with_hostile_labels_parse_and_keep_them() -> None:
    c = Canvas(200, 100)
    c.add(Text(10, 20, HOSTILE, 12))
    c.add(Rect(1, 2, 3, 4, "#fff", attrs=(("data-path", HOSTILE),)))
    diagram = element(to_svg(c, HOSTILE))
    assert diagram.getElementsByTagName("rect")[1].getAttribute("data-path") == HOSTILE
    charts = [line_chart({HOSTILE: [(1, 0.3), (2, 0.2)]}, title=HOSTILE, xlabel=HOSTILE),
              bar_chart([HOSTILE, "q"], [1.0, 2.0], title=HOSTILE),
              interval_chart([{"name": HOSTILE, "n": 3, "difference": 0.01, "lower": -0.01,
                               "upper": 0.03, "margin": 0.0}], title=HOSTILE)]
    for root in [diagram, *map(element, charts)]:
        texts = ["".join(n.data for n in t.childNodes)
                 for t in root.getElementsByTagName("text")]
        assert any(HOSTILE in t for t in texts)
        assert root.getElementsByTagName("title")[0].firstChild.data == HOSTILE
