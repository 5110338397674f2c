"""Root query and mutation fields of the customers app, merged into clvsite.schema."""
