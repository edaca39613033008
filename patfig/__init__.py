"""patfig's composition root: the one place that wires settings → models → store → tools → agent → ui."""
