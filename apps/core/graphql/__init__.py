"""GraphQL building blocks shared by the apps: request user access and brand scoping."""
