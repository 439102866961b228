"""What runs the tick: its job, the five-minute schedule, the first-tick sensor."""
