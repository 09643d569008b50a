"""SpA2V Studio application layer: CLI commands, background workers, the studio window's logic."""
