"""vigil.runtime: see DESIGN.md. Filled in by later issues."""
