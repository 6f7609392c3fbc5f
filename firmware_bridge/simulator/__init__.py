"""A simulated bedside monitor that speaks the wire protocol over a pseudo-terminal or a
real serial port, from the shared synthesizer or from recorded files."""
