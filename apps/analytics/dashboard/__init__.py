"""The brand dashboard of the admin: `views` (pages and scoping) and `sections` (what each part shows)."""
