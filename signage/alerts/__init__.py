"""Emergency alerts: storage, rules of raising and clearing, delivery to screens."""
