"""The composition root: the command line, the embedded stack and its processes. It builds the services and
the gateway from Settings and wires them together; nothing below it imports it."""
