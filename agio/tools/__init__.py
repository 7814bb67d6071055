"""Tools agents can call: the `Tool` protocol, built-in tools, python and http tools."""
