"""Training code and the committed artifact of the sleep-advice model."""
