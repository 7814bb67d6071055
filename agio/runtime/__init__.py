"""Running agents: snapshots, the agent loop and the RunManager."""
