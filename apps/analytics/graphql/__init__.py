"""GraphQL types, queries and mutations of the analytics app."""
