"""GraphQL for API tokens: list, create and revoke (brand managers only)."""
