// Knowledge bases (/knowledge): each knowledge component with its documents and chunks.

import { useEffect, useState } from "preact/hooks";
import { listKnowledge, type KnowledgeBase } from "../../api/knowledge";
import { ErrorNotice } from "../../components/ErrorNotice";
import { count } from "../../format";
import "./knowledge.css";

export default function KnowledgeList() {
  const [bases, setBases] = useState<KnowledgeBase[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const controller = new AbortController();
    listKnowledge(controller.signal).then((l) => setBases(l.items), setError);
    return () => controller.abort();
  }, []);
  return (
    <section class="screen" aria-labelledby="knowledge-title">
      <h1 id="knowledge-title">Knowledge</h1>
      <ErrorNotice error={error} title="The knowledge bases could not be read" />
      {bases === null && !error ? <p class="muted">Loading…</p> : null}
      {bases?.length === 0 ? (
        <p class="muted empty">
          No knowledge bases: a <a href="/config?type=knowledge">knowledge component</a> makes one.
        </p>
      ) : null}
      {bases?.length ? (
        <div class="table-wrap">
          <table class="table">
            <caption class="visually-hidden">Knowledge bases</caption>
            <thead>
              <tr>
                <th scope="col">Base</th>
                <th scope="col">Description</th>
                <th scope="col" class="num">
                  Documents
                </th>
                <th scope="col" class="num">
                  Chunks
                </th>
                <th scope="col">Files from</th>
              </tr>
            </thead>
            <tbody>
              {bases.map((b) => (
                <tr key={b.name} data-knowledge={b.name}>
                  <td>
                    <a href={`/knowledge/${encodeURIComponent(b.name)}`} class="mono">
                      {b.name}
                    </a>
                  </td>
                  <td>{b.description}</td>
                  <td class="num">{count(b.documents)}</td>
                  <td class="num">{count(b.chunks)}</td>
                  <td class="mono small">{b.paths.join(", ") || "–"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
