"""cosell-webhook: a run-finished notification, as a cosell plugin."""
