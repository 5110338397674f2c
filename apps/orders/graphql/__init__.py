"""GraphQL types, queries and mutations of the orders app."""
