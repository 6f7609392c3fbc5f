"""The live runtime: serial links -> analysis -> alarm manager -> journal -> sinks, wired in
one place (`runtime.VigilRuntime`)."""
