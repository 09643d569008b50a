"""Qt widgets of SpA2V Studio. They show state and report user intent; they hold no engine logic."""
