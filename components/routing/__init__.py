"""Routing: the Gateway in front of the pools, and the pools with their endpoint pickers. Provider-neutral components
(gateway.py, pool.py, body_routing.py) and their variants: gateway providers and pool chart lines."""
