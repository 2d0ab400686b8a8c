"""cosell-nps: a net promoter score metric and an NPS bonus, as a cosell plugin."""
