"""The gateway: WebSocket ``invoke``/``emit`` for frontends (server.py), supervised by a service (service.py)."""
