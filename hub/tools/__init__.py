"""Tools around the hub, not part of it: the demo seed, the warehouse simulator, rebuilds."""
