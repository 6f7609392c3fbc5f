"""vigil.export: see DESIGN.md. Filled in by later issues."""
