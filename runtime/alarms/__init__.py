"""The alarm manager (IEC 60601-1-8 semantics) and the values it exchanges."""
