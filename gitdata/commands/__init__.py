"""One module per `git data` command: `def <name>(...) -> int`. Commands never import each other."""
