"""Settings, component schemas and the YAML loader."""
