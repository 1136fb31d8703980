"""bot4's Textual workstation: panes that render the engine's published snapshot, and keys that send commands."""
