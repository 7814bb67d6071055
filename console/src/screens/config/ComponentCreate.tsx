// A new component (/config/new/:type): a form for agents and models, YAML for any type.

import { useLocation, useRoute } from "preact-iso";
import { COMPONENT_TYPES, type ComponentType } from "../../api/components";
import { AgentForm } from "./AgentForm";
import { ModelForm } from "./ModelForm";
import { Tabs } from "./Tabs";
import { TEMPLATES } from "./templates";
import { YamlPanel } from "./YamlPanel";
import "./config.css";

export default function ComponentCreate() {
  const { params } = useRoute();
  const { query, route } = useLocation();
  const type = (COMPONENT_TYPES as readonly string[]).includes(params["type"] ?? "")
    ? (params["type"] as ComponentType)
    : "agent";
  const hasForm = type === "agent" || type === "model";
  const tab = hasForm && query["tab"] !== "yaml" ? "form" : "yaml";
  const base = `/config/new/${type}`;
  const done = (name: string): void => route(`/config/${encodeURIComponent(name)}`);
  return (
    <section class="screen component-page" aria-labelledby="create-title">
      <p class="crumbs">
        <a href={`/config?type=${type}`}>Agents and components</a> / new {type}
      </p>
      <h1 id="create-title">New {type}</h1>
      {hasForm ? (
        <Tabs
          label="Views"
          current={tab}
          items={[
            { id: "form", title: "Form", href: base },
            { id: "yaml", title: "YAML", href: `${base}?tab=yaml` },
          ]}
          onPick={(href) => route(href, true)}
        />
      ) : null}
      <div class="panel">
        {tab === "form" && type === "agent" ? <AgentForm agent={null} onSaved={(agent) => done(agent.name)} /> : null}
        {tab === "form" && type === "model" ? <ModelForm model={null} onSaved={done} /> : null}
        {tab === "yaml" ? <YamlPanel key={type} initial={TEMPLATES[type]} name={null} onSaved={done} /> : null}
      </div>
    </section>
  );
}
