// One knowledge base (/knowledge/:name): search it, list its documents (paged), add a
// document (POST …/documents with its text), remove one added through the API.

import { useEffect, useState } from "preact/hooks";
import { useRoute } from "preact-iso";
import { deleteDocument, listDocuments, listKnowledge, type KnowledgeBase, type KnowledgeDocument } from "../../api/knowledge";
import type { Page } from "../../api/types";
import { useAuth } from "../../auth";
import { ErrorNotice } from "../../components/ErrorNotice";
import { count, dateTime } from "../../format";
import { AddDocument } from "./AddDocument";
import { Search } from "./Search";
import "./knowledge.css";

const PAGE = 20;

const plural = (n: number, word: string): string => `${count(n)} ${word}${n === 1 ? "" : "s"}`;

export default function KnowledgeBasePage() {
  const { params } = useRoute();
  const { principal } = useAuth();
  const name = params["name"] ?? "";
  const [base, setBase] = useState<KnowledgeBase | null>(null);
  const [page, setPage] = useState<Page<KnowledgeDocument> | null>(null);
  const [offset, setOffset] = useState(0);
  const [version, setVersion] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const canWrite = principal.permissions.includes("write:knowledge");
  useEffect(() => {
    const controller = new AbortController();
    listKnowledge(controller.signal).then((l) => setBase(l.items.find((b) => b.name === name) ?? null), setError);
    listDocuments(name, offset, PAGE, controller.signal).then((p) => {
      setPage(p);
      setError(null);
    }, setError);
    return () => controller.abort();
  }, [name, offset, version]);
  const remove = (doc: KnowledgeDocument): void => {
    deleteDocument(name, doc.id).then(() => setVersion((v) => v + 1), setError);
  };
  return (
    <section class="screen knowledge-page" aria-labelledby="kb-title" data-knowledge={name}>
      <p class="crumbs">
        <a href="/knowledge">Knowledge</a> / <span class="mono">{name}</span>
      </p>
      <h1 id="kb-title">
        <span class="mono">{name}</span>
      </h1>
      {base ? (
        <p class="muted">
          {base.description ? `${base.description} · ` : ""}
          {plural(base.documents, "document")}, {plural(base.chunks, "chunk")} · chunks of {base.chunk_size} characters, {base.top_k} passages per search ·{" "}
          <a href={`/config/${encodeURIComponent(name)}`}>its component</a>
        </p>
      ) : null}
      <ErrorNotice error={error} />
      <Search name={name} />
      <section class="panel" aria-labelledby="kb-documents">
        <h2 id="kb-documents">Documents{page ? ` (${page.total})` : ""}</h2>
        {page === null ? <p class="muted">Loading…</p> : null}
        {page?.items.length === 0 ? <p class="muted">No documents yet.</p> : null}
        {page?.items.length ? (
          <div class="table-wrap">
            <table class="table compact">
              <caption class="visually-hidden">Documents</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Source</th>
                  <th scope="col">Type</th>
                  <th scope="col" class="num">
                    Bytes
                  </th>
                  <th scope="col" class="num">
                    Chunks
                  </th>
                  <th scope="col">Changed</th>
                  {canWrite ? <th scope="col">Remove</th> : null}
                </tr>
              </thead>
              <tbody>
                {page.items.map((d) => (
                  <tr key={d.id} data-document={d.name}>
                    <td class="mono">{d.name}</td>
                    <td>{d.source}</td>
                    <td>{d.content_type}</td>
                    <td class="num">{count(d.size)}</td>
                    <td class="num">{count(d.chunk_count)}</td>
                    <td>{dateTime(d.updated_at)}</td>
                    {canWrite ? (
                      <td>
                        {d.source === "api" ? (
                          <button type="button" class="button ghost small danger" onClick={() => remove(d)} aria-label={`Remove ${d.name}`}>
                            Remove
                          </button>
                        ) : (
                          <span class="muted small">a file</span>
                        )}
                      </td>
                    ) : null}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        {page && (page.offset > 0 || page.has_more) ? (
          <nav class="pager" aria-label="Pages">
            <button type="button" class="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              Previous
            </button>
            <span class="muted">
              {offset + 1}–{offset + page.items.length} of {page.total}
            </span>
            <button type="button" class="button" disabled={!page.has_more} onClick={() => setOffset(offset + PAGE)}>
              Next
            </button>
          </nav>
        ) : null}
      </section>
      {canWrite ? <AddDocument name={name} onAdded={() => setVersion((v) => v + 1)} /> : null}
    </section>
  );
}
