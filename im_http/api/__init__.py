"""The HTTP API v1: the Falcon app, its resources, error mapping and OpenAPI document."""
