"""CSV reports are opened in spreadsheets: text written by the public must stay text."""

from __future__ import annotations

import csv
import io

from services.analytics.reports.render import table_csv


def test_a_complaint_text_that_looks_like_a_formula_is_written_as_text() -> None:
    rows = [
        ['=HYPERLINK("http://evil.example","点我")', 3],
        ["+86 138 0013 8000 打不通", -2],
        ["-1 元也要退", 0.5],
        ["@SUM(A1:A9)", None],
        ["普通的投诉", 1],
    ]
    read = list(csv.reader(io.StringIO(table_csv(["text", "n"], rows))))
    assert read[1:] == [
        ['\'=HYPERLINK("http://evil.example","点我")', "3"],
        ["'+86 138 0013 8000 打不通", "-2"],  # numbers stay numbers, negative ones too
        ["'-1 元也要退", "0.5"],
        ["'@SUM(A1:A9)", ""],
        ["普通的投诉", "1"],
    ]
