"""One module per `dpaudit` command; each is a thin wrapper over library code."""
