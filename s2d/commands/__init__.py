"""One module per subcommand. Each exposes ``register(subparsers)``, which adds
its parser and sets ``func``; heavy imports (torch, trl, textual) happen inside
the function that runs the command, never at module import."""
