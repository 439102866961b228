"""Jobs an operator launches by hand: the lab import and the search rebuild."""
