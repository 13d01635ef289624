"""``edgecls serve``: a web page and a JSON API that classify uploaded photos with a .tflite model.

Standard library only (``http.server.ThreadingHTTPServer``), so the ``[serve]`` extra installs nothing and the server
runs wherever the runtime does, a Raspberry Pi included. Why this and not a framework, and why a pool of
interpreters: docs/serve.md.
"""

from edgecls.serve.app import App, ClassifierPool, ServeOptions, Server, make_server, parse_size

__all__ = ["App", "ClassifierPool", "ServeOptions", "Server", "make_server", "parse_size"]
