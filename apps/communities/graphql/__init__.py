"""GraphQL types, queries and mutations of the communities app."""
