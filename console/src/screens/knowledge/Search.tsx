// Search a knowledge base (POST …/search): the best passages first, with their document,
// position and score, the query's words marked.

import { useState } from "preact/hooks";
import { searchKnowledge, type SearchResponse } from "../../api/knowledge";
import { ErrorNotice } from "../../components/ErrorNotice";

/** `text` in pieces, the words of `query` (3 letters or more) marked. */
export function marked(text: string, query: string) {
  const words = [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]{3,}/gu) ?? [])];
  if (!words.length) return text;
  const escaped = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
  const parts = text.split(new RegExp(`(${escaped.join("|")})`, "giu"));
  return parts.map((part, i) => (i % 2 === 1 ? <mark key={i}>{part}</mark> : part));
}

export function Search({ name }: { name: string }) {
  const [query, setQuery] = useState("");
  const [topK, setTopK] = useState("");
  const [answer, setAnswer] = useState<SearchResponse | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const k = Number(topK);
      setAnswer(await searchKnowledge(name, query.trim(), topK && !Number.isNaN(k) ? k : undefined));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="panel" aria-labelledby="kb-search">
      <h2 id="kb-search">Search</h2>
      <form class="filters" role="search" aria-label={`Search ${name}`} onSubmit={submit}>
        <label class="field inline grow">
          <span>Query</span>
          <input type="search" name="query" value={query} required maxLength={2000} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        <label class="field inline">
          <span>Passages</span>
          <input name="top_k" inputMode="numeric" size={3} value={topK} placeholder="default" onInput={(e) => setTopK(e.currentTarget.value)} />
        </label>
        <button type="submit" class="button primary" disabled={busy || !query.trim()}>
          Search
        </button>
      </form>
      <ErrorNotice error={error} title="The search failed" />
      {answer ? (
        answer.results.length ? (
          <ol class="plain search-results" aria-label="Results">
            {answer.results.map((hit) => (
              <li key={`${hit.document_id}-${hit.ordinal}`} class="search-hit" data-document={hit.document}>
                <p class="hit-meta">
                  <strong class="mono">{hit.document}</strong>
                  <span class="muted small">
                    {" "}
                    · passage {hit.ordinal + 1} · score {hit.score.toFixed(3)}
                  </span>
                </p>
                <p class="hit-text">{marked(hit.content, answer.query)}</p>
              </li>
            ))}
          </ol>
        ) : (
          <p class="muted">Nothing in {name} matches “{answer.query}”.</p>
        )
      ) : null}
    </section>
  );
}
