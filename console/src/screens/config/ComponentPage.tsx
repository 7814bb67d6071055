// One component (/config/:name): its form (agents and models), its YAML, and its history
// with a side-by-side diff of any two revisions and a rollback to an earlier one. The tab
// is in the URL (?tab=…).

import { useEffect, useState } from "preact/hooks";
import { useLocation, useRoute } from "preact-iso";
import { editableOf, getComponent, type AgentDetail, type ComponentDetail } from "../../api/components";
import { useAuth } from "../../auth";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { AgentForm } from "./AgentForm";
import { History } from "./History";
import { ModelForm } from "./ModelForm";
import { Tabs } from "./Tabs";
import { YamlPanel } from "./YamlPanel";
import { toYaml } from "./yamlLines";
import "./config.css";

type Tab = "form" | "yaml" | "history";

export default function ComponentPage() {
  const { params } = useRoute();
  const { query, route } = useLocation();
  const { principal } = useAuth();
  const name = params["name"] ?? "";
  const [detail, setDetail] = useState<ComponentDetail | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [version, setVersion] = useState(0);
  const [saved, setSaved] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    getComponent(name, controller.signal).then((d) => {
      setDetail(d);
      setError(null);
    }, setError);
    return () => controller.abort();
  }, [name, version]);

  if (!detail) {
    return (
      <section class="screen">
        <h1>{name}</h1>
        {error ? <ErrorNotice error={error} title="The component could not be read" /> : <p class="muted">Loading…</p>}
      </section>
    );
  }
  const hasForm = detail.type === "agent" || detail.type === "model";
  const canWrite = principal.permissions.includes(detail.type === "agent" ? "write:agent" : "write:config");
  const requested = query["tab"] as Tab | undefined;
  const tab: Tab = requested === "history" || requested === "yaml" ? requested : hasForm && canWrite ? "form" : "yaml";
  const tabs: [Tab, string][] = [
    ...(hasForm && canWrite ? ([["form", "Form"]] as [Tab, string][]) : []),
    ["yaml", "YAML"],
    ["history", "History"],
  ];
  const onSaved = (_: string, revision: number | null): void => {
    setSaved(`Saved: revision ${revision ?? "?"}.`);
    setVersion((v) => v + 1);
  };
  const editable = editableOf(detail);
  return (
    <section class="screen component-page" aria-labelledby="component-title" data-component={detail.name}>
      <p class="crumbs">
        <a href={`/config?type=${detail.type}`}>Agents and components</a> / <span class="mono">{detail.name}</span>
      </p>
      <header class="run-header">
        <h1 id="component-title">
          <span class="muted">{detail.type}</span> <span class="mono">{detail.name}</span>
        </h1>
        <span class="badge" data-revision={detail.revision}>
          revision {detail.revision}
        </span>
      </header>
      <p class="muted small">
        {detail.source === "api" ? "Made through the API" : `From ${detail.source.replace(/^file:/, "")}`} · changed{" "}
        {dateTime(detail.updated_at)}
        {detail.type === "agent" ? (
          <>
            {" "}
            · <a href={`/chat?agent=${encodeURIComponent(detail.name)}`}>Chat with it</a> ·{" "}
            <a href={`/runs?agent_id=${encodeURIComponent(detail.name)}`}>Its runs</a>
          </>
        ) : null}
      </p>
      {saved ? (
        <p class="notice notice-done" role="status">
          {saved}
        </p>
      ) : null}
      <Tabs
        label="Views"
        current={tab}
        items={tabs.map(([id, title]) => ({ id, title, href: `/config/${encodeURIComponent(detail.name)}?tab=${id}` }))}
        onPick={(href) => {
          setSaved(null);
          route(href, true);
        }}
      />
      <div class="panel">
        {tab === "form" && detail.type === "agent" ? (
          <AgentForm
            key={detail.revision}
            agent={editable as unknown as AgentDetail}
            onSaved={(agent) => onSaved(agent.name, agent.revision)}
          />
        ) : null}
        {tab === "form" && detail.type === "model" ? <ModelForm key={detail.revision} model={editable} onSaved={onSaved} /> : null}
        {tab === "yaml" && canWrite ? <YamlPanel key={detail.revision} initial={toYaml(editable)} name={detail.name} onSaved={onSaved} /> : null}
        {tab === "yaml" && !canWrite ? <pre class="json">{toYaml(editable)}</pre> : null}
        {tab === "history" ? (
          <History
            name={detail.name}
            version={version}
            canRollBack={principal.permissions.includes("write:config")}
            onRolledBack={(result) => {
              setSaved(`Rolled back to revision ${result.rolled_back_from}: now revision ${result.revision}.`);
              setVersion((v) => v + 1);
            }}
          />
        ) : null}
      </div>
    </section>
  );
}
