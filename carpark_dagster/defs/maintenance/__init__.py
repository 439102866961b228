"""Jobs an operator launches by hand (the lab import, the search rebuild) and the daily
retention job with its schedule."""
