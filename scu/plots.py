"""Bar charts as standalone SVG text, for the summary and diff pages (:mod:`.pages`).

Drawn by matplotlib without pyplot (no global figure state, no display): a
:class:`matplotlib.figure.Figure` on the SVG canvas. The output is meant to sit inline in one
self-contained HTML page that fetches nothing: texts stay SVG ``<text>`` in the page's generic
sans-serif family (``svg.fonttype = 'none'``: no font file, no glyph paths), ``$`` in a label
is a dollar sign, not TeX (``text.parse_math`` off), and the same numbers give the same bytes
(``svg.hashsalt`` fixed per title, so two charts of one page never share an element id; no
date in the metadata).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["bar_chart"]

#: rcParams of every chart: see the module docstring.
_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "sans-serif",
    "font.size": 9.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
#: Bar colours, one per series, in order (the stylesheet's blue first).
_COLOURS = ("#2b5b84", "#c62828", "#b45309", "#1e7d32", "#6b7280", "#7b1fa2")
#: Width of a chart in inches; its height grows with the number of bars (horizontal charts).
_WIDTH_IN = 7.5
_BAR_IN = 0.28
_MIN_HEIGHT_IN = 1.6
#: Longest label drawn whole; longer ones are cut with an ellipsis (tables carry them whole).
_LABEL_CHARS = 28


def _label(text: str) -> str:
    return text if len(text) <= _LABEL_CHARS else text[: _LABEL_CHARS - 1] + "\u2026"


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    value_label: str,
) -> str:
    """A horizontal bar chart of one or more series over `categories`, as SVG text.

    Parameters
    ----------
    categories : sequence of str
        One bar (group) per category, drawn top to bottom in this order.
    series : mapping of str to sequence of int
        Name -> one value per category. Several series are drawn side by side in each group,
        with a legend; each bar carries its value.
    title : str
        The chart's title.
    value_label : str
        What the values count (the axis label).

    Returns
    -------
    str
        An SVG document (``<?xml ...?><svg ...>...</svg>``).

    Raises
    ------
    ValueError
        If a series has not one value per category.
    """
    import matplotlib
    from matplotlib.backends.backend_svg import FigureCanvasSVG
    from matplotlib.figure import Figure

    for name, values in series.items():
        if len(values) != len(categories):
            raise ValueError(
                f"chart {title!r}: series {name!r} has {len(values)} values, expected "
                f"{len(categories)} (one per category)"
            )
    n = max(len(categories), 1)
    k = max(len(series), 1)
    height = max(_MIN_HEIGHT_IN, 0.9 + n * k * _BAR_IN)
    rc: Any = {**_RC, "svg.hashsalt": f"dicom-inventory {title}"}  # matplotlib types its keys
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(_WIDTH_IN, height))
        FigureCanvasSVG(fig)
        ax = fig.add_subplot()
        thickness = 0.8 / k
        top = max((max(v, default=0) for v in series.values()), default=0)
        for i, (name, values) in enumerate(series.items()):
            ys = [c + (i - (k - 1) / 2) * thickness for c in range(len(categories))]
            bars = ax.barh(
                ys, list(values), height=thickness, label=name, color=_COLOURS[i % len(_COLOURS)]
            )
            ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2)
        ax.set_yticks(range(len(categories)), [_label(c) for c in categories])
        ax.invert_yaxis()  # the first category on top, as in the tables
        ax.set_xlim(0, max(top, 1) * 1.15)  # room for the value labels
        ax.set_xlabel(value_label)
        ax.set_title(title, loc="left")
        if len(series) > 1:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()
