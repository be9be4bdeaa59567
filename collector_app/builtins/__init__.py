"""Built-in components, registered through the package's own entry points."""
