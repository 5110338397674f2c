"""Migration operations for composite same-brand foreign keys.

A field declared with apps.core.models.same_brand_fk has no single-column constraint; this operation adds
FOREIGN KEY (brand_id, <column>) REFERENCES <parent> (brand_id, id), deferrable like Django's own keys.
"""

from __future__ import annotations

from django.db import migrations


def same_brand_constraint_name(table: str, column: str) -> str:
    return f"{table}_{column}_same_brand_fk"[:63]


class AddSameBrandForeignKey(migrations.operations.base.Operation):
    reduces_to_sql = True
    reversible = True

    def __init__(self, model_name: str, field_name: str):
        self.model_name = model_name
        self.field_name = field_name

    def state_forwards(self, app_label, state):
        pass

    def _sql_parts(self, app_label, state):
        model = state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.field_name)
        parent = field.related_model._meta.db_table
        table = model._meta.db_table
        return table, field.column, parent

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        table, column, parent = self._sql_parts(app_label, to_state)
        qn = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {qn(table)} ADD CONSTRAINT {qn(same_brand_constraint_name(table, column))} "
            f"FOREIGN KEY ({qn('brand_id')}, {qn(column)}) REFERENCES {qn(parent)} ({qn('brand_id')}, {qn('id')}) "
            "DEFERRABLE INITIALLY DEFERRED"
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        table, column, _ = self._sql_parts(app_label, from_state)
        qn = schema_editor.quote_name
        schema_editor.execute(
            f"ALTER TABLE {qn(table)} DROP CONSTRAINT IF EXISTS {qn(same_brand_constraint_name(table, column))}"
        )

    def describe(self):
        return f"Add same-brand foreign key {self.model_name}.{self.field_name}"

    @property
    def migration_name_fragment(self):
        return f"{self.model_name.lower()}_{self.field_name}_same_brand_fk"

    def deconstruct(self):
        return self.__class__.__qualname__, [], {"model_name": self.model_name, "field_name": self.field_name}
