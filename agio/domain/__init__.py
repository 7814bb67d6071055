"""Domain vocabulary shared by every layer: ids, errors, time."""
