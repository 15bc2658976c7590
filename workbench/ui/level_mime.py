"""The drag-and-drop payload for levels: which list (or the catalog) they came from, rows, and the levels."""
from __future__ import annotations

import json

from PySide6.QtCore import QMimeData

from workbench.core.levels import Level

LEVELS_MIME = "application/x-workbench-levels"


def make_mime(levels: list[Level], source: str, rows: list[int] | None = None, owner: int = 0) -> QMimeData:
    """`source`: 'train', 'test' or 'catalog'; `owner`: id() of the LevelSet the rows belong to."""
    data = QMimeData()
    payload = {"source": source, "rows": rows or [], "owner": owner, "levels": [str(lv) for lv in levels]}
    data.setData(LEVELS_MIME, json.dumps(payload).encode())
    data.setText("\n".join(str(lv) for lv in levels))
    return data


def read_mime(data: QMimeData) -> dict | None:
    if data is None or not data.hasFormat(LEVELS_MIME):
        return None
    try:
        payload = json.loads(bytes(data.data(LEVELS_MIME)).decode())
        payload["levels"] = [Level.parse(text) for text in payload.get("levels", [])]
    except (ValueError, TypeError):
        return None
    return payload
