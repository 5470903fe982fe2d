"""The course's interactive figures: the shared engine and one module per widget."""
