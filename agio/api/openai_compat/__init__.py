"""The OpenAI-compatible API (`/v1`, SPEC §17): its wire shapes and how Agio's runs and
their event logs map onto them. The routes are `agio.api.routers.openai_v1` and
`agio.api.routers.openai_responses`."""
