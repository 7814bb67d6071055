"""AG-UI (SPEC §18): what a `RunAgentInput` asks of a run (`input`), and a run's events as
the protocol's events (`events`), both with the `ag-ui-protocol` package's types."""
