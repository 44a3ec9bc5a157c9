"""Read models: handlers from events to rows, each with its tracked position."""
