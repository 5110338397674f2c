"""Root query and mutation fields of the communities app, merged into clvsite.schema."""
