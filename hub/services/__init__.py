"""Application services: a command in, aggregate calls, one save, plain data out."""
