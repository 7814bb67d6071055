// Add a document to a knowledge base: its name, kind and text (a document of the same
// name is replaced); it is searchable as soon as the server answers.

import { useState } from "preact/hooks";
import { addDocument, CONTENT_TYPES, type ContentType, type KnowledgeDocument } from "../../api/knowledge";
import { ErrorNotice } from "../../components/ErrorNotice";

export function AddDocument({ name, onAdded }: { name: string; onAdded: (doc: KnowledgeDocument) => void }) {
  const [docName, setDocName] = useState("");
  const [contentType, setContentType] = useState<ContentType>("markdown");
  const [content, setContent] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [added, setAdded] = useState<KnowledgeDocument | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setAdded(null);
    try {
      const doc = await addDocument(name, { name: docName.trim(), content, content_type: contentType });
      setAdded(doc);
      setDocName("");
      setContent("");
      onAdded(doc);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="panel add-document" aria-labelledby="kb-add" onSubmit={submit}>
      <h2 id="kb-add">Add a document</h2>
      <ErrorNotice error={error} title="Not added" />
      {added ? (
        <p class="notice kb-added" role="status">
          Added <strong>{added.name}</strong>: {added.chunk_count} {added.chunk_count === 1 ? "chunk" : "chunks"}, searchable now.
        </p>
      ) : null}
      <div class="field-row">
        <label class="field">
          <span>Name</span>
          <input name="name" value={docName} required maxLength={512} onInput={(e) => setDocName(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Kind</span>
          <select name="content_type" value={contentType} onChange={(e) => setContentType(e.currentTarget.value as ContentType)}>
            {CONTENT_TYPES.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
      </div>
      <label class="field">
        <span>Text</span>
        <textarea name="content" rows={8} value={content} required onInput={(e) => setContent(e.currentTarget.value)} />
      </label>
      <div class="button-row">
        <button type="submit" class="button primary" disabled={busy || !docName.trim() || !content}>
          Add document
        </button>
      </div>
    </form>
  );
}
