"""The schema engine for the WB documents' operations: convert OpenAPI 3.0 schemas to JSON Schema 2020-12
(`convert`), validate requests and responses against them (`validate`), generate plausible instances
(`generate`)."""
