"""A left click on a pyqtgraph plot as view coordinates: what the Curves and Compare views turn into the
episode whose point was clicked."""
from __future__ import annotations

from PySide6.QtCore import Qt


def left_click_in_view(plot_widget, event) -> tuple[float, float] | None:
    """(x, y) in the plot's data coordinates of a left click inside its view box; None for anything else."""
    if event.button() != Qt.LeftButton:
        return None
    vb = plot_widget.getPlotItem().vb
    if not vb.sceneBoundingRect().contains(event.scenePos()):
        return None
    pos = vb.mapSceneToView(event.scenePos())
    return pos.x(), pos.y()
