"""Root query and mutation fields of the loyalty app, merged into clvsite.schema."""
