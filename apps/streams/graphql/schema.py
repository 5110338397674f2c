"""Root query and mutation fields of the streams app, merged into clvsite.schema."""
