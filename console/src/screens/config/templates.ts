// What a new component's YAML starts as, by type.

import type { ComponentType } from "../../api/components";

export const TEMPLATES: Record<ComponentType, string> = {
  agent: `type: agent
name: my_agent
description: ""
model: demo
tools: []
system_prompt: You are a helpful assistant.
config:
  max_steps: 10
`,
  model: `type: model
name: my_model
provider: openai
model: gpt-4o-mini
base_url: null
api_key: null
`,
  tool: `type: tool
name: my_tool
kind: builtin
builtin: calculator
`,
  memory: `type: memory
name: my_memory
strategy: buffer
max_messages: 20
`,
  knowledge: `type: knowledge
name: my_knowledge
description: ""
paths: []
chunk_size: 800
chunk_overlap: 100
top_k: 4
`,
  workflow: `type: workflow
name: my_workflow
description: ""
steps:
  - name: first
    kind: agent
    agent: assistant
`,
};

export const TYPE_TITLES: Record<ComponentType, string> = {
  agent: "Agents",
  model: "Models",
  tool: "Tools",
  memory: "Memory",
  knowledge: "Knowledge",
  workflow: "Workflows",
};
