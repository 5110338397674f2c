"""Root query and mutation fields of the analytics app, merged into clvsite.schema."""
