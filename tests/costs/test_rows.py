"""Rows: a report's rows column by column, Row's fields and each analysis's table, in the JSON order."""

from __future__ import annotations

from dataclasses import fields

from conftest import SAMPLES

import modelaudit
from modelaudit.costs.rows import ANALYSIS_COLUMNS, DERIVED, ROW_FIELDS, ROW_KEYS, Row, Rows


def test_a_json_row_lists_each_field_and_column_once():
    assert sorted(ROW_KEYS) == sorted(ROW_FIELDS + tuple(ANALYSIS_COLUMNS) + DERIVED)
    assert ROW_FIELDS == tuple(f.name for f in fields(Row)) and len(ROW_FIELDS) <= 18


def test_columns_of_a_report_read_its_rows_and_tables():
    report = modelaudit.audit(SAMPLES / "mobilenet_v2.onnx", training=True)
    rows = report.columns()
    assert len(rows) == len(report.rows) and rows.keys == ROW_KEYS
    assert rows.column("macs") == [r.macs for r in report.rows]
    assert rows.column("backward_macs") == report.tables["training"]["backward_macs"]
    assert rows.column("ms") == [None] * len(rows) and rows.column("runtime_shaped") == [False] * len(rows)
    assert rows.column("op_label") == [r.op_label for r in report.rows]
    assert rows.column("macs_total") == [r.macs_total for r in report.rows]
    assert rows.column("no such key", 7) == [7] * len(rows)
    dicts = rows.dicts()
    assert dicts == report.to_dict()["rows"] and list(dicts[0]) == list(ROW_KEYS)


def test_take_and_parts_read_the_same_values():
    report = modelaudit.audit(SAMPLES / "mobilenet_v2.onnx", training=True)
    rows = report.columns()
    for positions in (range(10, 30), [5, 3, 99, 3], range(0)):
        part = rows.take(positions)
        assert len(part) == len(positions)
        for key in ("name", "module", "backward_flops", "macs_total", "op_label"):
            assert part.column(key) == [rows.column(key)[i] for i in positions]
    assert rows.take(range(40, 50)).dicts() == rows.dicts()[40:50]


def test_from_dicts_and_with_column():
    dicts = [{"name": "a", "macs": 1}, {"name": "b"}]
    rows = Rows.from_dicts(dicts)
    assert rows.keys == ("name", "macs") and rows.column("macs") == [1, None] and rows.column("macs", 0) == [1, 0]
    extra = rows.with_column("note", ["x", "y"])
    assert (
        extra.column("note") == ["x", "y"]
        and extra.column("name") == ["a", "b"]
        and extra.dicts()
        == [
            {"name": "a", "macs": 1},
            {"name": "b", "macs": None},
        ]
    )
    assert Rows.from_dicts([]).dicts() == [] and len(Rows.from_dicts([])) == 0
