"""Emergency alerts: the pure part (model, templates, feed parsing), no storage."""
