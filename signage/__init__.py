"""The CMS server: staff UI, JSON API, player websocket, storage, jobs and push hub."""

__version__ = "0.1.0"
