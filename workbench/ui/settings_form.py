"""A settings form built from the settings dataclasses (core.settings): one tab per section, one editor per
field chosen by its type, defaults shown, tooltips from `field_docs`. `unreadable()` names the fields whose text
is not a value (the window refuses Start and Save while there are any)."""
from __future__ import annotations

import dataclasses
import typing

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFormLayout, QLineEdit, QScrollArea,
                               QSpinBox, QTabWidget, QWidget)

from workbench.core.settings import SECTIONS, field_docs

SHOWN_SECTIONS = ("ppo", "env", "run", "transfer", "rl2")


class SettingsForm(QTabWidget):
    """`set_values(preset)` fills it; `apply_to(preset)` writes the edited values into a preset's sections."""

    changed = Signal()
    """The user edited a field (or `set_values` filled the form)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.editors: dict[tuple[str, str], QWidget] = {}
        self._types: dict[tuple[str, str], object] = {}
        self._filling = False
        for section in SHOWN_SECTIONS:
            cls = SECTIONS[section]
            docs = field_docs(cls)
            hints = typing.get_type_hints(cls)
            defaults = cls()
            page = QWidget()
            form = QFormLayout(page)
            form.setRowWrapPolicy(QFormLayout.DontWrapRows)
            form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
            for f in dataclasses.fields(cls):
                hint = hints[f.name]
                editor = self._editor_for(hint)
                default = getattr(defaults, f.name)
                tip = f"{docs.get(f.name, '')}\nDefault: {default!r}"
                editor.setToolTip(tip.strip())
                editor.setObjectName(f"{section}.{f.name}")
                self.editors[(section, f.name)] = editor
                self._types[(section, f.name)] = hint
                form.addRow(f.name.replace("_", " "), editor)
                self._set(editor, hint, default)
                self._signal_of(editor).connect(self._on_edit)
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setWidget(page)
            self.addTab(scroll, section)

    @staticmethod
    def _editor_for(hint) -> QWidget:
        if typing.get_origin(hint) is typing.Literal:
            box = QComboBox()
            box.addItems([str(v) for v in typing.get_args(hint)])
            return box
        if hint is bool:
            return QCheckBox()
        if hint is int:
            box = QSpinBox()
            box.setRange(-(2**31) + 1, 2**31 - 1)
            box.setGroupSeparatorShown(True)
            return box
        if hint is float:
            box = QDoubleSpinBox()
            box.setDecimals(6)
            box.setRange(-1e9, 1e9)
            box.setSingleStep(0.01)
            return box
        return QLineEdit()

    @staticmethod
    def _signal_of(editor):
        if isinstance(editor, QComboBox):
            return editor.currentTextChanged
        if isinstance(editor, QCheckBox):
            return editor.toggled
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            return editor.valueChanged
        return editor.textChanged

    def _on_edit(self, *_args) -> None:
        if not self._filling:
            self.changed.emit()

    @staticmethod
    def _set(editor, hint, value) -> None:
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        elif isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            editor.setValue(value)
        elif typing.get_origin(hint) is list:
            editor.setText(", ".join(str(v) for v in value))
        else:
            editor.setText(str(value))

    @staticmethod
    def _get(editor, hint):
        if isinstance(editor, QComboBox):
            return editor.currentText()
        if isinstance(editor, QCheckBox):
            return editor.isChecked()
        if isinstance(editor, (QSpinBox, QDoubleSpinBox)):
            return editor.value()
        if typing.get_origin(hint) is list:
            (item,) = typing.get_args(hint) or (str,)
            text = editor.text().strip()
            try:
                return [item(part.strip()) for part in text.split(",") if part.strip()] if text else []
            except ValueError:
                raise ValueError(f"{text!r} is not a comma-separated list of {item.__name__}s (e.g. 0, 1, 2)") from None
        return editor.text()

    def set_values(self, preset) -> None:
        self._filling = True  # one `changed` for the whole form, not one per field
        try:
            for (section, name), editor in self.editors.items():
                self._set(editor, self._types[(section, name)], getattr(getattr(preset, section), name))
        finally:
            self._filling = False
        self.changed.emit()

    def unreadable(self) -> list[str]:
        """'section.field: why' for each field whose text is not a value of its type."""
        problems = []
        for (section, name), editor in self.editors.items():
            try:
                self._get(editor, self._types[(section, name)])
            except ValueError as exc:
                problems.append(f"{section}.{name}: {exc}")
        return problems

    def apply_to(self, preset) -> list[str]:
        """Write the form into `preset`; returns messages for fields that could not be read (left unchanged)."""
        problems = []
        for (section, name), editor in self.editors.items():
            try:
                value = self._get(editor, self._types[(section, name)])
            except ValueError as exc:
                problems.append(f"{section}.{name}: {exc}")
                continue
            setattr(getattr(preset, section), name, value)
        return problems

    def editor(self, section: str, name: str) -> QWidget:
        return self.editors[(section, name)]
