"""GraphQL types, queries and mutations of the streams app."""
