"""The only package that imports PySide6 / pyqtgraph."""
import os

# Qt's raster engine hands larger fills to a thread pool; on two cores already busy training, waking those
# threads cost more than the fills (py-spy: a third of the curve repaints went to futex wake-ups). Read by Qt
# when it first paints, so it is set before any widget exists.
os.environ.setdefault("QT_NO_GUI_THREADPOOL", "1")
