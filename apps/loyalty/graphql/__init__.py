"""GraphQL types, queries and mutations of the loyalty app."""
