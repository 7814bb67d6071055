"""Language models: the `Model` protocol and its providers (openai, demo, scripted, function)."""
