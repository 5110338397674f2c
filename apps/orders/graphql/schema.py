"""Root query and mutation fields of the orders app, merged into clvsite.schema."""
