"""The catalog of WB's seller API operations (placeholder until the loader lands)."""
