"""GraphQL types, queries and mutations of the customers app."""
