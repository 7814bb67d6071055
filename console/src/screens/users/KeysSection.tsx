// Every API key (metadata only), a new key whose plaintext is shown once with a copy
// button, and revoking a key (asked twice: Revoke, then Confirm).

import { useCallback, useEffect, useState } from "preact/hooks";
import { createKey, listKeys, revokeKey, type ApiKey, type ApiKeyCreated, type User } from "../../api/users";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";

const PAGE = 50;

export function KeysSection({ users }: { users: User[] }) {
  const [keys, setKeys] = useState<ApiKey[] | null>(null);
  const [total, setTotal] = useState(0);
  const [offset, setOffset] = useState(0);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<ApiKeyCreated | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const names = new Map(users.map((u) => [u.id, u.username]));

  const reload = useCallback(async (): Promise<void> => {
    try {
      const page = await listKeys({ offset, limit: PAGE });
      setKeys(page.items);
      setTotal(page.total);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [offset]);
  useEffect(() => void reload(), [reload]);

  const revoke = async (key: ApiKey): Promise<void> => {
    try {
      await revokeKey(key.id);
      setConfirming(null);
      await reload();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      {created ? <NewKeyShown created={created} onDone={() => setCreated(null)} /> : null}
      <ErrorNotice error={error} title="API keys" />
      {keys === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <div class="table-wrap">
          <table class="table keys-table">
            <caption class="visually-hidden">API keys</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Prefix</th>
                <th scope="col">User</th>
                <th scope="col">Created</th>
                <th scope="col">Last used</th>
                <th scope="col">Expires</th>
                <th scope="col">State</th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.id} data-key-id={k.id}>
                  <th scope="row">{k.name}</th>
                  <td class="mono">{k.prefix}…</td>
                  <td>{names.get(k.user_id) ?? <span class="mono small">{k.user_id}</span>}</td>
                  <td>{dateTime(k.created_at)}</td>
                  <td>{dateTime(k.last_used_at)}</td>
                  <td>{k.expires_at ? dateTime(k.expires_at) : "never"}</td>
                  <td>
                    {k.active ? (
                      confirming === k.id ? (
                        <span class="button-row">
                          <button type="button" class="button danger" onClick={() => void revoke(k)}>
                            Confirm revoking {k.name}
                          </button>
                          <button type="button" class="button ghost" onClick={() => setConfirming(null)}>
                            Keep it
                          </button>
                        </span>
                      ) : (
                        <button type="button" class="button" onClick={() => setConfirming(k.id)}>
                          Revoke {k.name}
                        </button>
                      )
                    ) : (
                      <span data-state="inactive">{k.revoked_at ? `revoked ${dateTime(k.revoked_at)}` : "expired"}</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {total > PAGE ? (
        <nav class="pager" aria-label="Key pages">
          <button type="button" class="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </button>
          <span class="muted">
            {offset + 1}–{offset + (keys?.length ?? 0)} of {total}
          </span>
          <button type="button" class="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
            Next
          </button>
        </nav>
      ) : null}
      <NewKey
        users={users}
        onCreated={(key) => {
          setCreated(key);
          void reload();
        }}
      />
    </section>
  );
}

function NewKey({ users, onCreated }: { users: User[]; onCreated: (key: ApiKeyCreated) => void }) {
  const [name, setName] = useState("");
  const [owner, setOwner] = useState("");
  const [days, setDays] = useState("");
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const key = await createKey({
        name,
        ...(owner ? { user_id: owner } : {}),
        ...(days ? { expires_in_days: Number(days) } : {}),
      });
      setError(null);
      setName("");
      onCreated(key);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" aria-labelledby="new-key-title" onSubmit={(e) => void submit(e)}>
      <h3 id="new-key-title">New API key</h3>
      <div class="field-row">
        <label class="field">
          <span>Key name</span>
          <input required maxLength={128} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>For user</span>
          <select value={owner} onChange={(e) => setOwner(e.currentTarget.value)}>
            <option value="">Myself</option>
            {users.map((u) => (
              <option key={u.id} value={u.id}>
                {u.username}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Expires in days (empty: never)</span>
          <input type="number" min={1} max={3650} value={days} onInput={(e) => setDays(e.currentTarget.value)} />
        </label>
      </div>
      <ErrorNotice error={error} title="The key could not be created" />
      <div class="button-row">
        <button type="submit" class="button primary">
          Create key
        </button>
      </div>
    </form>
  );
}

function NewKeyShown({ created, onDone }: { created: ApiKeyCreated; onDone: () => void }) {
  const [copied, setCopied] = useState("");
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied("Copied.");
    } catch {
      setCopied("The browser refused to copy: select the key and copy it by hand.");
    }
  };
  return (
    <div class="key-once" role="alert" aria-labelledby="key-once-title">
      <h3 id="key-once-title">New key {created.name}</h3>
      <p>
        <strong>Copy it now: it is shown this once.</strong> The server keeps only its hash; it cannot be shown again.
      </p>
      <p>
        <code class="mono" data-key="plaintext">
          {created.key}
        </code>
      </p>
      <div class="button-row">
        <button type="button" class="button" onClick={() => void copy()}>
          Copy key
        </button>
        <button type="button" class="button ghost" onClick={onDone}>
          I have stored it
        </button>
        {copied ? <span role="status">{copied}</span> : null}
      </div>
    </div>
  );
}
